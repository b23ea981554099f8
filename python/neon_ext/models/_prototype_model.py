"""The one model behind both neuralized clusterings: prototypes with cluster
labels over the compiled ``_core.PrototypeCore``.

k-means is the case of one prototype (its centroid) per cluster; kernel
k-means pools several support vectors per cluster with the soft-min distance
(NEON_SPEC.md sections 1 and 2). :class:`NeuralizedKMeans` and
:class:`NeuralizedKernelKMeans` are thin constructors over this class; the
numpy formulas of :mod:`._ops` and :mod:`.competitors` read a model through
:meth:`PrototypeModel._prototype_arrays`, so they too are written once.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .._validation import allocate
from ._base import NeuralizedModel

__all__ = ["PrototypeModel", "cluster_pair_scale"]


def cluster_pair_scale(prototypes: np.ndarray, labels: np.ndarray, n_clusters: int) -> float:
    """The model's own scale of logits: the mean over pairs of clusters (a, b)
    of the mean squared distance between their members, tr_a + tr_b +
    ||mean_a - mean_b||^2, over the pairs where it is not 0 (identical
    centroids); 1.0 when there are none."""
    U, L, K = prototypes, labels, n_clusters
    counts = np.bincount(L, minlength=K).astype(np.float64)
    means = np.zeros((K, U.shape[1]))
    np.add.at(means, L, U)
    means /= counts[:, None]
    spread = np.bincount(L, weights=((U - means[L]) ** 2).sum(1), minlength=K) / counts
    a, b = np.triu_indices(K, 1)
    scale = spread[a] + spread[b] + ((means[a] - means[b]) ** 2).sum(1)
    scale = scale[scale > 0]
    return float(scale.mean()) if scale.size else 1.0


class PrototypeModel(NeuralizedModel):
    """Base of :class:`NeuralizedKMeans` and :class:`NeuralizedKernelKMeans`:
    the compiled core, its sizes and row blocks, the fallback logit scale and
    the leave-one-out pass, for any prototypes with cluster labels.

    Subclasses validate their own parameters and call :meth:`_build_core`.
    """

    def _build_core(self, prototypes, labels=None, gamma=None, pool_stiffness=None) -> None:
        """The compiled model; ``labels`` None: one prototype per cluster, in order."""
        self._core = _core.PrototypeCore(prototypes, labels, gamma=gamma, pool_stiffness=pool_stiffness, eps=self.eps)

    def _prototype_arrays(self):
        """(prototypes (M, D) float64, labels (M,) int64, gamma, pool_stiffness):
        the model as the numpy formulas read it. gamma and pool_stiffness do
        not matter for clusters of one prototype (the soft-min of one distance
        is that distance, its pool weight 1); such models give 1.0."""
        raise NotImplementedError

    # -- what the shared model interface needs ---------------------------------
    @property
    def n_clusters(self) -> int:
        return int(self._core.n_clusters)

    @property
    def n_features_in_(self) -> int:
        return int(self._core.n_features)

    @property
    def _n_prototypes(self) -> int:
        return int(self._core.n_prototypes)

    def _block_rows(self, n_features: int) -> int:
        return int(self._core.block_rows(n_features))

    def _fallback_logit_scale(self) -> float:
        U, L, _, _ = self._prototype_arrays()
        return cluster_pair_scale(U, L, self.n_clusters)

    def _leave_one_out(self, X, exclude, *, n_threads=None):
        """Assignment and soft-min distances of the rows of X when prototype
        exclude[n] is left out of its cluster for row n (fitting)."""
        n = X.shape[0]
        assigned = allocate((n,), np.int64, "assigned")
        distances = allocate((n, self.n_clusters), X.dtype, "distances")
        self._run(
            X,
            n_threads=n_threads,
            assigned=assigned,
            distances=distances,
            exclude=np.ascontiguousarray(exclude, dtype=np.int64),
        )
        return assigned, distances
