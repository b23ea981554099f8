"""NEON on Dask: explain, score and fit data that lives on a cluster.

Optional extra ``dask`` (``pip install "neon-ext[dask]"``); ``import neon_ext``
does not import this module or dask.

>>> import neon_ext.dask as nxd                      # doctest: +SKIP
>>> e = nxd.explain(model, X)                         # X: dask Array / DataFrame; lazy
>>> e.relevance.to_zarr("relevance.zarr")             # doctest: +SKIP
>>> e.mean_relevance(by="target")                     # a dask reduction -> numpy
>>> km = nxd.KMeans(n_clusters=8).fit(X)             # Lloyd iterations on the workers

Every block is handled by a pure task that calls the model's public,
compiled methods on numpy data; the model is one key of the task graph
(fetched once per worker), not a copy inside every task. See docs/dask.md.
"""

from __future__ import annotations

try:
    import dask
    import dask.array
    import dask.dataframe  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without dask
    raise ImportError(
        "neon_ext.dask needs dask with arrays and DataFrames: pip install 'neon-ext[dask]' "
        f"(or 'dask[array,dataframe,distributed]'); import failed with: {exc}"
    ) from exc

from ._explain import beta_heuristic, explain, logits, predict
from ._explanation import DaskExplanation
from .kmeans import KMeans

__all__ = ["DaskExplanation", "KMeans", "beta_heuristic", "explain", "logits", "predict"]
