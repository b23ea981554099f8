"""Slow, independent float64 reference implementations written from the
equations of NEON_SPEC.md, for testing the compiled kernels.

Nothing here is shared with the package: every quantity is recomputed from
the definitions with plain loops over points and clusters.
"""

from __future__ import annotations

import numpy as np


def sq_dist(x, mu):
    return float(np.sum((np.asarray(x, float) - np.asarray(mu, float)) ** 2))


def kmeans_assign(X, C):
    """argmin_k d(x, mu_k), ties to the lowest index."""
    out = []
    for x in np.asarray(X, float):
        d = [sq_dist(x, mu) for mu in C]
        out.append(int(np.argmin(d)))  # np.argmin returns the first minimum
    return np.array(out, dtype=np.int64)


def kmeans_logit(x, C, c):
    """f_c(x) = min_{k != c} w_k^T x + b_k with w_k = 2(mu_c - mu_k), b_k = ||mu_k||^2 - ||mu_c||^2."""
    C = np.asarray(C, float)
    h = []
    for k in range(len(C)):
        if k == c:
            continue
        w = 2.0 * (C[c] - C[k])
        b = C[k] @ C[k] - C[c] @ C[c]
        h.append(w @ x + b)
    return min(h)


def kmeans_logits(X, C):
    return np.array([[kmeans_logit(x, C, c) for c in range(len(C))] for x in np.asarray(X, float)])


def kmeans_relevance(x, C, c, beta, eps=0.0):
    """NEON relevance of f_c(x), literally: soft-min redistribution over the
    competitors, then the midpoint rule with root m_k = (mu_c + mu_k) / 2,
    divided by h_k itself.  The absorbing stabilizer (NEON_SPEC.md sections 1
    and 5): a competitor with |h_k| <= eps leaves the soft-min, so its share
    goes to the others (no relevance at all when every competitor does)."""
    x = np.asarray(x, float)
    C = np.asarray(C, float)
    K, D = C.shape
    comps = [k for k in range(K) if k != c]
    h = {}
    for k in comps:
        w = 2.0 * (C[c] - C[k])
        b = C[k] @ C[k] - C[c] @ C[c]
        h[k] = w @ x + b
    f = min(h.values())
    kept = [k for k in comps if abs(h[k]) > eps]
    R = np.zeros(D)
    if not kept:
        return R, f
    lo = min(h[k] for k in kept)
    weights = {k: np.exp(-beta * (h[k] - lo)) for k in kept}
    total = sum(weights.values())
    for k in kept:
        Rk = f * weights[k] / total
        w = 2.0 * (C[c] - C[k])
        m = (C[c] + C[k]) / 2.0
        for i in range(D):
            R[i] += Rk * (x[i] - m[i]) * w[i] / h[k]
    return R, f


def kmeans_explain(X, C, targets, beta, eps=0.0):
    X = np.asarray(X, float)
    R = np.zeros_like(X)
    f = np.zeros(len(X))
    for n, (x, c) in enumerate(zip(X, targets)):
        R[n], f[n] = kmeans_relevance(x, C, int(c), beta, eps)
    return R, f


def kmeans_beta_heuristic(X, C):
    assigned = kmeans_assign(X, C)
    return 1.0 / np.mean([kmeans_logit(x, C, c) for x, c in zip(np.asarray(X, float), assigned)])
