"""Relevance split by competing cluster: "why c and not k?".

NEON redistributes the logit f_c(x) first onto the competitors k != c (the
soft-min shares R_k of NEON_SPEC.md), then onto the input features. The
feature relevance is therefore a sum over competitors; this module keeps the
terms apart, so a user can see which features argue for c *against k*.

The breakdown has n_samples x n_clusters x n_features entries, the tensor the
compiled kernels are built never to form. It is computed here, in float64
numpy directly from the equations, for the handful of rows a user asks about.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "competitor_relevance",
    "kernel_competitor_relevance",
    "kmeans_competitor_relevance",
    "MAX_BREAKDOWN_ENTRIES",
]

MAX_BREAKDOWN_ENTRIES = 1 << 26


def _check_size(n: int, K: int, D: int) -> None:
    if n * K * D > MAX_BREAKDOWN_ENTRIES:
        raise ValueError(
            f"a competitor breakdown of {n} rows x {K} clusters x {D} features has {n * K * D} "
            f"entries (more than {MAX_BREAKDOWN_ENTRIES}); pass a subset of the rows"
        )


def _centered(prototypes, X, targets, n_clusters: int):
    """Prototypes and rows in float64 coordinates centred on the prototypes' mean.

    Every quantity is translation invariant; centring (as the compiled core
    does) keeps float32 data far from the origin accurate.
    """
    P = np.asarray(prototypes, dtype=np.float64)
    _check_size(X.shape[0], n_clusters, P.shape[1])
    center = P.mean(axis=0)
    return P - center, np.asarray(X, dtype=np.float64) - center, np.asarray(targets, dtype=np.int64)


def _check_finite(values, what: str) -> None:
    if not np.isfinite(values).all():
        raise ValueError(f"a row is too far from the {what} model's prototypes: its distances leave the float64 range")


def softmin_shares(h: np.ndarray, f: np.ndarray, beta: float, kept: np.ndarray) -> np.ndarray:
    """R_k = f * softmin_beta(h)_k over the kept competitors of each row, 0 elsewhere.

    h: (n, K) layer-1 outputs; f: (n,) logits; kept: (n, K) bool, the
    competitors the absorbing stabilizer keeps (a row with none gets all 0).
    The exponent is shifted by each row's minimum (nothing overflows).
    """
    hh = np.where(kept, h, np.inf)
    lo = hh.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        w = np.where(kept, np.exp(-beta * np.where(kept, hh - lo, 0.0)), 0.0)
    total = w.sum(axis=1, keepdims=True)
    return np.where(total > 0, f[:, None] * w / np.where(total > 0, total, 1.0), 0.0)


def competitor_relevance(model, X, targets, beta: float) -> np.ndarray:
    """The breakdown for a neuralized model (k-means or kernel k-means)."""
    U, labels, gamma, pool_stiffness = model._prototype_arrays()
    return kernel_competitor_relevance(U, labels, gamma, pool_stiffness, X, targets, beta, model.epsilon)


def kmeans_competitor_relevance(centroids, X, targets, beta: float, eps: float) -> np.ndarray:
    """The per-competitor relevance of k-means NEON (NEON_SPEC.md, section 1):
    :func:`kernel_competitor_relevance` with one prototype per cluster (the
    soft-min of one distance is that distance, for any gamma).

    Parameters
    ----------
    centroids : ndarray, shape (K, D)
    X : ndarray, shape (n, D)
    targets : ndarray of int, shape (n,)
        The explained cluster c of each row.
    beta : float
        Soft-min stiffness over competitors.
    eps : float
        Absolute stabilizer: a competitor with |h_k| <= eps (or a centroid
        identical to the target's) is absorbed: it leaves the soft-min and
        its share goes to the others; the kept ones are divided by h_k itself.

    Returns
    -------
    ndarray of float64, shape (n, K, D)
        ``out[i, k]`` is competitor k's part of row i's relevance; the
        target's slice, and the slice of a centroid identical to the
        target's, are 0.
    """
    K = len(centroids)
    return kernel_competitor_relevance(centroids, np.arange(K), 1.0, 1.0, X, targets, beta, eps)


#: Entries of the largest temporaries per vectorized step: rows x prototypes x
#: (target members + features).
_PAIR_BLOCK = 1 << 21


def kernel_competitor_relevance(
    support_vectors, labels, gamma: float, pool_stiffness: float, X, targets, beta: float, eps: float
) -> np.ndarray:
    """The per-competitor relevance of NEON for prototypes with cluster labels:
    kernel k-means (NEON_SPEC.md, section 2), and k-means as the case of one
    prototype per cluster.

    Parameters
    ----------
    support_vectors : ndarray, shape (M, D)
    labels : ndarray of int, shape (M,)
        Cluster of each support vector, 0..K-1, every cluster non-empty.
    gamma : float
        Kernel width of the model (the LME pools of the forward pass).
    pool_stiffness : float
        gamma' of the backward pass through the two LME layers.
    X, targets, beta, eps
        As in :func:`kmeans_competitor_relevance`; the absorbing stabilizer
        acts pool by pool (pairs, then members, then competitors).

    Returns
    -------
    ndarray of float64, shape (n, K, D)
    """
    lab = np.asarray(labels, dtype=np.int64)
    K = int(lab.max()) + 1
    U, Z, t = _centered(support_vectors, X, targets, K)
    # Cluster order: cluster k is U[starts[k]:starts[k + 1]], so every pool is
    # a segment reduction over all clusters at once.
    order = np.argsort(lab, kind="stable")
    U, lab = U[order], lab[order]
    starts = np.searchsorted(lab, np.arange(K))
    sizes = np.bincount(lab, minlength=K)
    # Identical prototypes share a group: their pairs are absorbed (+ 0.0 makes -0.0 equal 0.0).
    group = np.unique(U + 0.0, axis=0, return_inverse=True)[1].reshape(-1)
    out = np.zeros((Z.shape[0], K, Z.shape[1]))
    # Rows whose targets have the same number of members go through together
    # (k-means: every row at once), in blocks that bound the temporaries.
    for size in np.unique(sizes[t]).tolist():
        rows = np.flatnonzero(sizes[t] == size)
        step = max(1, _PAIR_BLOCK // (len(U) * (size + U.shape[1])))
        for lo in range(0, len(rows), step):
            r = rows[lo : lo + step]
            ic = starts[t[r]][:, None] + np.arange(size)[None, :]  # the targets' members, (m, size)
            out[r] = _pooled_rows(U, lab, starts, group, ic, t[r], Z[r], gamma, pool_stiffness, beta, eps)
    return out


def _segments(ufunc, x, starts, axis):
    """ufunc.reduceat over the clusters' segments of an axis; x itself when
    every cluster has one prototype (k-means), where each segment is one entry."""
    return x if len(starts) == x.shape[axis] else ufunc.reduceat(x, starts, axis=axis)


def _pooled_rows(U, lab, starts, group, ic, c, Z, gamma, pool_stiffness, beta, eps):
    """The breakdown (m, K, D) of rows Z (centred), row r explained for
    cluster c[r] whose members are ic[r]."""
    K = len(starts)
    m = Z.shape[0]
    rows = np.arange(m)[:, None]
    U_sq = U * U
    # ||x - u||^2 - ||x||^2: every quantity below is invariant to a shift shared by all
    # distances of the row, and dropping ||x||^2 keeps far rows free of cancellation.
    with np.errstate(over="ignore", invalid="ignore"):
        d = U_sq.sum(axis=1)[None, :] - 2.0 * (Z @ U.T)
    _check_finite(d, "clustering")
    # S_k = LME^{-gamma} of the distances to k's members, shifted by the minimum
    # (exactly the distance for one member).
    d_lo = _segments(np.minimum, d, starts, 1)
    shifted = d - d_lo[:, lab]
    counts = np.diff(np.append(starts, len(lab)))
    S = d_lo - np.log(_segments(np.add, np.exp(-gamma * shifted), starts, 1) / counts) / gamma
    h = S - S[rows, c[:, None]]
    competitor = np.arange(K)[None, :] != c[:, None]
    f = np.where(competitor, h, np.inf).min(axis=1)
    # Softmin weights of stiffness gamma' within every cluster: layer 3 (q_j over
    # j in C_k) and, for the target, layer 2 (p_i over i in C_c, independent of j).
    e = np.exp(-pool_stiffness * shifted)
    q = e / _segments(np.add, e, starts, 1)[:, lab]
    p_i = q[rows, ic]
    # The absorbing stabilizer, pool by pool: pairs with |h_ij| <= eps (or
    # identical vectors) leave j's layer-2 pool, members left with no kept
    # pair leave their cluster's layer-3 pool, clusters left with no kept
    # member leave the layer-4 soft-min; the others take their shares.
    H = d[:, None, :] - d[rows, ic][:, :, None]  # h_ij = d(x, u_j) - d(x, u_i): (m, |C_c|, M)
    twin = group[ic][:, :, None] == group[None, None, :]
    kept = (np.abs(H) > eps) & ~twin & (lab[None, :] != c[:, None])[:, None, :]
    Q = (kept * p_i[:, :, None]).sum(axis=1)  # kept layer-2 weight of each j
    P = _segments(np.add, np.where(Q > 0, q, 0.0), starts, 1)  # kept layer-3 weight of each k
    R = softmin_shares(h, f, beta, competitor & (P > 0))
    P_j = P[:, lab]
    R_j = R[:, lab] * q / np.where(P_j > 0, P_j, 1.0) / np.where(Q > 0, Q, 1.0)  # 0 in the target
    A = np.where(kept, R_j[:, None, :] * p_i[:, :, None] / np.where(kept, H, 1.0), 0.0)
    # sum_ij A_ij ((x - u_j)^2 - (x - u_i)^2) = 2x (sum A_ij u_i - sum A_ij u_j) - (same with u^2),
    # per feature, with j in C_k for competitor k's slice.
    a = _segments(np.add, A, starts, 2).transpose(0, 2, 1)  # (m, K, |C_c|): sum over j in C_k
    b = A.sum(axis=1)  # (m, M): sum over i
    # [u | u^2] side by side: one product per side gives both sums.
    D = U.shape[1]
    UU = np.concatenate([U, U_sq], axis=1)
    diff = a @ UU[ic] - _segments(np.add, b[:, :, None] * UU[None], starts, 1)
    return 2.0 * Z[:, None, :] * diff[:, :, :D] - diff[:, :, D:]
