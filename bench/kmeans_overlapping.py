"""k-means explain on overlapping clusters, float32 against float64.

    python bench/kmeans_overlapping.py [--n 300000] [--d 64] [--k 16] [--threads 1,2]

Random normal rows and centroids: every point is nearly as close to several
centroids as to its own, so the float32 kernel redoes most rows in float64
from the raw row (NEON_SPEC.md section 1, ill-conditioned rows), while the
float64 kernel has nothing to redo. The ratio float32 / float64 is what that
redo costs; on well-separated blobs (bench/compare.py) float32 is the faster
one. Each round calls every (dtype, thread count) once, alternating, in one
process; best and median wall times are printed. The float32 result is
checked against the float64 one on the same values (1e-5 of each row's
largest relevance).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import neon_ext as nx


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=300_000)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=lambda v: [int(t) for t in v.split(",")], default=[1, 2])
    a = p.parse_args()

    rng = np.random.default_rng(0)
    m = nx.NeuralizedKMeans(rng.normal(size=(a.k, a.d)))
    X32 = rng.normal(size=(a.n, a.d)).astype(np.float32)
    X64 = X32.astype(np.float64)
    beta = m.beta_heuristic(X32[:100_000])
    outs = {np.float32: np.empty_like(X32), np.float64: np.empty_like(X64)}
    data = {np.float32: X32, np.float64: X64}
    print(f"N={a.n} D={a.d} K={a.k} random normal rows and centroids, beta={beta:.4g}")
    times = {}
    for dt in data:  # warm-up
        m.explain(data[dt], beta=beta, out=outs[dt])
    for _ in range(a.rounds):
        for th in a.threads:
            for dt in data:
                t = time.perf_counter()
                m.explain(data[dt], beta=beta, out=outs[dt], n_threads=th)
                times.setdefault((th, dt), []).append(time.perf_counter() - t)
    for th in a.threads:
        t32, t64 = times[(th, np.float32)], times[(th, np.float64)]
        print(
            f"{th} thread{'s' if th > 1 else ' '}: float32 best {min(t32):.4f} s median {np.median(t32):.4f} s"
            f" ({1e9 * min(t32) / a.n:.0f} ns/row); float64 best {min(t64):.4f} s median {np.median(t64):.4f} s"
            f" ({1e9 * min(t64) / a.n:.0f} ns/row); float32 / float64 {np.median(np.array(t32) / np.array(t64)):.2f}x"
        )
    R32, R64 = outs[np.float32].astype(np.float64), outs[np.float64]
    err = (np.abs(R32 - R64).max(1) / np.abs(R64).max(1)).max()
    print(f"float32 against float64 on the same values: {err:.2e} of each row's largest relevance (at most)")
    assert err <= 1e-5, err


if __name__ == "__main__":
    main()
