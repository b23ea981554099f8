"""What the evaluation and the baseline attributions need from a clustering model.

Feature-removal curves and the baselines treat a neuralized model as a black
box that returns cluster logits (its compiled ``logits``), plus two pieces of
local geometry that are exact and cheap for the models of this package:

- the gradient of the target logit f_c at x, and
- the "nearest competitor's prototype" at x, used as a removal reference.

Both come from the model's top layer f_c = min_{k != c} h_k (NEON_SPEC.md):
on the piece of input space where competitor k* attains the min,
grad f_c = grad h_{k*}.

k-means (section 1): h_k = ||x - mu_k||^2 - ||x - mu_c||^2 is linear, so
grad f_c = 2 (mu_c - mu_{k*}); the competitor's prototype is mu_{k*}.

Kernel k-means (section 2): S_k(x) = -(1/gamma) log mean_{j in C_k}
exp(-gamma ||x - u_j||^2) is smooth with grad S_k = 2 (x - ubar_k(x)), where
ubar_k(x) = sum_j p_j u_j and p_j = softmin_{j in C_k}(gamma ||x - u_j||^2)
are the LME pool's own weights. Hence grad f_c = 2 (ubar_c(x) - ubar_{k*}(x)),
and the competitor's prototype is ubar_{k*}(x): the kernel-weighted mean of the
competitor's support vectors as seen from x, which tends to the competitor's
plain mean as gamma -> 0 and to its nearest support vector as gamma -> inf.
With one support vector per cluster both reduce to the k-means quantities,
so one formula (:class:`PrototypeOps`) serves both models.

Every function works on one block of rows at a time, in float64 coordinates
centred on the prototypes' mean (NEON_SPEC.md, numerical notes), so memory
is O(block x prototypes).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_targets
from ._prototype_model import PrototypeModel

__all__ = ["ModelOps", "model_ops"]


def _squared_distances(X: np.ndarray, P: np.ndarray, P_sq: np.ndarray) -> np.ndarray:
    """||x - p||^2 for rows of X (already centred) and prototypes P (centred), >= 0."""
    d = (X * X).sum(1)[:, None] - 2.0 * (X @ P.T) + P_sq[None, :]
    np.maximum(d, 0.0, out=d)
    return d


class ModelOps:
    """Logits, assignment, gradient and competitor prototype of one model.

    Subclasses implement :meth:`_cluster_geometry`, which returns for a block
    of centred rows the distance-like scores S (n, K) of every cluster
    (argmin = assignment, h_k = S_k - S_c) and a callable that gives, for one
    chosen cluster k per row, the point (in the caller's coordinates) whose
    position defines the gradient: grad S_k(x) = 2 (x - point_k(x)).
    """

    def __init__(self, model, center: np.ndarray):
        self.model = model
        self.center = center

    @property
    def n_clusters(self) -> int:
        return int(self.model.n_clusters)

    @property
    def n_features(self) -> int:
        return int(self.model.n_features_in_)

    # -- compiled model outputs ----------------------------------------------
    def target_logits(self, Z: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """f_{targets[n]}(Z[n]) with the model's compiled logits (float64)."""
        L = self.model.logits(Z)
        return L[np.arange(Z.shape[0]), targets].astype(np.float64, copy=False)

    def resolve_targets(self, X: np.ndarray, target) -> np.ndarray:
        """The cluster each row is explained for, as an int64 array."""
        per_row, fixed = check_targets(target, X.shape[0], self.n_clusters)
        if per_row is not None:
            return per_row
        if fixed >= 0:
            return np.full(X.shape[0], fixed, dtype=np.int64)
        return self.model.predict(X)

    # -- local geometry (numpy, one block) -----------------------------------
    def geometry(self, X: np.ndarray, targets: np.ndarray):
        """For a block of rows: (logit f_c, gradient of f_c, competitor prototype).

        The competitor is k* = argmin_{k != c} (S_k - S_c), ties to the lowest
        index (the subgradient chosen on a tie between competitors).
        """
        Xc = np.asarray(X, dtype=np.float64) - self.center
        S, point_of = self._cluster_geometry(Xc)
        n = Xc.shape[0]
        rows = np.arange(n)
        h = S - S[rows, targets][:, None]
        h[rows, targets] = np.inf
        competitor = np.argmin(h, axis=1)
        logit = h[rows, competitor]
        p_c = point_of(targets)
        p_k = point_of(competitor)
        gradient = 2.0 * (p_c - p_k)
        return logit, gradient, p_k

    def _cluster_geometry(self, Xc):  # pragma: no cover - abstract
        raise NotImplementedError


class PrototypeOps(ModelOps):
    """Any model of prototypes with cluster labels (NEON_SPEC.md, sections 1
    and 2): S_k = LME^{-gamma} of the squared distances to k's members and
    point_k = ubar_k(x), their softmin-weighted mean. A cluster of one
    prototype gives its squared distance and the prototype itself, exactly
    (k-means)."""

    def __init__(self, model, prototypes, labels, gamma):
        U = np.asarray(prototypes, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.int64)
        center = U.mean(0)
        super().__init__(model, center)
        # Cluster order: cluster k is the slice starts[k]:starts[k + 1], so the
        # per-cluster pools are segment reductions over all clusters at once.
        order = np.argsort(labels, kind="stable")
        self._labels = labels[order]
        self._U_raw = U[order]
        self._U = self._U_raw - center
        self._U_sq = (self._U * self._U).sum(1)
        self._starts = np.searchsorted(self._labels, np.arange(int(model.n_clusters)))
        self._counts = np.bincount(self._labels, minlength=int(model.n_clusters))
        self._gamma = float(gamma)

    def _cluster_geometry(self, Xc):
        g, lab, starts = self._gamma, self._labels, self._starts
        d = _squared_distances(Xc, self._U, self._U_sq)
        lo = np.minimum.reduceat(d, starts, axis=1)
        w = np.exp(-g * (d - lo[:, lab]))  # 1 at each cluster's nearest member
        total = np.add.reduceat(w, starts, axis=1)
        # S_k = -(1/g) log( mean_j exp(-g d_j) ), shifted by the minimum: exactly d for one member
        S = lo - np.log(total / self._counts) / g
        W = w / total[:, lab]  # softmin weights of gamma*d within each cluster

        def point_of(k):
            # 0 * u = 0 exactly, so a one-member cluster's point is its prototype's bits.
            return (W * (lab[None, :] == k[:, None])) @ self._U_raw

        return S, point_of


def model_ops(model) -> ModelOps:
    """The ModelOps of a neuralized model (or anything :func:`neuralize` accepts)."""
    from .neuralize import neuralize

    model = neuralize(model)
    if isinstance(model, PrototypeModel):
        U, labels, gamma, _ = model._prototype_arrays()
        return PrototypeOps(model, U, labels, gamma)
    # any other model of the same form (support vectors, their labels, gamma)
    support = getattr(model, "support_vectors", None)
    labels = getattr(model, "labels", None)
    if labels is None:
        labels = getattr(model, "support_labels", None)
    gamma = getattr(model, "gamma", None)
    if support is not None and labels is not None and gamma is not None:
        return PrototypeOps(model, support, labels, gamma)
    raise TypeError(
        f"cannot evaluate {type(model).__name__}: expected NeuralizedKMeans, "
        "NeuralizedKernelKMeans or a model neuralize() accepts"
    )
