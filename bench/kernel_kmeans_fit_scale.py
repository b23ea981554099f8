"""KernelKMeans.fit at scale with max_samples, and what the subsample costs.

Part 1 (speed): float32 Gaussian blobs, N x D (default 1,000,000 x 64),
K = 8; KernelKMeans(max_samples=..., max_support_per_cluster=...) fitted
once; prints wall and CPU seconds and the split into the fit on the
subsample and the labelling of every row (the compiled predict).

Part 2 (quality, `--compare-n`): at a size where fitting on every row is
feasible, the same data fitted on all rows and on `max_samples` rows with
the same gamma; prints the share of rows whose labels agree (after the best
renaming of clusters), the adjusted Rand index, and the kernel k-means
objective of both partitions: the mean over all rows of the soft-min
distance to their own cluster, with every row as a member (lower is
better), and its ratio (subsample / all rows).

    python bench/kernel_kmeans_fit_scale.py                         # both parts
    python bench/kernel_kmeans_fit_scale.py --n 200000 --compare-n 0
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import time

import numpy as np

from kmeans_fit_vs_sklearn import blobs as base_blobs  # this directory is on sys.path when run as a script


def blobs(n, d, k, spread, seed=0):
    """Gaussian blobs (centres uniform in [-spread, spread]^d, unit noise), float32."""
    return base_blobs(n, d, k, seed=seed, spread=spread)


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def agreement(a, b, k):
    """Share of rows with equal labels after the best renaming of b's clusters."""
    table = np.zeros((k, k), dtype=np.int64)
    np.add.at(table, (a, b), 1)
    if k <= 8:
        return max(sum(table[perm[j], j] for j in range(k)) for perm in itertools.permutations(range(k))) / len(a)
    return table.max(0).sum() / len(a)  # an upper bound for large k


def objective(nx, X, labels, gamma, threads):
    """Mean soft-min distance of every row to its own cluster (all rows members)."""
    model = nx.NeuralizedKernelKMeans(X.astype(np.float64), labels, gamma)
    S = model.soft_min_distances(X, n_threads=threads)
    return float(np.mean(S[np.arange(len(X)), labels], dtype=np.float64))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--clusters", type=int, default=8)
    p.add_argument("--spread", type=float, default=1.0, help="centres uniform in [-spread, spread]^D")
    p.add_argument("--max-samples", type=int, default=10_000)
    p.add_argument("--max-support", type=int, default=125, help="max_support_per_cluster")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compare-n", type=int, default=12_000, help="size of the quality comparison (0: skip)")
    args = p.parse_args(argv)

    import neon_ext as nx
    from sklearn.metrics import adjusted_rand_score

    info = nx.build_info()
    print(f"neon_ext {info['version']} ({info['compiler']}, kernels {info['kernel_families']}), threads={args.threads}")
    k = args.clusters
    if args.n:
        X = blobs(args.n, args.features, k, args.spread)
        est = nx.KernelKMeans(
            k,
            max_samples=args.max_samples,
            max_support_per_cluster=args.max_support,
            random_state=0,
            n_threads=args.threads,
        )
        t, c = time.perf_counter(), cpu()
        est.fit(X)
        wall, cpu_s = time.perf_counter() - t, cpu() - c
        t, c = time.perf_counter(), cpu()
        again = est.predict(X)
        label_wall, label_cpu = time.perf_counter() - t, cpu() - c
        assert np.array_equal(np.delete(again, est.sample_indices_), np.delete(est.labels_, est.sample_indices_))
        print(
            f"fit N={args.n} D={args.features} K={k} max_samples={args.max_samples} "
            f"max_support_per_cluster={args.max_support}: {wall:.1f} s wall, {cpu_s:.1f} s CPU "
            f"(of which labelling all rows ~ {label_wall:.1f} s wall, {label_cpu:.1f} s CPU, "
            f"timed again as predict); sweeps {est.n_iter_}, fidelity {est.fidelity_:.4f}"
        )
        del X
    if args.compare_n:
        X = blobs(args.compare_n, args.features, k, args.spread, seed=1)
        gamma = nx.kernel_kmeans.median_heuristic_gamma(X, random_state=0)
        t = time.perf_counter()
        full = nx.KernelKMeans(k, gamma=gamma, random_state=0, n_threads=args.threads).fit(X)
        t_full = time.perf_counter() - t
        sub_n = max(k, args.compare_n // 4)
        t = time.perf_counter()
        sub = nx.KernelKMeans(k, gamma=gamma, max_samples=sub_n, random_state=0, n_threads=args.threads).fit(X)
        t_sub = time.perf_counter() - t
        o_full = objective(nx, X, full.labels_, gamma, args.threads)
        o_sub = objective(nx, X, sub.labels_, gamma, args.threads)
        print(
            f"quality at N={args.compare_n}: all rows {t_full:.1f} s, max_samples={sub_n} {t_sub:.1f} s; "
            f"labels agree {agreement(full.labels_, sub.labels_, k):.4f}, "
            f"ARI {adjusted_rand_score(full.labels_, sub.labels_):.4f}; objective all {o_full:.6g}, "
            f"subsample {o_sub:.6g} (ratio {o_sub / o_full:.5f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
