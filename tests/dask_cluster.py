"""The distributed cluster the neon_ext.dask tests run on: 2 worker processes,
1 thread each, on the loopback interface. A test module makes it its
module-scoped fixture (one cluster per module: starting processes takes
seconds) with ``yield from local_cluster_client()``."""

from __future__ import annotations

import pytest

distributed = pytest.importorskip("distributed", reason="neon_ext.dask needs the 'dask' extra (dask, distributed)")


def local_cluster_client():
    # dashboard_address=":0": even without a dashboard the scheduler serves HTTP
    # (metrics), on port 8787 unless told otherwise; another cluster on this
    # machine may hold that port (then a warning and a leaked socket).
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c
