"""What every neuralized clustering model shares: prediction, logits, the beta
heuristic and the NEON explanation, driven chunk by chunk through a compiled
core with a common ``evaluate`` signature.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .. import _core
from .._chunks import chunk_rows, row_chunks
from .._progress import progress_bar
from .._validation import (
    allocate,
    allocate_all,
    as_data_matrix,
    check_beta,
    check_n_threads,
    check_out,
    check_targets,
    feature_names_of,
)
from ..explanation import Explanation
from ..io import persistence

__all__ = ["DEFAULT_EPS", "NeuralizedModel", "beta_from_mean_logit"]

DEFAULT_EPS = 1e-12  # the midpoint rule's stabilizer, relative to the prototypes' spread


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


def _mean_without_overflow(values: np.ndarray) -> float:
    """The float64 mean of finite values, also when their sum overflows
    (logits near the float64 limit): then of the values scaled by the largest."""
    if not values.size:
        return 0.0
    with np.errstate(over="ignore"):
        mean = float(np.mean(values, dtype=np.float64))
    if np.isfinite(mean):
        return mean
    scale = float(np.max(np.abs(values)))
    return float(np.mean(values / scale, dtype=np.float64)) * scale


class NeuralizedModel:
    """Base of the neuralized models (:class:`NeuralizedKMeans`,
    :class:`NeuralizedKernelKMeans`).

    A subclass sets ``self._core`` (a compiled core with ``evaluate``) and
    defines ``n_clusters``, ``n_features_in_``, ``_n_prototypes`` (centroids
    or support vectors), ``_block_rows(n_features)`` and
    ``_fallback_logit_scale()``.

    It also declares what defines it, for model files and pickles alike:
    ``kind`` (its name in a model file) and ``_array_fields`` (attribute ->
    dtype of the arrays that, with ``eps`` and ``beta``, rebuild it; each is
    also a constructor parameter of the same name). Declaring ``kind``
    registers the class with :mod:`neon_ext.io.persistence`.
    """

    if TYPE_CHECKING:  # read-only properties of each subclass

        @property
        def n_clusters(self) -> int: ...

        @property
        def n_features_in_(self) -> int: ...

    _core: Any  # the compiled core (_core.PrototypeCore, or _core.AffineCore of a pipeline)
    eps: float
    kind: ClassVar[str]
    _array_fields: ClassVar[dict]
    _beta = None
    _feature_names_in = None

    @property
    def feature_names_in_(self):
        """Names of the features the model was fitted on (ndarray of str), or None.

        Set from a fitted scikit-learn model or estimator (``feature_names_in_``),
        a CSV header or DataFrame columns at fit time; model files keep them.
        With names, a DataFrame's columns are matched by name: the same names
        in another order are reordered, missing or unknown names are refused;
        an input without names is used as it is, with a warning (as
        scikit-learn does).
        """
        return self._feature_names_in

    @feature_names_in_.setter
    def feature_names_in_(self, names) -> None:
        if names is None:
            self._feature_names_in = None
            return
        a = np.asarray(names, dtype=object)
        if a.ndim != 1 or a.shape[0] != self.n_features_in_:
            raise ValueError(f"feature_names_in_ must hold {self.n_features_in_} names, got shape {a.shape}")
        if not all(isinstance(v, str) for v in a):
            raise TypeError("feature_names_in_ must hold strings")
        if len(set(a)) != len(a):
            dup = sorted({v for v in a if list(a).count(v) > 1})
            raise ValueError(f"feature_names_in_ has duplicate names: {dup}")
        a.setflags(write=False)
        self._feature_names_in = a

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            persistence.register_kind(cls.kind, cls, cls._arrays, cls._from_arrays)

    @property
    def beta(self):
        """A fixed soft-min stiffness used by :meth:`explain` when it is given
        none; None (the default) means the heuristic on the explained data.
        Model files keep it (the command line stores the heuristic on the
        training data)."""
        return self._beta

    @beta.setter
    def beta(self, value) -> None:
        self._beta = None if value is None else check_beta(value)

    @property
    def epsilon(self) -> float:
        """The absolute stabilizer of the midpoint rule: ``eps`` times
        4 max_j ||p_j - mean(p)||^2 over the prototypes p (centroids or
        support vectors); pairs with |h| <= epsilon contribute nothing."""
        return self._core.epsilon

    def save(self, path) -> None:
        """Write the model to a ``.npz`` file; read it back with :func:`neon_ext.load`."""
        persistence.save(self, path)

    # -- what defines the model: one set of arrays for files and pickles ------------
    def _arrays(self) -> dict:
        """The model's own arrays (``_array_fields``), as a model file stores them."""
        return {name: np.asarray(getattr(self, name), dtype=dtype) for name, dtype in self._array_fields.items()}

    @classmethod
    def _from_arrays(cls, arrays, *, eps, beta):
        """The model from the arrays of :meth:`_arrays` (validated by the
        constructor); a missing one raises KeyError with its name."""
        fields = {}
        for name in cls._array_fields:
            a = arrays[name]
            fields[name] = a[()] if isinstance(a, np.ndarray) and a.ndim == 0 else a  # 0-d: the number
        model = cls(**fields, eps=eps)
        model.beta = beta
        return model

    def __getstate__(self):
        # The compiled core is not pickled; it is rebuilt from the arrays.
        # Attributes set after construction (from_labels' fidelity_, ...) travel along.
        own = {*self._array_fields, "eps", "_beta", "_core"}
        state = {k: v for k, v in vars(self).items() if k not in own}
        state.update(self._arrays(), eps=self.eps, beta=self.beta)
        return state

    def __setstate__(self, state):
        state = dict(state)
        model = self._from_arrays(state, eps=state.pop("eps"), beta=state.pop("beta", None))
        for name in self._array_fields:
            del state[name]
        self.__dict__.update(vars(model))
        self.__dict__.update(state)

    # -- model outputs ----------------------------------------------------------
    def predict(self, X, *, n_threads=None) -> np.ndarray:
        """The cluster each row is assigned to: the nearest one in the model's
        distance (squared Euclidean to the centroid for k-means, soft-min
        distance for kernel k-means); ties go to the lowest index."""
        X = self._check_X(X)
        assigned = allocate((X.shape[0],), np.int64, "assigned")
        self._run(X, n_threads=n_threads, assigned=assigned)
        return assigned

    def logits(self, X, *, out=None, n_threads=None) -> np.ndarray:
        """f_c(x) for every row and every cluster c, shape (n_samples, n_clusters).

        Row-wise, the assigned cluster has the only positive entry (the gap
        between the second-nearest and the nearest cluster's distance); the
        others are <= 0. The dtype is X's (float32 or float64).
        """
        return self._per_cluster(X, out, n_threads, "logits_all")

    def beta_heuristic(self, X, *, n_threads=None, progress=False) -> float:
        """The paper's default stiffness: 1 / mean of the assigned logits on X.

        If that mean is 0 (all points on boundaries, or X empty) the fallback
        is 1 / the model's own scale of logits (for k-means, the mean squared
        distance between distinct centroid pairs).
        """
        X = self._check_X(X)
        with progress_bar(progress, X.shape[0], "NEON beta") as bar:
            return self._beta_heuristic(X, n_threads, bar)

    def _beta_heuristic(self, X, n_threads, bar) -> float:
        logit = allocate((X.shape[0],), X.dtype, "logit")
        self._run(X, n_threads=n_threads, logit=logit, bar=bar)
        return beta_from_mean_logit(_mean_without_overflow(logit), self._fallback_logit_scale())

    def explain(self, X, target=None, *, beta=None, out=None, n_threads=None, progress=False) -> Explanation:
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
            advanced between chunks of rows, never inside the compiled loop.

        Returns
        -------
        Explanation
        """
        given_names = feature_names_of(X)
        is_frame = getattr(X, "columns", None) is not None and not isinstance(X, np.ndarray)
        index = getattr(X, "index", None) if is_frame else None  # rows join back to the DataFrame
        X = self._check_X(X)
        names = self.feature_names_in_ if self.feature_names_in_ is not None else given_names
        n = X.shape[0]
        targets, fixed = check_targets(target, n, self.n_clusters)
        # Every output this call allocates, checked against the memory together.
        wanted = [((n,), X.dtype, "logit"), ((n,), np.int64, "assigned")]
        if out is None:
            wanted.insert(0, (X.shape, X.dtype, "relevance"))
        allocated = allocate_all(wanted)
        relevance = allocated.pop(0) if out is None else check_out(out, X.shape, X.dtype, "out")
        logit, assigned = allocated
        self._check_no_overlap(X, relevance)
        beta = check_beta(beta) if beta is not None else self.beta
        with progress_bar(progress, n, "NEON explain" if beta is not None else "NEON beta") as bar:
            if beta is None:  # a first pass for the heuristic, then the bar counts the rows again
                beta = self._beta_heuristic(X, n_threads, bar)
                bar.reset(total=n)
                bar.set_description("NEON explain")
            self._run(
                X,
                n_threads=n_threads,
                targets=targets,
                fixed=fixed,
                beta=beta,
                assigned=assigned,
                logit=logit,
                relevance=relevance,
                bar=bar,
            )
        if targets is not None:
            target_out = targets
        elif fixed >= 0:
            target_out = np.full(n, fixed, dtype=np.int64)
        else:
            target_out = assigned
        return Explanation(
            relevance, logit, target_out, assigned, beta, names, data=X, n_clusters=self.n_clusters, index=index
        )

    def explain_competitors(self, X, target=None, *, beta=None, n_threads=None) -> np.ndarray:
        """Relevance split by the competitor it argues against: "why c and not k?".

        NEON first shares the logit f_c(x) among the competitors k != c (the
        soft-min shares R_k, NEON_SPEC.md), then passes each share down to
        the features. This keeps the competitors apart: ``out[i, k]`` is the
        part of row i's relevance that argues for c against k. The slices sum
        over k to :meth:`explain`'s relevance (same target and beta) and over
        features to R_k; the target's own slice is 0.

        Computed in float64 numpy from the equations, for a handful of rows:
        the result has n_samples x n_clusters x n_features entries (refused
        above 2**26).

        Parameters
        ----------
        X, target, n_threads
            As in :meth:`explain`.
        beta : float > 0, optional
            As in :meth:`explain`. To break down rows of an explanation ``e``
            pass ``beta=e.beta`` (the heuristic on a few rows differs from
            the heuristic on all of them).

        Returns
        -------
        ndarray of float64, shape (n_samples, n_clusters, n_features)
        """
        from .competitors import competitor_relevance

        X = self._check_X(X)
        targets, fixed = check_targets(target, X.shape[0], self.n_clusters)
        if beta is not None:
            beta = check_beta(beta)
        elif self.beta is not None:
            beta = self.beta
        else:
            beta = self.beta_heuristic(X, n_threads=n_threads)
        if targets is None:
            targets = np.full(X.shape[0], fixed, dtype=np.int64) if fixed >= 0 else self.predict(X, n_threads=n_threads)
        return competitor_relevance(self, X, targets, beta)

    # -- internals ------------------------------------------------------------
    def _check_X(self, X) -> np.ndarray:
        return as_data_matrix(self._align_by_name(X), "X", self.n_features_in_)

    def _align_by_name(self, X):
        """X with its columns in the model's order when both have feature names."""
        fitted = self.feature_names_in_
        if fitted is None:
            return X
        names = feature_names_of(X)
        cls = type(self).__name__
        if names is None:
            if getattr(X, "columns", None) is None or isinstance(X, np.ndarray):
                warnings.warn(
                    f"X does not have valid feature names, but {cls} was fitted with feature "
                    "names; its columns are taken in the fitted order",
                    UserWarning,
                    stacklevel=4,
                )
            return X
        if list(names) == list(fitted):
            return X
        unseen = [n for n in names if n not in set(fitted)]
        missing = [n for n in fitted if n not in set(names)]
        if unseen or missing or len(names) != len(fitted):
            detail = ""
            if unseen:
                detail += f" Feature names unseen at fit time: {unseen}."
            if missing:
                detail += f" Feature names seen at fit time, yet now missing: {missing}."
            raise ValueError(f"The feature names of X do not match those {cls} was fitted with.{detail}")
        return X[list(fitted)]  # the same names in another order: take the columns by name

    @staticmethod
    def _check_no_overlap(X, out):
        if np.may_share_memory(X, out):
            raise ValueError("out must not share memory with X")

    def _per_cluster(self, X, out, n_threads, output: str) -> np.ndarray:
        """One (n_samples, n_clusters) output of the core, in X's dtype."""
        X = self._check_X(X)
        out = check_out(out, (X.shape[0], self.n_clusters), X.dtype)
        self._check_no_overlap(X, out)
        self._run(X, n_threads=n_threads, **{output: out})
        return out

    def _block_rows(self, n_features: int) -> int:
        """Rows per block of the compiled kernel."""
        raise NotImplementedError

    @property
    def _n_prototypes(self) -> int:
        """Centroids or support vectors: the points every row is compared with."""
        raise NotImplementedError

    def _chunk_step(self, n_features: int, n_threads: int = 1) -> int:
        """Rows per compiled call, by the one rule of :mod:`neon_ext._chunks`:
        a row's work is counted as the products of its distances to every
        prototype (n_features x prototypes), for every model alike."""
        return chunk_rows(self._block_rows(n_features), n_features, n_features * self._n_prototypes, n_threads)

    def _fallback_logit_scale(self) -> float:
        raise NotImplementedError

    def _run(
        self,
        X,
        *,
        n_threads,
        targets=None,
        fixed=-1,
        beta=1.0,
        assigned=None,
        logit=None,
        logits_all=None,
        relevance=None,
        bar=None,
        **extra,
    ):
        """Call the compiled kernel chunk by chunk on row slices of every array.

        ``extra`` are further per-row arrays (or None) passed to the core's
        ``evaluate`` as keywords, sliced like the others. ``bar`` (a progress
        bar) is advanced by the rows of each finished chunk.
        """
        threads = check_n_threads(n_threads)
        step = self._chunk_step(X.shape[1], threads or _core.default_thread_count())

        def part(a, lo, hi):
            return None if a is None else a[lo:hi]

        for lo, hi in row_chunks(X.shape[0], step):
            self._core.evaluate(
                X[lo:hi],
                part(targets, lo, hi),
                fixed,
                beta,
                part(assigned, lo, hi),
                part(logit, lo, hi),
                part(logits_all, lo, hi),
                part(relevance, lo, hi),
                threads,
                lo,
                **{k: part(v, lo, hi) for k, v in extra.items()},
            )
            if bar is not None:
                bar.update(hi - lo)
