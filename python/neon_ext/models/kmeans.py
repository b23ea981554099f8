"""NEON for k-means: the neuralized model over fixed centroids."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._validation import as_prototypes, check_eps
from ._base import DEFAULT_EPS, beta_from_mean_logit
from ._prototype_model import PrototypeModel

__all__ = ["DEFAULT_EPS", "NeuralizedKMeans", "beta_from_mean_logit"]


class NeuralizedKMeans(PrototypeModel):
    """A k-means model rewritten as a neural network, and its NEON explanation.

    For a target cluster c the model computes the logit (Kauffmann et al.,
    IEEE TNNLS 2024, eqs. for k-means; NEON_SPEC.md section 1)::

        h_k(x) = ||x - mu_k||^2 - ||x - mu_c||^2     (k != c)
        f_c(x) = min_{k != c} h_k(x)

    and explains it by redistributing f_c onto the competitors with a soft-min
    of stiffness ``beta``, then onto the input features with the midpoint
    rule. Relevance sums to the logit for every point. This is the
    prototype model of :class:`NeuralizedKernelKMeans` with one prototype
    per cluster, run on the fused k-means kernel.

    Parameters
    ----------
    centroids : array-like, shape (n_clusters, n_features)
        Cluster centres, n_clusters >= 2, finite. Stored as float64.
    eps : float, default 1e-12
        Stabilizer of the midpoint rule, relative to the squared spread of the
        centroids: a competitor with |h_k| <= eps (absolute) is absorbed (it
        leaves the soft-min; its share goes to the others), every other h_k
        divides its contributions itself (NEON_SPEC.md sections 1 and 5).
    beta : float > 0, optional
        A fixed soft-min stiffness for :meth:`explain` when it is not given
        one (e.g. the heuristic on the training data, kept in a model file).
        None: the heuristic on the data being explained.
    """

    kind = "kmeans"
    _array_fields: ClassVar[dict] = {"centroids": np.float64}

    def __init__(self, centroids, *, eps: float = DEFAULT_EPS, beta=None):
        self.eps = check_eps(eps)
        C = as_prototypes(centroids, "centroids", min_rows=2)
        self.beta = beta
        self._build_core(C)  # one prototype per cluster: the fused k-means kernel
        # The core's copy, viewed read-only: no second resident copy of the centroids.
        self.centroids = self._core.prototypes

    def __repr__(self) -> str:
        beta = "" if self.beta is None else f", beta={self.beta:.6g}"
        return f"NeuralizedKMeans(n_clusters={self.n_clusters}, n_features={self.n_features_in_}{beta})"

    def _prototype_arrays(self):
        return self.centroids, np.arange(self.n_clusters, dtype=np.int64), 1.0, 1.0
