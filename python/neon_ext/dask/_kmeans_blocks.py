"""The per-block passes of the distributed k-means (pure numpy; no dask here).

Assignment runs in the compiled core (``_core.lloyd_step`` without centre
update, the same pass the in-memory ``neon_ext.KMeans`` iterates). The
per-cluster sums are accumulated here in numpy (weighted one-hot GEMMs on
rows centred at ``origin``, ``_blocks.group_sums``), because the compiled Lloyd pass returns the
block's *means*, with empty clusters already relocated inside the block,
which cannot be merged across blocks.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from ..cluster.kmeans import _check_sample_weight
from ._blocks import group_sums

__all__ = ["assign_block", "lloyd_block", "merge_lloyd", "merge_moments", "moments_block", "sample_block"]


def _weights(w, n: int) -> np.ndarray:
    """A block of sample weights, checked as the in-memory estimator checks them
    (except that a block may carry no weight at all)."""
    if w is None:
        return np.ones(n, dtype=np.float64)
    a = np.asarray(w)
    if a.shape == (n,) and a.dtype.kind in "fiub" and np.all(a == 0):
        return np.zeros(n, dtype=np.float64)
    return _check_sample_weight(a, n)


def moments_block(X, w, threads: int):
    """(total weight, weighted mean, weighted sum of squared deviations) per
    feature of a block; the compiled pass also rejects NaN/inf in X."""
    w = _weights(w, X.shape[0])
    W = float(w.sum())
    if W == 0.0:
        return 0.0, np.zeros(X.shape[1]), np.zeros(X.shape[1])
    mean, var = _core.kmeans_moments(X, w, threads)
    return W, mean, var * W


def merge_moments(*parts):
    """Chan et al.'s pairwise combination of weighted means and squared deviations."""
    W, mean, M2 = parts[0]
    for Wb, mb, M2b in parts[1:]:
        if Wb == 0.0:
            continue
        total = W + Wb
        delta = mb - mean
        mean = mean + delta * (Wb / total)
        M2 = M2 + M2b + delta**2 * (W * Wb / total)
        W = total
    return W, mean, M2


def sample_block(X, w, seed, index: int, p: float):
    """Rows of a block kept with probability p (seeded by the block's index), with their weights."""
    w = _weights(w, X.shape[0])
    keep = np.random.default_rng([seed, index]).random(X.shape[0]) < p
    keep &= w > 0
    return np.asarray(X[keep], dtype=np.float64), w[keep]


def lloyd_block(X, w, centers, origin, offset: int, threads: int):
    """One Lloyd pass over a block: per-cluster weighted sums of (x - origin),
    weights and row counts, inertia, and the block's K rows farthest from
    their centres (candidates for empty clusters)."""
    n, K = X.shape[0], centers.shape[0]
    w = _weights(w, n)
    labels = np.full(n, -1, dtype=np.int64)
    dist = np.empty(n, dtype=np.float64)
    step = _core.lloyd_step(X, w, centers, None, labels, dist, threads)
    sums = group_sums(X, labels, K, weights=w, origin=origin)
    positive = w > 0
    counts = np.bincount(labels[positive], minlength=K).astype(np.float64)
    candidates = np.flatnonzero(positive & (dist > 0.0))
    if candidates.size > K:
        candidates = candidates[np.argsort(-dist[candidates], kind="stable")[:K]]
    far = {
        "dist": dist[candidates],
        "row": candidates + offset,
        "label": labels[candidates],
        "w": w[candidates],
        "x": np.asarray(X[candidates], dtype=np.float64),
    }
    return {
        "sums": sums,
        "weight": np.bincount(labels, weights=w, minlength=K),
        "count": counts,
        "inertia": step["inertia"],
        "far": far,
    }


def _farthest(far: dict, k: int) -> dict:
    """The k farthest candidates, ties to the lower row (as the compiled relocation)."""
    order = np.lexsort((far["row"], -far["dist"]))[:k]
    return {key: v[order] for key, v in far.items()}


def merge_lloyd(*parts):
    out = {key: sum(p[key] for p in parts) for key in ("sums", "weight", "count", "inertia")}
    K = parts[0]["weight"].shape[0]
    far = {key: np.concatenate([p["far"][key] for p in parts]) for key in parts[0]["far"]}
    out["far"] = _farthest(far, K)
    return out


def assign_block(X, w, centers, threads: int):
    """predict's assignment (near ties settled in float64, ties to the lowest
    index, ``_core.kmeans_labels``, the in-memory fit's final pass): inertia,
    the sum of assigned logits and the rows per cluster."""
    n, K = X.shape[0], centers.shape[0]
    w = _weights(w, n)
    labels = np.empty(n, dtype=np.int64)
    step = _core.kmeans_labels(X, w, centers, labels, threads)
    return np.array([step["inertia"], step["logit_sum"]]), np.bincount(labels, minlength=K)


def merge_assign(*parts):
    return sum(p[0] for p in parts), sum(p[1] for p in parts)
