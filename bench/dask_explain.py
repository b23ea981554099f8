"""NEON explain through Dask (neon_ext.dask) against one in-process call.

N x D float32 rows (default 1e7 x 32), K = 16 centroids, a fixed beta (as a
fitted model's beta_). The data are generated on the workers and persisted
there first (untimed), as data that live on a cluster would be; the
in-process baseline explains the same rows (gathered once) with
``NeuralizedKMeans.explain`` on as many threads as there are worker
processes. Timed, after one warm-up each, ``--repeats`` times (median):

- ``in-process``: ``m.explain(X, beta=b, n_threads=T)``;
- ``dask persist``: ``nxd.explain(m, X, beta=b).persist()`` and wait: the
  relevance, logit, target and assigned of every block computed and kept on
  the workers (what writing them to storage or summarizing them starts from);
- ``dask summary``: ``nxd.explain(...).mean_relevance(by="target")``: explain
  and reduce to K x D numbers, nothing but the summary leaves the workers;
- ``dask beta``: ``nxd.beta_heuristic(m, X)``: one distributed reduction;
- ``gather``: ``client.gather`` of the persisted relevance (N x D float32 over
  loopback TCP): the cost of moving results to one process, and a bandwidth.

CPU time is reported next to wall time: for Dask the sum over the worker
processes, the scheduler and this client process (``getrusage``), so that a
busy machine shows up as wall >> CPU. Results are checked against the
in-process explanation (bitwise: same beta, same kernels).

    python bench/dask_explain.py                         # 1e7 x 32, 1 and 2 workers
    python bench/dask_explain.py --n 2e6 --repeats 3 --workers 1,2
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time

import numpy as np


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cluster_cpu(client) -> float:
    """CPU seconds used so far by the workers, the scheduler and this process
    (a LocalCluster's scheduler and nannies run in this process: counted once)."""
    workers = client.run(cpu_seconds)
    scheduler = 0.0 if client.run_on_scheduler(os.getpid) == os.getpid() else client.run_on_scheduler(cpu_seconds)
    return sum(workers.values()) + scheduler + cpu_seconds()


def timed(fn, repeats: int, cpu):
    """Median wall and CPU seconds of fn() over `repeats` runs after one warm-up."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = cpu(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu() - c0)
    return statistics.median(walls), statistics.median(cpus), min(walls), max(walls)


def run_cluster(n_workers: int, m, beta: float, args) -> None:
    """All measurements on one LocalCluster of `n_workers` single-threaded worker processes."""
    import dask.array as da
    import distributed
    import neon_ext.dask as nxd

    n, d, chunk = int(args.n), args.d, int(args.chunk)
    with (
        distributed.LocalCluster(
            n_workers=n_workers, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        X = da.random.default_rng(1).standard_normal((n, d), chunks=(chunk, d), dtype=np.float32)
        X = X.persist()
        distributed.wait(X)
        X_local = X.compute()  # the same rows, in this process, for the baseline

        def run_local():
            return m.explain(X_local, beta=beta, n_threads=n_workers)

        base = timed(run_local, args.repeats, cpu_seconds)
        print(
            f"{f'in-process, {n_workers} thread(s)':<28} {base[0]:>8.3f} {base[1]:>8.3f} "
            f"{base[2]:>7.3f}-{base[3]:<7.3f} {1.0:>6.2f} {1e9 * base[1] / n:>10.1f}"
        )

        def cpu():
            return cluster_cpu(client)

        c0 = cpu()
        time.sleep(2.0)
        idle = (cpu() - c0) / 2.0
        print(f"# idle cluster (workers, scheduler, nannies, client): {idle:.3f} CPU s per wall s")

        held = {}
        runs = iter(range(1, 1 << 30))

        def fresh_beta():
            # Graph keys hash their inputs: a new beta each run makes new
            # keys, so no run finds the previous run's blocks in memory.
            return beta * (1.0 + 1e-12 * next(runs))

        def run_persist():
            held.clear()
            held["e"] = nxd.explain(m, X, beta=fresh_beta()).persist()
            distributed.wait(held["e"]._blocks)

        def run_summary():
            return nxd.explain(m, X, beta=fresh_beta()).mean_relevance(by="target")

        def run_beta():
            return nxd.beta_heuristic(m, X)  # computed, not persisted: nothing is reused

        rows = [("dask persist", run_persist), ("dask summary", run_summary), ("dask beta", run_beta)]
        for name, fn in rows:
            t = timed(fn, args.repeats, cpu)
            print(
                f"{f'{name}, {n_workers} worker(s)':<28} {t[0]:>8.3f} {t[1]:>8.3f} "
                f"{t[2]:>7.3f}-{t[3]:<7.3f} {t[0] / base[0]:>6.2f} {1e9 * t[1] / n:>10.1f}"
            )

        relevance = held["e"].relevance
        t0 = time.perf_counter()
        R = relevance.compute()  # N x D float32 through the client
        gather = time.perf_counter() - t0
        print(
            f"{f'gather relevance, {n_workers}':<28} {gather:>8.3f} {'':>8} {'':>15} "
            f"{gather / base[0]:>6.2f} {'':>10}  ({R.nbytes / gather / 1e6:.0f} MB/s)"
        )
        ref = m.explain(X_local, beta=held["e"].beta, n_threads=n_workers)
        assert np.array_equal(R, ref.relevance), "dask and in-process relevance differ"
        np.testing.assert_allclose(
            held["e"].mean_relevance(by="target"), ref.mean_relevance(by="target"), rtol=1e-9, atol=1e-9
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=float, default=1e7)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--chunk", type=float, default=5e5, help="rows per dask block")
    ap.add_argument("--workers", default="1,2", help="worker-process counts to run")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import neon_ext as nx

    n, d, k, chunk = int(args.n), args.d, args.k, int(args.chunk)
    rng = np.random.default_rng(0)
    m = nx.NeuralizedKMeans(rng.uniform(-3, 3, size=(k, d)))
    beta = 0.05
    print(
        f"# {platform.processor() or platform.machine()}, python {platform.python_version()}, "
        f"numpy {np.__version__}, kernels {nx.build_info().get('kernel_isa', '?')}"
    )
    print(f"# N={n:.3g} D={d} K={k} float32, {chunk:.3g} rows per block, beta={beta}, median of {args.repeats}")
    print(f"{'what':<28} {'wall s':>8} {'cpu s':>8} {'min-max wall':>15} {'ratio':>6} {'ns/row cpu':>10}")

    for n_workers in [int(w) for w in args.workers.split(",")]:
        run_cluster(n_workers, m, beta, args)
    print("# checks passed: relevance identical to the in-process call")


if __name__ == "__main__":
    main()
