"""Kernel k-means NEON explanation time against the plain distance product.

    python bench/kernel_kmeans_explain.py [--n 100000] [--support 2000] [--d 64] [--k 8]

Gaussian blobs, float32 input, support vectors labelled by blob, gamma by the
median heuristic, beta fixed from the heuristic on the first 5000 rows. Times
(best of --repeat, wall and CPU time) `X @ U.T` in float32 (numpy's BLAS, all its threads: the
O(N M D) product any kernel method needs), NeuralizedKernelKMeans.predict and
.explain (all OpenMP threads), prints the ratios and CPU time per row, and checks the explanation:
conservation on every row and agreement with a float64 run on a sample. neon_ext
is timed first, a second after the last BLAS call, and the product last (spinning
OpenBLAS workers would otherwise take the core of neon_ext's second thread). For
thread scaling run it twice, with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 and without.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import neon_ext as nx


def best_time(fn, repeat):
    """Best (wall, CPU) seconds over `repeat` calls. On a shared machine the
    CPU time of a single-threaded run (OMP_NUM_THREADS=1
    OPENBLAS_NUM_THREADS=1) is the robust number."""
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--support", type=int, default=2000)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--explain-repeat", type=int, default=1)
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
    # neon_ext first, after a pause: OpenBLAS worker threads spin for a while
    # after each BLAS call (the heuristics above use BLAS) and would take the
    # core of neon_ext's second thread.
    time.sleep(1.0)
    t_pred = best_time(lambda: m.predict(X), a.repeat)
    t_expl = best_time(lambda: m.explain(X, beta=beta, out=out), a.explain_repeat)
    t_gemm = best_time(lambda: X @ Uf.T, a.repeat)
    e = m.explain(X[:2000].astype(np.float64), beta=beta)
    gap = np.abs(out[:2000].astype(np.float64) - e.relevance).max() / np.abs(e.relevance).max()
    cons = np.abs(out.sum(1, dtype=np.float64) - m.logits(X).max(1)).max()
    scale = np.abs(out).sum(1).max()
    for name, t in (("X @ U.T (float32 BLAS)", t_gemm), ("predict", t_pred), ("explain", t_expl)):
        print(
            f"{name:24s} wall {t[0]:8.3f}s ({t[0] / t_gemm[0]:5.1f}x)   cpu {t[1]:8.3f}s ({t[1] / t_gemm[1]:5.1f}x)"
            f"   {1e6 * t[1] / a.n:7.1f} us cpu/row"
        )
    print(f"float32 vs float64 relevance (2000 rows): {gap:.2e} relative; conservation {cons / scale:.2e}")
    assert gap < 1e-4 and cons / scale < 1e-4


if __name__ == "__main__":
    main()
