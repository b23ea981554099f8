"""Kernel k-means NEON explanation time against the plain distance product.

    python bench/kernel_kmeans_explain.py [--n 100000] [--support 2000] [--d 64] [--k 8]

Gaussian blobs, float32 input, support vectors labelled by blob, gamma by the
median heuristic, beta fixed from the heuristic on the first 5000 rows. Times
(best of --repeat, wall and CPU time) `X @ U.T` in float32 (numpy's BLAS: the
O(N M D) product any kernel method needs), NeuralizedKernelKMeans.predict and
.explain, prints the ratios and CPU time per row, and checks the explanation:
conservation on every row and agreement with a float64 run on a sample.
neon_ext is timed first, a second after the last BLAS call, and the product
last (spinning OpenBLAS workers would otherwise take the core of neon_ext's
second thread).

Without --threads every call uses all threads (OpenMP's and BLAS's defaults).
With --threads 1,2 each round calls predict and explain once per thread count
(n_threads=), alternating, and the product under threadpoolctl's limit of the
same count, so that thread scaling is measured in one process over the same
minutes: a virtual machine whose speed drifts by 20% between runs gives
ratios of separate runs that mean little. Scaling is printed both as the ratio
of the best times and as the median over rounds of each round's ratio (two
calls a few seconds apart).
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

import neon_ext as nx


def timed(fn):
    """(wall, CPU) seconds of one call."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def best(runs):
    """Best (wall, CPU) seconds of a list of timed() runs. On a shared
    machine the CPU time of a single-threaded run is the robust number."""
    return min(w for w, _ in runs), min(c for _, c in runs)


def blas_limit(n_threads):
    """A context limiting numpy's BLAS to n_threads (threadpoolctl), or none
    for the default."""
    if n_threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as exc:  # pragma: no cover - scikit-learn brings it
        raise SystemExit("--threads needs threadpoolctl (pip install threadpoolctl)") from exc
    return threadpool_limits(limits=n_threads, user_api="blas")


def report(label, t_gemm, t_pred, t_expl, n):
    for name, t in (("X @ U.T (float32 BLAS)", t_gemm), ("predict", t_pred), ("explain", t_expl)):
        print(
            f"{label}{name:24s} wall {t[0]:8.3f}s ({t[0] / t_gemm[0]:5.1f}x)   cpu {t[1]:8.3f}s ({t[1] / t_gemm[1]:5.1f}x)"
            f"   {1e6 * t[1] / n:7.1f} us cpu/row"
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--support", type=int, default=2000)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--explain-repeat", type=int, default=1)
    p.add_argument(
        "--threads",
        type=lambda v: [int(t) for t in v.split(",")],
        default=None,
        help="thread counts to alternate in one process, e.g. 1,2 (default: all threads, one count)",
    )
    a = p.parse_args()

    rng = np.random.default_rng(0)
    centers = 3.0 * rng.normal(size=(a.k, a.d))
    labels = rng.integers(a.k, size=a.n + a.support)
    labels[: a.k] = np.arange(a.k)
    data = (centers[labels] + rng.normal(size=(a.n + a.support, a.d))).astype(np.float32)
    U, L, X = data[: a.support].astype(np.float64), labels[: a.support], data[a.support :]
    gamma = nx.kernel_kmeans.median_heuristic_gamma(U)
    m = nx.NeuralizedKernelKMeans(U, L, gamma)
    beta = m.beta_heuristic(X[:5000])
    Uf = U.astype(np.float32)
    out = np.empty_like(X)

    print(f"N={a.n} M={a.support} D={a.d} K={a.k} float32, gamma={gamma:.4g}, beta={beta:.4g}, build={nx.build_info()}")
    counts = a.threads or [None]
    pred = {th: [] for th in counts}
    expl = {th: [] for th in counts}
    gemm = {th: [] for th in counts}
    # neon_ext first, after a pause: OpenBLAS worker threads spin for a while
    # after each BLAS call (the heuristics above use BLAS) and would take the
    # core of neon_ext's second thread.
    time.sleep(1.0)
    for r in range(max(a.repeat, a.explain_repeat)):
        for th in counts:
            if r < a.repeat:
                pred[th].append(timed(lambda: m.predict(X, n_threads=th)))
            if r < a.explain_repeat:
                expl[th].append(timed(lambda: m.explain(X, beta=beta, out=out, n_threads=th)))
    for _ in range(a.repeat):
        for th in counts:
            with blas_limit(th):
                gemm[th].append(timed(lambda: X @ Uf.T))

    for th in counts:
        report(
            "" if th is None else f"[{th} thread{'s' if th > 1 else ''}] ",
            best(gemm[th]),
            best(pred[th]),
            best(expl[th]),
            a.n,
        )
    if len(counts) > 1:
        lo, hi = min(counts), max(counts)
        for name, runs in (("X @ U.T", gemm), ("predict", pred), ("explain", expl)):
            paired = [w_lo / w_hi for (w_lo, _), (w_hi, _) in zip(runs[lo], runs[hi])]
            print(
                f"{lo} -> {hi} threads, {name:8s}: best times {best(runs[lo])[0] / best(runs[hi])[0]:.2f}x, "
                f"median of the rounds' ratios {float(np.median(paired)):.2f}x "
                f"(rounds: {', '.join(f'{v:.2f}' for v in paired)})"
            )

    e = m.explain(X[:2000].astype(np.float64), beta=beta)
    gap = np.abs(out[:2000].astype(np.float64) - e.relevance).max() / np.abs(e.relevance).max()
    cons = np.abs(out.sum(1, dtype=np.float64) - m.logits(X).max(1)).max()
    scale = np.abs(out).sum(1).max()
    print(f"float32 vs float64 relevance (2000 rows): {gap:.2e} relative; conservation {cons / scale:.2e}")
    assert gap < 1e-4 and cons / scale < 1e-4


if __name__ == "__main__":
    main()
