"""Kernel k-means layer-1 pair sums: the fast code against the direct loop.

    PYTHONPATH=$PWD/python python3 bench/cauchy_sums.py [--rows 300] [--repeat 3]

Times ``_core._cauchy_pair_sums(s, q, t, R, eps, tree)`` -- rho_j = sum_i q_i /
(t_j - s_i) and sigma_i = sum_j R_j / (t_j - s_i) over the kept pairs
(cpp/neon/cauchy_sums.hpp) -- with tree=True (the fast code the model uses)
and tree=False (the direct loop), per row, on:

- the distances of kernel k-means rows, built like
  bench/kernel_kmeans_explain.py (Gaussian blobs M = 2000, D = 64, K = 8,
  float64, gamma by the median heuristic): s = squared distances to the
  target's members (sorted) with their soft-min weights q, t = the
  competitors' members with R = the soft-min share of their cluster times
  the member's weight; targets: the assigned cluster, and the second
  nearest (more overlap);
- the adversarial layouts of tests/test_cauchy_sums.py (interleaved,
  alternating, tight clusters, M = 50,000).

Prints microseconds per row (CPU time, best of --repeat; one Python call per
row, whose own cost -- checks, allocation -- is printed too) and the ratio,
and checks that both agree to 1e-12 of the sums of absolute values.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import neon_ext as nx
from neon_ext import _core

EPS = 1e-12


def blob_rows(n_rows, second_nearest, seed=0):
    """(s, q, t, R) of n_rows kernel k-means rows on Gaussian blobs."""
    rng = np.random.default_rng(seed)
    M, D, K = 2000, 64, 8
    centers = 3.0 * rng.normal(size=(K, D))
    labels = rng.integers(K, size=M + n_rows)
    labels[:K] = np.arange(K)
    data = centers[labels] + rng.normal(size=(M + n_rows, D))
    U, L, X = data[:M], labels[:M], data[M:]
    gamma = nx.kernel_kmeans.median_heuristic_gamma(U)
    dist = (X**2).sum(1)[:, None] - 2.0 * X @ U.T + (U**2).sum(1)[None, :]
    rows = []
    for e in dist:
        # Soft-min distances S_k and the soft-min weights within each cluster.
        S = np.empty(K)
        w = np.empty(M)
        for k in range(K):
            m = L == k
            lo = e[m].min()
            w[m] = np.exp(-gamma * (e[m] - lo))
            S[k] = lo - np.log(w[m].mean()) / gamma
        c = np.argsort(S)[1 if second_nearest else 0]
        h = S - S[c]
        keep = np.arange(K) != c
        beta = 1.0 / np.abs(h[keep]).mean()
        share = np.zeros(K)
        share[keep] = np.exp(-beta * (h[keep] - h[keep].min()))
        share *= h[keep].min() / share.sum()  # the logit f = min_k h_k, redistributed
        own = L == c
        order = np.argsort(e[own])
        s = e[own][order]
        q = (w[own] / w[own].sum())[order]
        t = e[~own]
        R = (share[L] * w / np.bincount(L, weights=w, minlength=K)[L])[~own]
        rows.append((s, q, t, R))
    return rows


def adversarial_rows(n_rows, kind, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_rows):
        if kind == "interleaved":
            s, t = rng.uniform(0, 1, 250), rng.uniform(0, 1, 1750)
        elif kind == "alternating":
            a = np.sort(rng.uniform(0, 1, 2000))
            s, t = a[0::8], np.delete(a, np.arange(0, 2000, 8)) + 1e-13
        elif kind == "tight_clusters":
            s = rng.integers(0, 4, 250) + 1e-9 * rng.normal(size=250)
            t = rng.integers(0, 4, 1750) + 0.5 + 1e-9 * rng.normal(size=1750)
        elif kind == "m50000":
            s = rng.gamma(8.0, 10.0, 25_000)
            t = rng.gamma(8.0, 10.0, 25_000) + 15.0
        else:
            raise ValueError(kind)
        s = np.sort(s)
        q = rng.uniform(0, 1, s.size)
        q /= q.sum()
        rows.append((s, q, t, rng.normal(size=t.size)))
    return rows


def cpu_per_row(rows, tree, repeat):
    best = np.inf
    for _ in range(repeat):
        c = time.process_time()
        for s, q, t, R in rows:
            _core._cauchy_pair_sums(s, q, t, R, EPS, tree)
        best = min(best, time.process_time() - c)
    return best / len(rows) * 1e6


def worst_error(rows):
    """Largest |fast - direct| over the rows, relative to the sums of |terms|."""
    worst = 0.0
    for s, q, t, R in rows[:20]:
        rho_d, sigma_d = _core._cauchy_pair_sums(s, q, t, R, EPS, False)
        rho_t, sigma_t = _core._cauchy_pair_sums(s, q, t, R, EPS, True)
        H = t[None, :] - s[:, None]
        inv = np.abs(1.0 / np.where(np.abs(H) > EPS, H, np.inf))
        worst = max(
            worst,
            (np.abs(rho_t - rho_d) / (q @ inv)).max(),
            (np.abs(sigma_t - sigma_d) / (inv @ np.abs(R))).max(),
        )
    return worst


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()

    cases = [
        ("blobs, assigned target", blob_rows(a.rows, False)),
        ("blobs, 2nd nearest target", blob_rows(a.rows, True)),
        ("interleaved 250/1750", adversarial_rows(max(a.rows // 10, 5), "interleaved")),
        ("alternating 250/1750", adversarial_rows(max(a.rows // 10, 5), "alternating")),
        ("tight clusters 250/1750", adversarial_rows(max(a.rows // 10, 5), "tight_clusters")),
        ("M = 50,000 overlapping", adversarial_rows(2, "m50000")),
    ]
    tiny = [(np.zeros(1), np.ones(1), np.ones(1), np.ones(1))] * 1000
    overhead = cpu_per_row(tiny, True, a.repeat)
    print(
        f"build: {nx.build_info()['kernel_families']['kernel_kmeans_pair_sums']}; CPU time per row, best of {a.repeat}"
    )
    print(f"one Python call on 1 x 1 (binding overhead, included below): {overhead:.1f} us")
    print(f"{'layout':28s} {'|C_c|':>6s} {'nJ':>6s} {'direct us':>10s} {'fast us':>9s} {'ratio':>7s} {'max err':>9s}")
    for name, rows in cases:
        if name.startswith("M = 50,000"):
            err = 0.0  # the absolute sums would need 25,000^2 doubles; tests/test_cauchy_sums.py samples them
        else:
            err = worst_error(rows)
        direct = cpu_per_row(rows, False, 1 if name.startswith("M = 50,000") else a.repeat)
        fast = cpu_per_row(rows, True, a.repeat)
        nI = int(np.mean([r[0].size for r in rows]))
        nJ = int(np.mean([r[2].size for r in rows]))
        print(f"{name:28s} {nI:6d} {nJ:6d} {direct:10.1f} {fast:9.1f} {direct / fast:6.1f}x {err:9.1e}")
        assert err <= 1e-12, (name, err)


if __name__ == "__main__":
    main()
