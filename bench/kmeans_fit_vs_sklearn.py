"""neon_ext.KMeans.fit against scikit-learn's KMeans(algorithm="lloyd").

Gaussian blobs, float32, D = 64, K = 16 by default, the same n_init and
tol for both; each fit is warmed up once, then timed `--repeats` times with
the same random_state (the two libraries' repeats interleaved, so that a busy
machine slows both alike), and the median is reported. Prints, per N, both
times, the time ratio (neon_ext / scikit-learn: < 1 means faster) and the
inertia ratio (neon_ext / scikit-learn: <= 1 means at least as good), and
fails if the inertia is more than 1% worse.

    python bench/kmeans_fit_vs_sklearn.py                  # N = 1e5 and 1e6
    python bench/kmeans_fit_vs_sklearn.py --sizes 100000 --repeats 3 --threads 2

The two libraries draw different seeds from the same random_state, so the
runs are compared over `--seeds` random states (inertia: their mean).
`--lloyd-iterations 20` adds rows where both start from the same centres
on uniform noise (which does not converge early) and run exactly that many
iterations: the speed of the iterations alone, at equal work.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np


def blobs(n, d, k, seed=0, spread=10.0):
    """Gaussian blobs in float32 (centres uniform in [-spread, spread]^d, unit
    noise) without building a float64 copy of the data."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-spread, spread, size=(k, d)).astype(np.float32)
    labels = rng.integers(0, k, size=n)
    X = np.empty((n, d), dtype=np.float32)
    step = 1 << 16
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        X[lo:hi] = centers[labels[lo:hi]] + rng.standard_normal((hi - lo, d), dtype=np.float32)
    return X


CLOCK = time.perf_counter


def timed_pair(fit_a, fit_b, repeats):
    """Median times of two fits, their repeats interleaved (a, b, a, b, ...)
    so that a busy machine slows both alike; one warm-up each first."""
    models = [fit_a(), fit_b()]  # warm-up: page in the data, start thread pools
    times = ([], [])
    for _ in range(repeats):
        for i, fit in enumerate((fit_a, fit_b)):
            t = CLOCK()
            models[i] = fit()
            times[i].append(CLOCK() - t)
    return statistics.median(times[0]), statistics.median(times[1]), models[0], models[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--clusters", type=int, default=16)
    p.add_argument("--n-init", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seeds", type=int, default=2, help="random states the inertia is averaged over")
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: all)")
    p.add_argument(
        "--lloyd-iterations",
        type=int,
        default=20,
        help="also time this many iterations from identical centres (0: skip)",
    )
    p.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: process CPU time (steadier on a shared machine; with --threads 1)",
    )
    p.add_argument("--skip-blobs", action="store_true", help="only the equal-work rows")
    args = p.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    import neon_ext as nx
    from sklearn import __version__ as sk_version
    from sklearn.cluster import KMeans as SKKMeans
    from threadpoolctl import threadpool_limits

    info = nx.build_info()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scikit-learn {sk_version}, "
        f"neon_ext {info['version']} ({info['compiler']}, Eigen SIMD {info['eigen_simd']}, "
        f"fit kernels {info.get('kernel_families', {}).get('kmeans_fit', 'n/a')}, "
        f"openmp {info['openmp']}), {os.cpu_count()} CPUs, "
        f"threads={args.threads or 'default'}, {args.clock} clock"
    )
    print(
        f"D={args.features} K={args.clusters} n_init={args.n_init} float32 blobs; "
        f"median of {args.repeats} after a warm-up"
    )
    print(
        f"{'N':>9} {'neon_ext s':>11} {'sklearn s':>10} {'time ratio':>10} {'inertia ratio':>13} "
        f"{'iters (ours/sk)':>15}"
    )
    worst = 0.0
    for n in args.sizes:
        if args.skip_blobs:
            X = None
        else:
            X = blobs(n, args.features, args.clusters)
        ours_t, sk_t, ours_inertia, sk_inertia, iters = [], [], [], [], []
        with threadpool_limits(limits=args.threads):
            for seed in range(0 if X is None else args.seeds):

                def ours(s=seed, X=X):
                    return nx.KMeans(args.clusters, n_init=args.n_init, random_state=s, n_threads=args.threads).fit(X)

                def theirs(s=seed, X=X):
                    return SKKMeans(args.clusters, n_init=args.n_init, random_state=s, algorithm="lloyd").fit(X)

                t_ours, t_sk, m_ours, m_sk = timed_pair(ours, theirs, args.repeats)
                ours_t.append(t_ours)
                sk_t.append(t_sk)
                ours_inertia.append(m_ours.inertia_)
                sk_inertia.append(m_sk.inertia_)
                iters.append(f"{m_ours.n_iter_}/{m_sk.n_iter_}")
        if X is not None:
            t_ratio = statistics.median(ours_t) / statistics.median(sk_t)
            i_ratio = float(np.mean(ours_inertia) / np.mean(sk_inertia))
            worst = max(worst, i_ratio)
            print(
                f"{n:>9} {statistics.median(ours_t):>11.3f} {statistics.median(sk_t):>10.3f} {t_ratio:>10.2f} "
                f"{i_ratio:>13.5f} {','.join(iters):>15}"
            )
        del X
        if args.lloyd_iterations:
            it = args.lloyd_iterations
            U = np.random.default_rng(1).random((n, args.features), dtype=np.float32)
            C = U[:: max(1, n // args.clusters)][: args.clusters].astype(np.float64)
            with threadpool_limits(limits=args.threads):
                t_ours, t_sk, m_ours, m_sk = timed_pair(
                    lambda: nx.KMeans(args.clusters, init=C, max_iter=it, tol=0, n_threads=args.threads).fit(U),
                    lambda: SKKMeans(
                        args.clusters, init=C.astype(np.float32), n_init=1, max_iter=it, tol=0, algorithm="lloyd"
                    ).fit(U),
                    args.repeats,
                )
            i_ratio = m_ours.inertia_ / m_sk.inertia_
            worst = max(worst, i_ratio)
            print(
                f"{n:>9} {t_ours:>11.3f} {t_sk:>10.3f} {t_ours / t_sk:>10.2f} {i_ratio:>13.5f} "
                f"{f'{m_ours.n_iter_}/{m_sk.n_iter_}':>15}  <- uniform noise, same {args.clusters} centres, "
                f"{it} iterations"
            )
            del U
    if worst > 1.01:
        print(f"FAIL: inertia {100 * (worst - 1):.2f}% worse than scikit-learn", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
