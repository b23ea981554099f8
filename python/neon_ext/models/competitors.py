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
    """The breakdown for a neuralized model: k-means (``centroids``) or kernel
    k-means (``support_vectors``, ``labels``, ``gamma``, ``pool_stiffness``)."""
    if hasattr(model, "support_vectors"):
        return kernel_competitor_relevance(
            model.support_vectors, model.labels, model.gamma, model.pool_stiffness, X, targets, beta, model.epsilon
        )
    return kmeans_competitor_relevance(model.centroids, X, targets, beta, model.epsilon)


def kmeans_competitor_relevance(centroids, X, targets, beta: float, eps: float) -> np.ndarray:
    """The per-competitor relevance of k-means NEON (NEON_SPEC.md, section 1).

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
    M, Z, t = _centered(centroids, X, targets, len(centroids))
    K = M.shape[0]
    Mc = M[t][:, None, :]
    # (x - mu_k)^2 - (x - mu_c)^2 per feature, factored as (mu_c - mu_k)(2x - mu_k - mu_c):
    # the difference of two squares of a far row cancels catastrophically, the product does not.
    with np.errstate(over="ignore", invalid="ignore"):
        contrib = (Mc - M[None, :, :]) * (2.0 * Z[:, None, :] - M[None, :, :] - Mc)  # sums to h_k
        h = contrib.sum(axis=2)
    _check_finite(h, "k-means")
    twin = (M[None, :, :] == M[t][:, None, :]).all(axis=2)  # includes k == c
    competitor = ~(np.arange(K)[None, :] == t[:, None])
    f = np.where(competitor, h, np.inf).min(axis=1)
    kept = competitor & ~twin & (np.abs(h) > eps)
    share = softmin_shares(h, f, beta, kept)
    a = np.where(kept, share / np.where(kept, h, 1.0), 0.0)
    return a[:, :, None] * contrib


def kernel_competitor_relevance(
    support_vectors, labels, gamma: float, pool_stiffness: float, X, targets, beta: float, eps: float
) -> np.ndarray:
    """The per-competitor relevance of kernel k-means NEON (NEON_SPEC.md, section 2).

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
    n, D = Z.shape
    members = [np.flatnonzero(lab == k) for k in range(K)]
    out = np.zeros((n, K, D))
    U_sq = U * U
    U_norm = U_sq.sum(axis=1)
    for r in range(n):
        # ||x - u||^2 - ||x||^2: every quantity below is invariant to a shift shared by all
        # distances of the row, and dropping ||x||^2 keeps far rows free of cancellation.
        with np.errstate(over="ignore", invalid="ignore"):
            d = U_norm - 2.0 * (U @ Z[r])
        _check_finite(d, "kernel k-means")
        # S_k = LME^{-gamma} of the distances to k's members, shifted by the minimum.
        S = np.empty(K)
        for k, idx in enumerate(members):
            lo = d[idx].min()
            S[k] = lo - np.log(np.mean(np.exp(-gamma * (d[idx] - lo)))) / gamma
        c = t[r]
        h = S - S[c]
        competitor = np.arange(K) != c
        f = h[competitor].min()
        ic = members[c]
        p_i = np.exp(-pool_stiffness * (d[ic] - d[ic].min()))
        p_i /= p_i.sum()  # layer 2: softmin over i in C_c, independent of j
        # The absorbing stabilizer, pool by pool: pairs with |h_ij| <= eps (or
        # identical vectors) leave j's layer-2 pool, members left with no kept
        # pair leave their cluster's layer-3 pool, clusters left with no kept
        # member leave the layer-4 soft-min; the others take their shares.
        pools = {}
        P = np.zeros(K)
        for k in np.flatnonzero(competitor).tolist():
            jk = members[k]
            q_j = np.exp(-pool_stiffness * (d[jk] - d[jk].min()))
            q_j /= q_j.sum()  # layer 3: softmin over j in C_k
            H = d[jk][:, None] - d[ic][None, :]  # h_ijk = d(x, u_j) - d(x, u_i)
            kept = (np.abs(H) > eps) & ~(U[jk][:, None, :] == U[ic][None, :, :]).all(axis=2)
            Q = (kept * p_i[None, :]).sum(axis=1)  # kept layer-2 weight of each j
            P[k] = q_j[Q > 0].sum()
            pools[k] = (jk, q_j, H, kept, Q)
        R = softmin_shares(h[None], np.array([f]), beta, (competitor & (P > 0))[None])[0]
        for k, (jk, q_j, H, kept, Q) in pools.items():
            if not P[k] > 0:
                continue
            R_ij = R[k] * (q_j / P[k] / np.where(Q > 0, Q, 1.0))[:, None] * p_i[None, :]  # (|C_k|, |C_c|)
            A = np.where(kept, R_ij / np.where(kept, H, 1.0), 0.0)
            # sum_ij A_ji ((x - u_j)^2 - (x - u_i)^2) = sum_ij A_ji (u_i - u_j)(2x - u_i - u_j), per feature
            a, b = A.sum(axis=0), A.sum(axis=1)
            out[r, k] = 2.0 * Z[r] * (a @ U[ic] - b @ U[jk]) - (a @ U_sq[ic] - b @ U_sq[jk])
    return out
