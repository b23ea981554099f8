"""A Gaussian kernel k-means estimator (soft-min-distance form) with NEON
explanations, following scikit-learn's estimator conventions."""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np

from .._progress import progress_bar
from .._validation import (
    check_eps,
    check_int,
    check_n_threads,
    check_positive_float,
    feature_names_of,
)
from ..exceptions import ConvergenceWarning
from ..models._base import DEFAULT_EPS, beta_from_mean_logit
from ..models.kernel_kmeans import (
    NeuralizedKernelKMeans,
    check_gamma,
    check_max_support,
    stratified_support,
)
from ._base import (
    ClusteringEstimator,
    _as_matrix,
    _check_random_state,
    _draw_seed,
)
from .kmeans import KMeans

__all__ = ["KernelKMeans"]


def _check_max_samples(max_samples, n_samples: int, n_clusters: int) -> int:
    """Rows to fit on: max_samples as an int >= n_clusters or a fraction in (0, 1], at most n_samples."""
    if max_samples is None:
        return n_samples
    if isinstance(max_samples, (bool, np.bool_)) or not isinstance(max_samples, numbers.Real):
        raise TypeError(f"max_samples must be None, an int or a float, got {type(max_samples).__name__}")
    if isinstance(max_samples, numbers.Integral):
        m = int(max_samples)
        if m < n_clusters:
            raise ValueError(f"max_samples={m} must be >= n_clusters={n_clusters}")
    else:
        f = float(max_samples)
        if not 0.0 < f <= 1.0:
            raise ValueError(f"max_samples={max_samples!r} must be in (0, 1] when it is a fraction")
        m = max(n_clusters, int(f * n_samples))
    return min(m, n_samples)


def _reseed_empty_clusters(labels: np.ndarray, badness: np.ndarray, n_clusters: int) -> int:
    """Give every empty cluster one point, in place; returns how many were re-seeded.

    Empty clusters are filled in index order; each takes the point with the
    largest ``badness`` (its distance to the cluster it is in; NaN = not
    movable) among the clusters that keep at least one other member, ties to
    the lowest index. K therefore stays fixed.
    """
    counts = np.bincount(labels, minlength=n_clusters)
    empty = np.flatnonzero(counts == 0)
    for k in empty:
        score = np.where(counts[labels] >= 2, badness, np.nan)
        if np.isnan(score).all():  # only unmovable points left: take any from a big cluster
            score = np.where(counts[labels] >= 2, 0.0, np.nan)
        p = int(np.nanargmax(score))
        counts[labels[p]] -= 1
        labels[p] = k
        counts[k] = 1
        badness[p] = np.nan
    return len(empty)


class KernelKMeans(ClusteringEstimator):
    """Gaussian kernel k-means in the soft-min-distance form, with NEON explanations.

    Each cluster is the set of its training points; a point's distance to a
    cluster is the soft-min distance S_k(x) = -(1/gamma) log(mean_j
    exp(-gamma ||x - u_j||^2)) over the cluster's members (Kauffmann et al.,
    IEEE TNNLS 2024; NEON_SPEC.md section 2), and :meth:`explain` gives the
    exact NEON relevance of every feature for a cluster assignment.

    Fitting: an initial partition by :class:`KMeans` (greedy k-means++, the
    best of ``n_init`` runs), then sweeps that reassign every training point
    to the cluster of smallest soft-min distance, the point itself left out
    of its own cluster's member set (leave-one-out), until no label changes
    or ``max_iter`` sweeps. A point that is the only member of its cluster
    stays (leaving it out would leave no members). A cluster that empties
    (in the k-means partition or in a sweep) is re-seeded with the point
    worst fitted by its current cluster (largest distance to it: squared
    distance to the k-means centroid, or the leave-one-out soft-min distance
    in a sweep) among the clusters that keep another member, so K stays
    fixed. One sweep costs O(n_samples^2 n_features) in the compiled blocked
    kernel, with memory O(block rows x n_samples).

    Large data: with ``max_samples`` the partition is fitted on a random
    subsample of that many rows (k-means initialisation and sweeps, all
    O(max_samples^2)), and every other row is labelled by the fitted model
    (its compiled predict, O(n_samples x support)). Measured cost against
    fitting on everything: ``bench/README.md`` (kernel k-means fit).

    Prediction and explanation use the support set: all training points, or
    at most ``max_support_per_cluster`` per cluster drawn at random
    (stratified, reproducible with ``random_state``); ``fidelity_`` reports
    how far that model reproduces ``labels_``.

    Parameters
    ----------
    n_clusters : int, default 8
        K >= 2.
    gamma : float > 0 or "auto", default "auto"
        Kernel width; "auto" is
        :func:`neon_ext.kernel_kmeans.median_heuristic_gamma`: 1 / the median
        squared distance between pairs of a random sample of 2000 points.
    pool_stiffness : float > 0, optional
        gamma' of the explanation (None: gamma); does not affect fitting.
    max_support_per_cluster : int, optional
        Support vectors kept per cluster for predict / explain.
    max_iter : int, default 100
        Maximum number of reassignment sweeps.
    max_samples : int or float, optional
        Rows the partition is fitted on: an int >= n_clusters, or a fraction
        in (0, 1] of n_samples; None (default) uses every row. When smaller
        than n_samples, a random subsample of that size (reproducible with
        ``random_state``) is fitted and the other rows get the fitted
        model's prediction (see ``labels_``, ``sample_indices_``). Use it
        above a few ten thousand rows, together with
        ``max_support_per_cluster`` to bound the cost of labelling them.
    n_init : int, default 3
        k-means runs for the initial partition (the lowest inertia is kept).
    random_state : None, int, numpy RandomState or Generator
        Seeds the ``max_samples`` subsample, the k-means initialisation, the
        gamma="auto" sample and the support subsample; an int makes the fit reproducible (bitwise, for any
        ``n_threads``). None uses numpy's global state.
    n_threads : int, optional
        Threads of the compiled kernels (None: the OpenMP default); results do
        not depend on it.
    eps : float, default 1e-12
        Stabilizer of the midpoint rule (see :class:`NeuralizedKernelKMeans`).

    Attributes
    ----------
    labels_ : ndarray of int64, shape (n_samples,)
        Cluster of each training point at the end of fitting (a leave-one-out
        fixed point when ``converged_``); with ``max_samples``, rows outside
        ``sample_indices_`` get the fitted model's prediction.
    sample_indices_ : ndarray of int64
        Sorted rows of the training data the partition was fitted on (all
        rows without ``max_samples``).
    support_vectors_, support_labels_ : ndarrays
        The support set of the fitted model and its clusters.
    support_indices_ : ndarray of int64
        Rows of the training data that are support vectors (always within
        ``sample_indices_``).
    gamma_ : float
        The kernel width used.
    beta_ : float
        Default soft-min stiffness of :meth:`explain`: the paper's heuristic
        1 / (mean assigned logit on the training data), fixed at fit time so
        that a point's explanation does not depend on which other points are
        explained with it.
    n_iter_ : int
        Reassignment sweeps run.
    converged_ : bool
        False when ``max_iter`` stopped the sweeps while labels still changed
        (a ConvergenceWarning says so).
    n_reseeded_ : int
        Empty clusters re-seeded over the whole fit.
    fidelity_ : float
        Share of the fitted rows (``sample_indices_``) that the fitted model
        (its support set, each point counting itself if it is a support
        vector) assigns to their cluster in ``labels_``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X was a DataFrame with string column names.
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        gamma="auto",
        pool_stiffness=None,
        max_support_per_cluster=None,
        max_iter=100,
        n_init=3,
        random_state=None,
        n_threads=None,
        eps=DEFAULT_EPS,
        max_samples=None,
    ):
        self.n_clusters = n_clusters
        self.gamma = gamma
        self.pool_stiffness = pool_stiffness
        self.max_support_per_cluster = max_support_per_cluster
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state
        self.n_threads = n_threads
        self.eps = eps
        self.max_samples = max_samples

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "labels_")

    # -- fitting ----------------------------------------------------------------
    def fit(self, X, y=None, *, progress=False) -> KernelKMeans:
        """Fit on X, shape (n_samples, n_features); y is ignored. Returns self.

        ``progress=True`` shows a progress bar (tqdm) of the reassignment
        sweeps, up to ``max_iter`` (each costs O(n_samples^2 n_features)).
        """
        k = check_int(self.n_clusters, "n_clusters", 2)
        max_iter = check_int(self.max_iter, "max_iter", 1)
        n_init = check_int(self.n_init, "n_init", 1)
        limit = check_max_support(self.max_support_per_cluster)
        eps = check_eps(self.eps)
        if self.pool_stiffness is not None:
            check_positive_float(self.pool_stiffness, "pool_stiffness")
        check_n_threads(self.n_threads)
        rng = np.random.default_rng(_draw_seed(_check_random_state(self.random_state)))
        names = feature_names_of(X, strict=True)
        X = _as_matrix(X)
        n = X.shape[0]
        if k > n:
            raise ValueError(f"n_clusters={k} must be <= n_samples={n}")
        finite = np.isfinite(X).all(axis=1)
        if not finite.all():
            raise ValueError(f"X contains NaN or infinity (first at row {int(np.flatnonzero(~finite)[0])})")
        n_fit = _check_max_samples(self.max_samples, n, k)
        # The rows the partition is fitted on (a subsample drawn only when
        # asked, so that fits without max_samples draw what they always drew).
        sample = np.sort(rng.choice(n, n_fit, replace=False)) if n_fit < n else np.arange(n, dtype=np.int64)
        X_all, X = X, (X[sample] if n_fit < n else X)
        n = n_fit
        gamma = check_gamma(self.gamma, X, random_state=rng)

        X64 = np.ascontiguousarray(X, dtype=np.float64)
        with warnings.catch_warnings():
            # Fewer distinct k-means clusters than K (duplicate points) is
            # repaired below by re-seeding; no need to warn about it here.
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = KMeans(k, n_init=n_init, random_state=rng, n_threads=self.n_threads).fit(X)
        labels = km.labels_.copy()
        badness = ((X64 - km.cluster_centers_[labels]) ** 2).sum(1)
        reseeded = _reseed_empty_clusters(labels, badness, k)

        own = np.arange(n, dtype=np.int64)
        with progress_bar(progress, max_iter, "kernel k-means fit", unit="sweep", unit_scale=False) as bar:
            labels, changed, sweeps, reseeded = self._sweeps(
                X, X64, labels, gamma, eps, own, k, max_iter, reseeded, bar
            )

        support = stratified_support(labels, limit, rng)
        model = NeuralizedKernelKMeans(X64[support], labels[support], gamma, self.pool_stiffness, eps=eps)
        # Every training row through the compiled predict: the fidelity on the
        # fitted rows, beta_ on all rows, and the labels of rows left out.
        assigned = np.empty(X_all.shape[0], dtype=np.int64)
        logit = np.empty(X_all.shape[0], dtype=X.dtype)
        model._run(X_all, n_threads=self.n_threads, assigned=assigned, logit=logit)

        self._neuralized = model
        self._public = None  # neuralize() makes it again
        self.fidelity_ = float(np.mean(assigned[sample] == labels))
        assigned[sample] = labels
        self.labels_ = assigned
        self.sample_indices_ = sample
        self.support_indices_ = sample[support]
        self.support_vectors_ = model.support_vectors
        self.support_labels_ = model.labels
        self.gamma_ = gamma
        self.beta_ = beta_from_mean_logit(float(np.mean(logit, dtype=np.float64)), model._fallback_logit_scale())
        self.n_iter_ = sweeps
        self.converged_ = changed == 0
        self.n_reseeded_ = reseeded
        self._set_input_features(X.shape[1], names)
        if not self.converged_:
            warnings.warn(
                f"KernelKMeans did not converge in max_iter={max_iter} sweeps "
                f"({changed} labels changed in the last one)",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _sweeps(self, X, X64, labels, gamma, eps, own, k, max_iter, reseeded, bar):
        """Leave-one-out reassignment sweeps until no label changes or `max_iter`."""
        n = X.shape[0]
        changed, sweeps = n, 0
        while sweeps < max_iter and changed:
            sweeps += 1
            model = NeuralizedKernelKMeans(X64, labels, gamma, eps=eps)
            new, S = model._leave_one_out(X, own, n_threads=self.n_threads)
            alone = np.bincount(labels, minlength=k)[labels] == 1
            new[alone] = labels[alone]
            badness = np.where(alone, np.nan, S[own, new].astype(np.float64))
            reseeded += _reseed_empty_clusters(new, badness, k)
            changed = int(np.count_nonzero(new != labels))
            labels = new
            bar.update(1)
        bar.update(max_iter - sweeps)
        return labels, changed, sweeps, reseeded

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit and return ``labels_`` (the leave-one-out fixed point of fitting,
        which can differ from ``predict(X)`` where a point's own presence in
        its cluster decides its assignment)."""
        return self.fit(X).labels_

    # -- the fitted model -----------------------------------------------------------
    def neuralize(self) -> NeuralizedKernelKMeans:
        """The fitted model as a :class:`NeuralizedKernelKMeans` (on the support set),
        with the fitted ``beta_`` and ``feature_names_in_``: it explains, and
        saves, as this estimator does. The same object on every call until
        the next ``fit`` (a copy of the one ``predict`` uses, which has no
        names to check twice)."""
        self._check_fitted()
        public = getattr(self, "_public", None)
        if public is None:
            public = self._public = self._with_fitted_settings(copy.copy(self._neuralized))
        return public

    def predict(self, X) -> np.ndarray:
        """Cluster of smallest soft-min distance to the support set (int64; ties to the lowest index)."""
        X = self._check_X(X)
        return self._neuralized.predict(X, n_threads=self.n_threads)

    def transform(self, X) -> np.ndarray:
        """Soft-min distances S_k(x) to every cluster, shape (n_samples, n_clusters), X's dtype."""
        X = self._check_X(X)
        return self._neuralized.soft_min_distances(X, n_threads=self.n_threads)

    def logits(self, X) -> np.ndarray:
        """Cluster logits f_c(x), see :meth:`NeuralizedKernelKMeans.logits`."""
        X = self._check_X(X)
        return self._neuralized.logits(X, n_threads=self.n_threads)
