"""NEON for k-means: the neuralized model over fixed centroids."""

from __future__ import annotations

import logging

import numpy as np

from . import _core
from ._chunks import chunk_rows, row_chunks
from ._progress import progress_bar
from ._validation import (
    as_data_matrix,
    as_prototypes,
    check_beta,
    check_n_threads,
    check_out,
    check_targets,
    feature_names_of,
)
from .explanation import Explanation

__all__ = ["NeuralizedKMeans", "beta_from_mean_logit"]

logger = logging.getLogger(__name__)

DEFAULT_EPS = 1e-12


def beta_from_mean_logit(mean_logit: float, fallback_scale: float) -> float:
    """The paper's stiffness heuristic beta = 1 / mean assigned logit.

    When the mean is not a positive number whose inverse is finite (every
    point on a decision boundary, a single tied point, no points at all),
    beta = 1 / ``fallback_scale``, the model's own scale of logits.
    """
    if np.isfinite(mean_logit) and mean_logit > 0.0:
        beta = 1.0 / mean_logit
        if np.isfinite(beta):
            return float(beta)
    return float(1.0 / fallback_scale)


class NeuralizedKMeans:
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
        A fixed soft-min stiffness, used by :meth:`explain` when it is not
        given one (e.g. the heuristic on the training data, stored in a model
        file). None: the heuristic on the data being explained.
    """

    def __init__(self, centroids, *, eps: float = DEFAULT_EPS, beta=None):
        if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.floating, np.integer)):
            raise TypeError(f"eps must be a real number, got {eps!r}")
        if not (np.isfinite(eps) and eps >= 0):
            raise ValueError(f"eps={eps!r} must be a finite number >= 0")
        C = as_prototypes(centroids, "centroids", min_rows=2)
        self.centroids = C
        self.eps = float(eps)
        self.beta = None if beta is None else check_beta(beta)
        self._core = _core.KMeansCore(C, self.eps)

    # -- properties ---------------------------------------------------------
    @property
    def n_clusters(self) -> int:
        return self.centroids.shape[0]

    @property
    def n_features_in_(self) -> int:
        return self.centroids.shape[1]

    @property
    def epsilon(self) -> float:
        """The absolute stabilizer: ``eps`` times 4 max_k ||mu_k - mean(mu)||^2."""
        return self._core.epsilon

    def __repr__(self) -> str:
        beta = "" if self.beta is None else f", beta={self.beta:.6g}"
        return f"NeuralizedKMeans(n_clusters={self.n_clusters}, n_features={self.n_features_in_}{beta})"

    # -- pickling: the compiled core is rebuilt from the centroids ------------
    def __getstate__(self):
        return {"centroids": np.array(self.centroids), "eps": self.eps, "beta": self.beta}

    def __setstate__(self, state):
        self.__init__(state["centroids"], eps=state["eps"], beta=state.get("beta"))

    def save(self, path) -> None:
        """Write the model to a ``.npz`` file; read it back with :func:`neon_ext.load`."""
        from .persistence import save

        save(self, path)

    # -- model outputs ----------------------------------------------------------
    def predict(self, X, *, n_threads=None) -> np.ndarray:
        """Index of the nearest centroid of each row (ties to the lowest index)."""
        X = self._check_X(X)
        assigned = np.empty(X.shape[0], dtype=np.int64)
        self._run(X, n_threads=n_threads, assigned=assigned)
        return assigned

    def logits(self, X, *, out=None, n_threads=None) -> np.ndarray:
        """f_c(x) for every row and every cluster c, shape (n_samples, n_clusters).

        Row-wise, the assigned cluster has the only positive entry (the gap
        between second-nearest and nearest squared distance); the others
        are <= 0. The dtype is X's (float32 or float64).
        """
        X = self._check_X(X)
        out = check_out(out, (X.shape[0], self.n_clusters), X.dtype)
        self._check_no_overlap(X, out)
        self._run(X, n_threads=n_threads, logits_all=out)
        return out

    def beta_heuristic(self, X, *, n_threads=None, progress=False) -> float:
        """The paper's default stiffness: 1 / mean of the assigned logits on X.

        If that mean is 0 (all points on boundaries, or X empty) the fallback
        is 1 / (mean squared distance between distinct centroid pairs).
        """
        X = self._check_X(X)
        with progress_bar(progress, X.shape[0], "NEON beta") as bar:
            return self._beta_heuristic(X, n_threads, bar)

    def _beta_heuristic(self, X, n_threads, bar) -> float:
        logit = np.empty(X.shape[0], dtype=X.dtype)
        self._run(X, n_threads=n_threads, logit=logit, bar=bar)
        mean = float(np.mean(logit, dtype=np.float64)) if logit.size else 0.0
        return beta_from_mean_logit(mean, self._fallback_logit_scale())

    def explain(self, X, target=None, *, beta=None, out=None, n_threads=None,
                progress=False) -> Explanation:
        """NEON relevance of each feature for the logit of the target cluster.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            float32 stays float32 and float64 stays float64 (no upcast copy);
            integers are converted to float64. Any strides; memory maps stream.
        target : None, int or array of int, shape (n_samples,)
            The cluster to explain: None for each row's assigned cluster.
        beta : float > 0, optional
            Soft-min stiffness over competitors; None uses the model's
            ``beta`` if set, else :meth:`beta_heuristic` on X (one extra pass
            over X).
        out : ndarray, shape (n_samples, n_features), optional
            Where to write the relevance: X's working dtype, C-contiguous,
            writable (e.g. an ``np.lib.format.open_memmap``).
        n_threads : int, optional
            Threads for this call; None means what OpenMP would use
            (``OMP_NUM_THREADS``, threadpoolctl). Results do not depend on it.
        progress : bool, default False
            Show a ``tqdm.auto`` progress bar (when tqdm is installed),
            advanced between chunks of rows.

        Returns
        -------
        Explanation
        """
        names = feature_names_of(X)
        X = self._check_X(X)
        n = X.shape[0]
        targets, fixed = check_targets(target, n, self.n_clusters)
        relevance = check_out(out, X.shape, X.dtype)
        self._check_no_overlap(X, relevance)
        if beta is not None:
            beta = check_beta(beta)
        elif self.beta is not None:
            beta = self.beta
        passes = 1 if beta is not None else 2
        logit = np.empty(n, dtype=X.dtype)
        assigned = np.empty(n, dtype=np.int64)
        with progress_bar(progress, passes * n, "NEON explain") as bar:
            if beta is None:
                beta = self._beta_heuristic(X, n_threads, bar)
            self._run(X, n_threads=n_threads, targets=targets, fixed=fixed, beta=beta,
                      assigned=assigned, logit=logit, relevance=relevance, bar=bar)
        if targets is not None:
            target_out = targets
        elif fixed >= 0:
            target_out = np.full(n, fixed, dtype=np.int64)
        else:
            target_out = assigned
        return Explanation(relevance, logit, target_out, assigned, beta, names, data=X,
                           n_clusters=self.n_clusters)

    def explain_competitors(self, X, target=None, *, beta=None, n_threads=None) -> np.ndarray:
        """Relevance split by the competitor it argues against: "why c and not k?".

        For each row and each competitor k != c the part of the relevance that
        comes from the soft-min share R_k of the logit (NEON_SPEC.md, section
        1): ``R_k * ((x - mu_k)**2 - (x - mu_c)**2) / h_k`` per feature. The
        slices sum over k to :meth:`explain`'s relevance (same target and
        beta) and over features to R_k; the target's own slice is 0.

        Meant for a handful of rows: the result has n_samples x n_clusters x
        n_features entries (refused above 2**26, i.e. 512 MiB).

        Parameters
        ----------
        X, target, n_threads
            As in :meth:`explain`.
        beta : float > 0, optional
            As in :meth:`explain`. To break down rows of an existing
            explanation ``e``, pass ``beta=e.beta`` (the heuristic on a subset
            of rows differs from the heuristic on all of them).

        Returns
        -------
        ndarray of float64, shape (n_samples, n_clusters, n_features)
        """
        from .competitors import kmeans_competitor_relevance

        X = self._check_X(X)
        targets, fixed = check_targets(target, X.shape[0], self.n_clusters)
        if beta is not None:
            beta = check_beta(beta)
        elif self.beta is not None:
            beta = self.beta
        else:
            beta = self.beta_heuristic(X, n_threads=n_threads)
        if targets is None:
            targets = (np.full(X.shape[0], fixed, dtype=np.int64) if fixed >= 0
                       else self.predict(X, n_threads=n_threads))
        return kmeans_competitor_relevance(self.centroids, X, targets, beta, self.epsilon)

    # -- internals ------------------------------------------------------------
    def _check_X(self, X) -> np.ndarray:
        return as_data_matrix(X, "X", self.n_features_in_)

    @staticmethod
    def _check_no_overlap(X, out):
        if np.may_share_memory(X, out):
            raise ValueError("out must not share memory with X")

    def _fallback_logit_scale(self) -> float:
        C = self.centroids
        sq = ((C[:, None, :] - C[None, :, :]) ** 2).sum(-1)
        distinct = sq[np.triu_indices(len(C), 1)]
        distinct = distinct[distinct > 0]
        return float(distinct.mean()) if distinct.size else 1.0

    def _run(self, X, *, n_threads, targets=None, fixed=-1, beta=1.0, assigned=None, logit=None,
             logits_all=None, relevance=None, bar=None):
        """Call the compiled kernel chunk by chunk on row slices of every array."""
        threads = check_n_threads(n_threads)
        step = chunk_rows(_core.KMeansCore.block_rows(X.shape[1]), X.shape[1])

        def part(a, lo, hi):
            return None if a is None else a[lo:hi]

        for lo, hi in row_chunks(X.shape[0], step):
            self._core.evaluate(X[lo:hi], part(targets, lo, hi), fixed, beta, part(assigned, lo, hi),
                                part(logit, lo, hi), part(logits_all, lo, hi), part(relevance, lo, hi),
                                threads, lo)
            if bar is not None:
                bar.update(hi - lo)
