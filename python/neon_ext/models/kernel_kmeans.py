"""NEON for kernel k-means: the neuralized soft-min-distance model over
support vectors, and explaining any given clustering with it."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._validation import (
    as_data_matrix,
    as_prototypes,
    check_eps,
    check_int,
    check_positive_float,
)
from ._base import DEFAULT_EPS
from ._prototype_model import PrototypeModel

__all__ = ["NeuralizedKernelKMeans", "median_heuristic_gamma"]

#: Points drawn for ``gamma="auto"`` (their pairwise distances: ~2 million).
AUTO_GAMMA_SAMPLE = 2000


def median_heuristic_gamma(X, *, sample_size: int = AUTO_GAMMA_SAMPLE, random_state=0) -> float:
    """``gamma="auto"``: 1 / the median squared distance between pairs of points.

    The median runs over all pairs of a random sample of ``sample_size`` rows
    of X (all rows when there are fewer), drawn without replacement with
    ``numpy.random.default_rng(random_state)``. Where more than half the pairs
    are duplicates (median 0), the median over the pairs at non-zero distance
    is used instead. The Gaussian kernel exp(-gamma d) is then exp(-1) at the
    typical distance, neither all 0 nor all 1.

    Raises ValueError when X has fewer than 2 rows or no two distinct rows
    (in the sample).
    """
    X = as_data_matrix(X, "X")
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"gamma='auto' needs at least 2 points, got {n}")
    if n > sample_size:
        rng = np.random.default_rng(random_state)
        X = X[np.sort(rng.choice(n, size=sample_size, replace=False))]
    S = np.array(X, dtype=np.float64)
    if not np.isfinite(S).all():
        raise ValueError("X contains NaN or infinity")
    S -= S.mean(axis=0)  # centred: no cancellation in the Gram form below
    sq_norm = np.einsum("ij,ij->i", S, S)
    upper = []
    for lo in range(0, len(S) - 1, 256):  # row blocks keep the temporaries small
        hi = min(lo + 256, len(S))
        scale = sq_norm[lo:hi, None] + sq_norm[None, lo + 1 :]
        d = scale - 2.0 * (S[lo:hi] @ S[lo + 1 :].T)
        d[d <= 1e-12 * scale] = 0.0  # duplicates: the Gram form leaves rounding, not 0
        rows, cols = np.nonzero(np.arange(lo + 1, len(S))[None, :] > np.arange(lo, hi)[:, None])
        upper.append(d[rows, cols])
    pairs = np.concatenate(upper)
    median = float(np.median(pairs))
    if not median > 0.0:
        nonzero = pairs[pairs > 0.0]
        if nonzero.size == 0:
            raise ValueError("gamma='auto' is undefined: all points are identical; pass gamma explicitly")
        median = float(np.median(nonzero))
    return 1.0 / median


def check_gamma(gamma, X, random_state=0) -> float:
    """A kernel width: a finite number > 0, or "auto" (the median heuristic on X)."""
    if isinstance(gamma, str):
        if gamma != "auto":
            raise ValueError(f"gamma={gamma!r} must be a finite number > 0 or 'auto'")
        return median_heuristic_gamma(X, random_state=random_state)
    return check_positive_float(gamma, "gamma")


def check_cluster_labels(labels, n: int, what: str, *, allow_noise: bool = False) -> np.ndarray:
    """Integer labels 0..K-1 (and -1 for noise if allowed), one per row, K >= 2,
    every cluster index used. Returns int64."""
    a = np.asarray(labels)
    if a.dtype.kind not in "iu" or a.dtype == np.bool_:
        raise TypeError(f"labels must hold integers, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {a.shape}")
    if a.shape[0] != n:
        raise ValueError(f"labels has {a.shape[0]} entries, but there are {n} {what}")
    a = np.ascontiguousarray(a, dtype=np.int64)
    lowest = -1 if allow_noise else 0
    if n and a.min() < lowest:
        bad = int(np.flatnonzero(a < lowest)[0])
        hint = " (-1 marks noise only in from_labels)" if not allow_noise and a[bad] == -1 else ""
        raise ValueError(f"labels[{bad}]={int(a[bad])} is not a cluster index >= {lowest}{hint}")
    # Every cluster index needs a member, so indices are < n: checked before bincount
    # allocates by value (labels like 2**40 would ask for terabytes).
    if n and a.max() >= n:
        bad = int(np.flatnonzero(a >= n)[0])
        raise ValueError(
            f"labels[{bad}]={int(a[bad])} is not a cluster index: with {n} {what} and every "
            f"cluster non-empty, indices are below {n}"
        )
    clustered = a[a >= 0]
    counts = np.bincount(clustered) if clustered.size else np.zeros(0, dtype=np.int64)
    if counts.size < 2:
        raise ValueError(f"kernel k-means needs at least 2 clusters, got {counts.size}")
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(
            f"cluster {int(empty[0])} has no {what[:-1] if what.endswith('s') else what}: "
            f"labels must use every index 0..{counts.size - 1}"
        )
    return a


def check_max_support(max_support_per_cluster):
    if max_support_per_cluster is None:
        return None
    return check_int(max_support_per_cluster, "max_support_per_cluster", 1)


def stratified_support(labels: np.ndarray, max_per_cluster, rng) -> np.ndarray:
    """Sorted indices of at most ``max_per_cluster`` members of each cluster
    (labels >= 0; -1 is left out), drawn without replacement cluster by
    cluster in index order with ``rng``: reproducible for a seeded rng."""
    keep = np.flatnonzero(labels >= 0)
    if max_per_cluster is None:
        return keep
    order = keep[np.argsort(labels[keep], kind="stable")]
    counts = np.bincount(labels[keep])
    chosen = []
    for members in np.split(order, np.cumsum(counts)[:-1]):
        if members.size > max_per_cluster:
            members = rng.choice(members, size=max_per_cluster, replace=False)
        chosen.append(members)
    return np.sort(np.concatenate(chosen))


class NeuralizedKernelKMeans(PrototypeModel):
    """Gaussian kernel k-means rewritten as a neural network, and its NEON explanation.

    The model (Kauffmann et al., IEEE TNNLS 2024, kernel k-means in the
    soft-min-distance form; NEON_SPEC.md section 2): support vectors u_j
    with cluster labels, member sets C_1..C_K, and the soft-min distance ::

        S_k(x) = -(1/gamma) log( mean_{j in C_k} exp(-gamma ||x - u_j||^2) )

    x is assigned to argmin_k S_k (ties to the lowest index) and the logit of a
    target cluster c is f_c(x) = min_{k != c} (S_k(x) - S_c(x)), positive
    exactly when x is assigned to c. Its neuralization has four layers: the
    linear h_ijk = ||x - u_j||^2 - ||x - u_i||^2 (i in C_c, j in C_k), a soft
    max-pool over i, a soft min-pool over j (both LME with stiffness gamma)
    and the hard min over competitors k. The explanation redistributes f_c
    with a soft-min of stiffness ``beta`` over competitors, softmin weights of
    stiffness ``pool_stiffness`` (gamma') over the members of each competitor
    and of the target, and the midpoint rule with root (u_i + u_j) / 2 onto
    the features. Relevance sums to the logit for every point.

    The explanation is computed exactly in a factorized form (one distance
    product and one coefficient product per block of rows, plus
    O(|C_c| * n_support) scalar work per row), never as the literal triple
    sum. With one support vector per cluster it equals :class:`NeuralizedKMeans`
    (and runs on the same fused kernel).

    Parameters
    ----------
    support_vectors : array-like, shape (n_support, n_features)
        Finite; stored as float64.
    labels : array-like of int, shape (n_support,)
        Cluster index 0..K-1 of each support vector; every cluster needs at
        least one support vector, and K >= 2.
    gamma : float > 0
        Width of the Gaussian kernel exp(-gamma ||x - u||^2).
    pool_stiffness : float > 0, optional
        gamma' of the two LME redistributions; None means ``gamma`` (the
        redistribution that matches the forward pools).
    eps : float, default 1e-12
        Stabilizer of the midpoint rule, relative to the squared spread of the
        support vectors: a pair with |h_ijk| <= eps (absolute) is absorbed,
        pool by pool (NEON_SPEC.md section 2): it leaves the layer-2 pool of j,
        a member left without kept pairs leaves its cluster's pool, a
        competitor left without kept members leaves the soft-min; the others
        take the shares, so relevance sums to the logit unless every pair is
        absorbed. Every kept h_ijk divides its contributions itself.

    Notes
    -----
    Pairs of identical support vectors in different clusters have an exactly
    zero midpoint-rule contribution and are absorbed. Competitor members
    whose share of their cluster's relevance is below 2^-64 (far members at
    large gamma, far competitors at large beta) are skipped in the pair sums:
    the relevance they would carry is below float64 resolution of the pool's;
    pooling weights below e^-700 of their pool's largest are 0. The pair sums
    run through a tree code over the sorted distances (cpp/neon/cauchy_sums.hpp,
    equal to the direct sums to float64 rounding) when the target has 64 or
    more members.
    """

    kind = "kernel-kmeans"
    # Set only on models made by from_labels (documented there).
    support_indices_: np.ndarray
    n_noise_: int
    fidelity_: float
    loo_fidelity_: float
    _array_fields: ClassVar[dict] = {
        "support_vectors": np.float64,
        "labels": np.int64,
        "gamma": np.float64,
        "pool_stiffness": np.float64,
    }

    def __init__(self, support_vectors, labels, gamma, pool_stiffness=None, *, eps: float = DEFAULT_EPS):
        self.eps = check_eps(eps)
        U = as_prototypes(support_vectors, "support_vectors", min_rows=2)
        L = check_cluster_labels(labels, U.shape[0], "support vectors")
        L.setflags(write=False)
        self.gamma = check_positive_float(gamma, "gamma")
        self.pool_stiffness = (
            self.gamma if pool_stiffness is None else check_positive_float(pool_stiffness, "pool_stiffness")
        )
        self.support_vectors = U
        self.labels = L
        self._build_core(U, L, self.gamma, self.pool_stiffness)

    @classmethod
    def from_labels(
        cls,
        X,
        labels,
        gamma="auto",
        pool_stiffness=None,
        *,
        max_support_per_cluster=None,
        random_state=0,
        eps: float = DEFAULT_EPS,
        n_threads=None,
    ) -> NeuralizedKernelKMeans:
        """A kernel k-means model that reproduces a given clustering, to explain it.

        Works for any clustering of X, e.g. scikit-learn's DBSCAN,
        AgglomerativeClustering or SpectralClustering: the labelled points
        become the support vectors of their clusters.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        labels : array-like of int, shape (n_samples,)
            Cluster indices 0..K-1 (every one used, K >= 2); -1 marks noise
            (DBSCAN, HDBSCAN, OPTICS): those points are left out of the
            support set and of ``fidelity_``, and counted in ``n_noise_``.
        gamma : float > 0 or "auto", default "auto"
            Kernel width; "auto" is :func:`median_heuristic_gamma` on the
            labelled points. Non-convex clusters (DBSCAN, spectral) usually
            need a larger gamma (e.g. 10 to 100 times "auto"): compare
            ``loo_fidelity_`` across a few values.
        pool_stiffness : float > 0, optional
            gamma' of the explanation; None means gamma.
        max_support_per_cluster : int, optional
            Keep at most that many randomly chosen members of each cluster as
            support vectors (stratified; reproducible with ``random_state``).
            Explaining then costs O(K * max_support_per_cluster) per point
            instead of O(n_samples); the fidelities show what it costs.
        random_state : int, Generator or None, default 0
            Seeds the gamma="auto" sample and the support subsample
            (``numpy.random.default_rng``).
        eps : float
            As in the constructor.
        n_threads : int, optional
            Threads for computing ``fidelity_``.

        Returns
        -------
        NeuralizedKernelKMeans
            With the attributes

            - ``fidelity_``: share of the labelled points that the model
              assigns to their given cluster (1.0: on X the explained model is
              the given clustering). In-sample: a point that is a support
              vector counts itself as a member of its cluster, which flatters
              the score as gamma grows (gamma -> inf is 1-nearest-neighbour
              with itself as the neighbour).
            - ``loo_fidelity_``: the same with each point left out of its own
              cluster's support set: how well the clusters' *other* members
              reproduce its label. The honest measure for choosing gamma.
            - ``n_noise_``: points labelled -1.
            - ``support_indices_``: rows of X used as support vectors.
        """
        X = as_data_matrix(X, "X")
        L = check_cluster_labels(labels, X.shape[0], "points", allow_noise=True)
        limit = check_max_support(max_support_per_cluster)
        rng = np.random.default_rng(random_state)
        labelled = L >= 0
        X_labelled = X if labelled.all() else X[labelled]
        gamma = check_gamma(gamma, X_labelled, random_state=rng)
        support = stratified_support(L, limit, rng)
        model = cls(X[support], L[support], gamma, pool_stiffness, eps=eps)
        model.support_indices_ = support
        model.n_noise_ = int(np.count_nonzero(~labelled))
        model.fidelity_ = model.agreement(X_labelled, L[labelled], n_threads=n_threads)
        rows = np.flatnonzero(labelled)
        pos = np.minimum(np.searchsorted(support, rows), len(support) - 1)
        exclude = np.where(support[pos] == rows, pos, -1)
        loo, _ = model._leave_one_out(X_labelled, exclude, n_threads=n_threads)
        model.loo_fidelity_ = float(np.mean(loo == L[labelled]))
        return model

    # -- properties ---------------------------------------------------------
    @property
    def n_support(self) -> int:
        return self.support_vectors.shape[0]

    @property
    def cluster_sizes(self) -> np.ndarray:
        """Support vectors per cluster, shape (n_clusters,)."""
        return np.bincount(self.labels, minlength=self.n_clusters)

    def __repr__(self) -> str:
        return (
            f"NeuralizedKernelKMeans(n_clusters={self.n_clusters}, n_support={self.n_support}, "
            f"n_features={self.n_features_in_}, gamma={self.gamma:.6g}, pool_stiffness={self.pool_stiffness:.6g})"
        )

    # -- model outputs beyond the shared ones -------------------------------------
    def soft_min_distances(self, X, *, out=None, n_threads=None) -> np.ndarray:
        """S_k(x) for every row and cluster, shape (n_samples, n_clusters), X's dtype."""
        return self._per_cluster(X, out, n_threads, "distances")

    def agreement(self, X, labels, *, n_threads=None) -> float:
        """Share of rows of X that the model assigns to the given cluster labels."""
        X = self._check_X(X)
        labels = np.asarray(labels)
        if labels.shape != (X.shape[0],):
            raise ValueError(f"labels must have shape ({X.shape[0]},), got {labels.shape}")
        if X.shape[0] == 0:
            return float("nan")
        return float(np.mean(self.predict(X, n_threads=n_threads) == labels))

    # -- what the shared model interface needs ---------------------------------
    def _prototype_arrays(self):
        return self.support_vectors, self.labels, self.gamma, self.pool_stiffness
