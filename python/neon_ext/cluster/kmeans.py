"""A k-means estimator fitted in the compiled core, with NEON explanations.

Follows scikit-learn's estimator conventions (``get_params``/``set_params``,
parameters validated in ``fit``, fitted attributes ending in ``_``) without
importing scikit-learn, so it works in pipelines, grid searches and
``clone`` when scikit-learn is present and on its own when it is not.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import _core
from .._progress import progress_bar
from .._validation import check_n_threads, check_nonnegative_float, feature_names_of
from .._validation import check_int as _check_int
from ..exceptions import ConvergenceWarning
from ..models.kmeans import NeuralizedKMeans, beta_from_mean_logit
from ._base import (
    ClusteringEstimator,
    _as_matrix,
    _check_random_state,
    _draw_seed,
)

__all__ = ["KMeans"]

_INITS = ("k-means++", "random")


def _check_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """float64 C-contiguous weights: finite, >= 0, not all zero (None: all ones)."""
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float64)
    if isinstance(sample_weight, numbers.Number) and not isinstance(sample_weight, (bool, np.bool_)):
        w = np.full(n_samples, sample_weight, dtype=np.float64)
    else:
        a = np.asarray(sample_weight)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"sample_weight must hold real numbers, got dtype {a.dtype}")
        w = np.array(a, dtype=np.float64, order="C", copy=True)
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be 1-D, got shape {w.shape}")
    if w.shape[0] != n_samples:
        raise ValueError(f"sample_weight has {w.shape[0]} entries, but X has {n_samples} samples")
    if not np.isfinite(w).all():
        bad = int(np.flatnonzero(~np.isfinite(w))[0])
        raise ValueError(f"sample_weight contains NaN or infinity (first at index {bad})")
    if (w < 0).any():
        bad = int(np.flatnonzero(w < 0)[0])
        raise ValueError(f"sample_weight must be >= 0, got sample_weight[{bad}]={float(w[bad])!r}")
    if not (w.sum() > 0):
        raise ValueError("sample_weight sums to zero: at least one sample needs a positive weight")
    return w


def _scaled_distances(rows: np.ndarray, centers: np.ndarray, index: np.ndarray, dtype) -> np.ndarray:
    """Euclidean distances of far rows to the centres without overflowing their squares.

    Each row and the centres are scaled by a power of two (exact) near the
    row's largest magnitude, so the squares stay in range; the distance is
    scaled back. Raises ValueError for a row that is not finite or whose
    distance is beyond `dtype`.
    """
    R = np.asarray(rows, dtype=np.float64)
    finite = np.isfinite(R).all(axis=1)
    if not finite.all():
        raise ValueError(f"X contains NaN or infinity (first at row {int(index[np.flatnonzero(~finite)[0]])})")
    top = np.maximum(np.abs(R).max(axis=1), np.abs(centers).max())
    scale = np.ldexp(1.0, np.frexp(top)[1])[:, None, None]
    diff = R[:, None, :] / scale - centers[None, :, :] / scale
    with np.errstate(over="ignore"):
        d = np.sqrt((diff * diff).sum(axis=2)) * scale[:, :, 0]
    limit = np.finfo(dtype).max
    too_far = ~(d <= limit)
    if too_far.any():
        row = int(index[np.flatnonzero(too_far.any(axis=1))[0]])
        raise ValueError(
            f"the distance of row {row} to the centres is beyond the range of {np.dtype(dtype)}"
            + ("; transform float64 data instead" if np.dtype(dtype) != np.float64 else "")
        )
    return d.astype(dtype)


def _same_partition(a: np.ndarray, b: np.ndarray, n_clusters: int) -> bool:
    """Whether two labelings split the rows the same way, up to renumbering."""
    pairs = np.unique(a * n_clusters + b)
    return pairs.size == np.unique(a).size == np.unique(b).size


class KMeans(ClusteringEstimator):
    """K-means clustering fitted in the compiled core, explainable with NEON.

    Lloyd iterations from greedy k-means++ (or random, or given) seeds,
    keeping the best of ``n_init`` runs, as scikit-learn's
    ``KMeans(algorithm="lloyd")`` does; then :meth:`explain` gives the NEON
    relevance of every feature for each point's cluster assignment
    (Kauffmann et al., IEEE TNNLS 2024).

    Parameters
    ----------
    n_clusters : int, default 8
        Number of clusters K, >= 2 (a NEON logit compares a cluster with its
        competitors).
    init : {"k-means++", "random"}, callable or array of shape (K, n_features)
        "k-means++": greedy k-means++ (each centre the best of
        ``2 + int(log K)`` candidates drawn with probability proportional to
        weight x squared distance to the nearest centre so far); "random":
        K distinct rows drawn with probability proportional to weight;
        a callable ``init(X, n_clusters, random_state)`` returning centres; or
        the initial centres themselves.
    n_init : "auto" or int, default "auto"
        Runs from different seeds; the one with the lowest inertia is kept.
        "auto": 1 for "k-means++" and explicit centres, 10 for "random" and
        callables (scikit-learn's rule). Explicit centres always run once.
    max_iter : int, default 300
        Lloyd iterations per run at most.
    tol : float, default 1e-4
        A run has converged when the squared centre shift (summed over
        clusters) is at most ``tol`` times the mean per-feature variance of X
        (weighted by sample_weight), or when no label changed.
    random_state : None, int, numpy RandomState or Generator
        Seeds of the initialisations; an int makes the fit reproducible
        (bitwise, for any ``n_threads``). None uses numpy's global state.
    n_threads : int, optional
        Threads of the compiled core; None means what OpenMP would use
        (``OMP_NUM_THREADS``, threadpoolctl). Results do not depend on it.

    Attributes
    ----------
    cluster_centers_ : ndarray of float64, shape (K, n_features)
    labels_ : ndarray of int64, shape (n_samples,)
        The nearest centre of every training row (ties to the lowest index),
        equal to ``predict`` on the training data.
    inertia_ : float
        Sum of weighted squared distances of the training rows to their centres.
    n_iter_ : int
        Lloyd iterations of the kept run.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X was a DataFrame with string column names.
    beta_ : float
        Default soft-min stiffness of :meth:`explain`: the paper's heuristic
        1 / (weighted mean assigned logit on the training data), fixed at fit
        time so that a point's explanation does not depend on which other
        points are explained with it.

    Notes
    -----
    Iterations on float32 input compute distances in float32 (as
    scikit-learn does) with float64 sums; the final assignment, ``labels_``,
    ``inertia_`` and :meth:`predict` are computed in float64, and exact ties
    go to the lowest index. Differences from scikit-learn: n_clusters >= 2,
    the convergence tolerance uses the weighted variance, and the
    random draws differ (same algorithm, another generator).
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        n_init="auto",
        max_iter=300,
        tol=1e-4,
        random_state=None,
        n_threads=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.n_threads = n_threads

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cluster_centers_")

    # -- fitting -----------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None, *, progress=False):
        """Compute the clustering.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            float32 and float64 are used as they are (any strides, memory
            maps); integers become float64.
        y : ignored
            Present for pipeline compatibility.
        sample_weight : array-like, shape (n_samples,), optional
            Non-negative weights, not all zero; they weight the seeding
            draws, the centres and the inertia. With k-means++ seeding,
            integer weights are equivalent to repeating rows (init="random"
            draws distinct rows, and repeated copies are distinct rows).
        progress : bool, default False
            Show a progress bar (tqdm) of the Lloyd iterations, up to
            ``n_init * max_iter``.

        Returns
        -------
        self
        """
        n_clusters = _check_int(self.n_clusters, "n_clusters", 2)
        max_iter = _check_int(self.max_iter, "max_iter", 1)
        check_nonnegative_float(self.tol, "tol")
        threads = check_n_threads(self.n_threads)
        rng = _check_random_state(self.random_state)
        init = self.init
        init_is_array = not isinstance(init, str) and not callable(init)
        if isinstance(init, str) and init not in _INITS:
            raise ValueError(f"init={init!r} must be 'k-means++', 'random', a callable or an array of centres")
        if isinstance(self.n_init, str):
            if self.n_init != "auto":
                raise ValueError(f"n_init={self.n_init!r} must be 'auto' or an int >= 1")
            n_init = 1 if (init_is_array or init == "k-means++") else 10
        else:
            n_init = _check_int(self.n_init, "n_init", 1)

        names = feature_names_of(X, strict=True)
        X = _as_matrix(X)
        n_samples, n_features = X.shape
        if n_samples < n_clusters:
            raise ValueError(f"n_samples={n_samples} should be >= n_clusters={n_clusters}.")
        w = _check_sample_weight(sample_weight, n_samples)
        if init_is_array:
            centers_init = self._check_centers(init, n_clusters, n_features, "init")
            if n_init != 1:
                warnings.warn(
                    f"Explicit initial centres passed: performing only one init instead of n_init={n_init}.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                n_init = 1
        elif init == "random" and np.count_nonzero(w) < n_clusters:
            raise ValueError(
                f"init='random' needs at least n_clusters={n_clusters} samples with positive weight, "
                f"got {np.count_nonzero(w)}"
            )

        # One pass: checks that X is finite, gives the scale of the tolerance.
        _, variances = _core.kmeans_moments(X, w, threads)
        tol = float(np.mean(variances)) * float(self.tol)

        with progress_bar(progress, n_init * max_iter, "k-means fit", unit="iteration", unit_scale=False) as bar:
            best = self._runs(
                X,
                w,
                init,
                init_is_array,
                centers_init if init_is_array else None,
                n_init,
                n_clusters,
                n_features,
                max_iter,
                tol,
                threads,
                rng,
                bar,
            )
        centers, labels, inertia, logit_sum, n_iter = best

        self.cluster_centers_ = centers
        self.labels_ = labels
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        self._set_input_features(n_features, names)
        self._neuralized = NeuralizedKMeans(centers)
        self.beta_ = beta_from_mean_logit(logit_sum / float(w.sum()), self._neuralized._fallback_logit_scale())

        distinct = np.unique(labels).size
        if distinct < n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than n_clusters ({n_clusters}). "
                "Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _runs(
        self, X, w, init, init_is_array, centers_init, n_init, n_clusters, n_features, max_iter, tol, threads, rng, bar
    ):
        """The best of `n_init` seeded Lloyd runs, as (centers, labels, inertia, logit_sum, n_iter)."""
        best = None
        for _ in range(n_init):
            if init_is_array:
                centers = centers_init.copy()
            elif callable(init):
                centers = self._check_centers(
                    init(X, n_clusters, random_state=rng), n_clusters, n_features, "the centres returned by init"
                )
            elif init == "random":
                rows = _core.kmeans_random_rows(w, n_clusters, _draw_seed(rng))
                centers = np.ascontiguousarray(X[rows], dtype=np.float64)
            else:
                centers = self._kmeans_plusplus(X, w, n_clusters, _draw_seed(rng), threads)
            run = self._lloyd(X, w, centers, max_iter, tol, threads, bar)
            # A lower inertia wins, unless it is the same partition with other
            # label numbers (the difference is rounding): as scikit-learn does.
            if best is None or (run[2] < best[2] and not _same_partition(run[1], best[1], n_clusters)):
                best = run
        return best

    @staticmethod
    def _check_centers(centers, n_clusters, n_features, name):
        a = np.asarray(centers)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
        if a.shape != (n_clusters, n_features):
            raise ValueError(
                f"{name} has shape {a.shape}, but n_clusters={n_clusters} and X has {n_features} features: "
                f"expected shape ({n_clusters}, {n_features})"
            )
        a = np.array(a, dtype=np.float64, order="C", copy=True)
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinity")
        return a

    @staticmethod
    def _kmeans_plusplus(X, w, n_clusters, seed, threads):
        """Greedy k-means++: one compiled pass per centre (Ctrl-C works between them)."""
        n_local_trials = 2 + int(np.log(n_clusters))
        seeding = _core.KMeansPlusPlus(X.shape[0], X.shape[1], n_clusters, n_local_trials, seed)
        while not seeding.done:
            seeding.step(X, w, threads)
        return seeding.centers

    @staticmethod
    def _lloyd(X, w, centers, max_iter, tol, threads, bar=None):
        """Lloyd iterations from `centers`; one compiled pass per iteration.

        Returns (centers, labels, inertia, logit_sum, n_iter), all for the
        returned centres, from a last pass with predict's assignment (the
        iterations compute in X's precision and do not settle exact ties).
        """
        n = X.shape[0]
        labels = np.full(n, -1, dtype=np.int64)
        new = np.empty_like(centers)
        n_iter = max_iter
        for it in range(1, max_iter + 1):
            step = _core.lloyd_step(X, w, centers, new, labels, None, threads)
            if step["n_changed"] == 0 and step["n_relocated"] == 0:
                n_iter = it  # strict convergence: `centers` are the means of these labels
                break
            centers, new = new, centers
            if step["center_shift"] <= tol:
                n_iter = it
                break
        if bar is not None:
            bar.update(max_iter)  # the run's share of the bar, however early it converged
        final = _core.kmeans_labels(X, w, centers, labels, threads)
        return centers, labels, final["inertia"], final["logit_sum"], n_iter

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X, y=None, sample_weight=None) -> np.ndarray:
        """Fit and return the distances of X to the centres (see :meth:`transform`)."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    # -- using the fitted model ------------------------------------------------
    def predict(self, X) -> np.ndarray:
        """Index of the nearest centre of each row (int64; ties to the lowest index)."""
        X = self._check_X(X)
        return self._neuralized.predict(X, n_threads=self.n_threads)

    def transform(self, X) -> np.ndarray:
        """Euclidean distance of each row to each centre, shape (n_samples, n_clusters), X's dtype."""
        X = self._check_X(X)
        out = np.empty((X.shape[0], self.cluster_centers_.shape[0]), dtype=X.dtype)
        _core.center_distances(X, self.cluster_centers_, out, False, check_n_threads(self.n_threads))
        far = np.flatnonzero(~np.isfinite(out).all(axis=1))
        if far.size:  # squared distances overflowed, or X is not finite
            out[far] = _scaled_distances(X[far], self.cluster_centers_, far, X.dtype)
        return out

    def score(self, X, y=None, sample_weight=None) -> float:
        """Minus the (weighted) inertia of X under the fitted centres: larger is better."""
        X = self._check_X(X)
        w = _check_sample_weight(sample_weight, X.shape[0])
        labels = np.empty(X.shape[0], dtype=np.int64)
        step = _core.kmeans_labels(X, w, self.cluster_centers_, labels, check_n_threads(self.n_threads))
        if not np.isfinite(step["inertia"]):
            raise ValueError(
                "the inertia of X (its weighted sum of squared distances to the centres) is "
                "beyond the float64 range (1.8e308); rows are too far from the centres for a "
                "score: rescale X, or use transform() for the distances"
            )
        return -float(step["inertia"])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the :meth:`transform` outputs: "kmeans0", "kmeans1", ..."""
        self._check_fitted()
        if input_features is not None:
            fitted = getattr(self, "feature_names_in_", None)
            given = np.asarray(input_features, dtype=object)
            if given.shape != (self.n_features_in_,) or (fitted is not None and np.any(given != fitted)):
                raise ValueError("input_features is not equal to feature_names_in_")
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.cluster_centers_.shape[0])], dtype=object)

    def neuralize(self, **kwargs) -> NeuralizedKMeans:
        """The fitted model as a :class:`NeuralizedKMeans` (kwargs go to its constructor, e.g. eps),
        with the fitted ``beta_`` (unless kwargs give a beta) and ``feature_names_in_``:
        it explains, and saves, as this estimator does."""
        self._check_fitted()
        return self._with_fitted_settings(NeuralizedKMeans(self.cluster_centers_, **kwargs))
