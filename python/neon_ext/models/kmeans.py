"""NEON for k-means: the neuralized model over fixed centroids."""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np

from .. import _core
from .._validation import as_prototypes, check_eps
from ._base import DEFAULT_EPS, NeuralizedModel, beta_from_mean_logit

__all__ = ["DEFAULT_EPS", "NeuralizedKMeans", "beta_from_mean_logit"]

logger = logging.getLogger(__name__)


class NeuralizedKMeans(NeuralizedModel):
    """A k-means model rewritten as a neural network, and its NEON explanation.

    For a target cluster c the model computes the logit (Kauffmann et al.,
    IEEE TNNLS 2024, eqs. for k-means; NEON_SPEC.md section 1)::

        h_k(x) = ||x - mu_k||^2 - ||x - mu_c||^2     (k != c)
        f_c(x) = min_{k != c} h_k(x)

    and explains it by redistributing f_c onto the competitors with a soft-min
    of stiffness ``beta``, then onto the input features with the midpoint
    rule. Relevance sums to the logit for every point.

    Parameters
    ----------
    centroids : array-like, shape (n_clusters, n_features)
        Cluster centres, n_clusters >= 2, finite. Stored as float64.
    eps : float, default 1e-12
        Stabilizer of the midpoint rule, relative to the squared spread of the
        centroids: each h_k is divided as h_k + eps * sign(h_k).
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
        self._core = _core.KMeansCore(C, self.eps)
        # The core's copy, viewed read-only: no second resident copy of the centroids.
        self.centroids = self._core.centroids

    # -- properties ---------------------------------------------------------
    @property
    def n_clusters(self) -> int:
        return self.centroids.shape[0]

    @property
    def n_features_in_(self) -> int:
        return self.centroids.shape[1]

    def __repr__(self) -> str:
        beta = "" if self.beta is None else f", beta={self.beta:.6g}"
        return f"NeuralizedKMeans(n_clusters={self.n_clusters}, n_features={self.n_features_in_}{beta})"

    # -- what the shared model interface needs ---------------------------------
    def _fallback_logit_scale(self) -> float:
        C = self.centroids
        sq = ((C[:, None, :] - C[None, :, :]) ** 2).sum(-1)
        distinct = sq[np.triu_indices(len(C), 1)]
        distinct = distinct[distinct > 0]
        return float(distinct.mean()) if distinct.size else 1.0

    def _block_rows(self, n_features: int) -> int:
        return _core.KMeansCore.block_rows(n_features)

    @property
    def _n_prototypes(self) -> int:
        return self.n_clusters
