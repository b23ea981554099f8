"""The scikit-learn estimator protocol shared by this package's estimators
(:class:`KMeans`, :class:`KernelKMeans`), without importing scikit-learn:
parameters from the constructor signature, ``get_params``/``set_params``, a
repr of the non-default parameters, estimator tags, and the input checks of
a fitted model (feature count and DataFrame feature names as in fit).
"""

from __future__ import annotations

import inspect
import numbers
import warnings

import numpy as np

from .._validation import _describe, as_data_matrix, check_beta, feature_names_of
from ..exceptions import NotFittedError

__all__ = ["ClusteringEstimator"]


def _check_random_state(seed):
    """None -> numpy's global RandomState (as scikit-learn), int -> a new RandomState."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        return np.random.RandomState(int(seed))
    if isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return seed
    raise ValueError(f"random_state={_describe(seed)} must be None, an int, a numpy RandomState or Generator")


def _draw_seed(rng) -> int:
    """One 63-bit seed for the compiled core's std::mt19937_64."""
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1, dtype=np.int64))
    return int(rng.randint(0, 2**63 - 1, dtype=np.int64))


def _as_matrix(X, name: str = "X") -> np.ndarray:
    """as_data_matrix plus what scikit-learn estimators accept or refuse on top:
    object arrays of numbers are converted, complex values are a ValueError."""
    if hasattr(X, "nnz") and hasattr(X, "toarray"):  # scipy.sparse, without importing scipy
        raise TypeError(f"Sparse input is not supported: {name} is a {type(X).__name__}; pass {name}.toarray()")
    if hasattr(X, "dtypes") and hasattr(X, "columns") and hasattr(X, "iloc"):  # a DataFrame
        X = as_data_matrix(X, name)  # column by column: names a text column, converts nullable numbers
    if not isinstance(X, np.ndarray) and hasattr(X, "__array__"):
        X = np.asarray(X)
    dtype = getattr(X, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {dtype}")
    if dtype is not None and np.dtype(dtype).kind == "O":
        X = np.asarray(X, dtype=np.float64)  # TypeError from numpy names the bad value
    elif dtype is None and not isinstance(X, np.ndarray):
        try:
            a = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be array-like of numbers: {exc}") from None
        if a.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {name} has dtype {a.dtype}")
        X = np.asarray(a, dtype=np.float64) if a.dtype.kind == "O" else a
    X = as_data_matrix(X, name)
    if X.shape[0] < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
    if X.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    return X


class ClusteringEstimator:
    """Base of the estimators: subclasses define ``__init__`` (storing every
    parameter under its own name), ``fit`` and ``__sklearn_is_fitted__``; a
    fitted estimator holds its neuralized model in ``_neuralized`` and the
    default stiffness in ``beta_``."""

    # -- scikit-learn estimator protocol ---------------------------------------
    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self")

    def get_params(self, deep=True):
        """Constructor parameters as a dict (``deep`` is accepted for compatibility)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters; returns self. Validation happens in ``fit``."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {self!r}. Valid parameters are: {valid!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = []
        for name in self._get_param_names():
            value, default = getattr(self, name), defaults.get(name)
            same = value is default
            if not same and not isinstance(value, np.ndarray) and not isinstance(default, np.ndarray):
                try:
                    same = type(value) is type(default) and bool(value == default)
                except Exception:  # noqa: BLE001 - exotic __eq__: show the value
                    same = False
            if not same:
                shown.append(f"{name}={'array(...)' if isinstance(value, np.ndarray) else _describe(value)}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_tags__(self):
        # Only scikit-learn calls this, so importing it here costs nothing otherwise.
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type="clusterer",
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
            input_tags=InputTags(two_d_array=True),
        )

    def __sklearn_is_fitted__(self) -> bool:
        raise NotImplementedError

    def _set_input_features(self, n_features: int, names) -> None:
        """Record ``n_features_in_`` and (only for DataFrame input with string
        column names) ``feature_names_in_`` at fit time."""
        self.n_features_in_ = n_features
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def _check_X(self, X) -> np.ndarray:
        """Fitted-model input check: feature count and (DataFrame) feature names as in fit."""
        self._check_fitted()
        names = feature_names_of(X, strict=True)
        fitted = getattr(self, "feature_names_in_", None)
        cls = type(self).__name__
        if names is not None and fitted is None:
            warnings.warn(f"X has feature names, but {cls} was fitted without feature names", UserWarning, stacklevel=3)
        elif names is None and fitted is not None:
            warnings.warn(
                f"X does not have valid feature names, but {cls} was fitted with feature names",
                UserWarning,
                stacklevel=3,
            )
        elif names is not None and fitted is not None and (len(names) != len(fitted) or np.any(names != fitted)):
            unexpected = sorted(set(names) - set(fitted))
            missing = sorted(set(fitted) - set(names))
            detail = ""
            if unexpected:
                detail += f"Feature names unseen at fit time: {unexpected}\n"
            if missing:
                detail += f"Feature names seen at fit time, yet now missing: {missing}\n"
            if not detail:
                detail = "Feature names must be in the same order as they were in fit.\n"
            raise ValueError("The feature names should match those that were passed during fit.\n" + detail)
        X = _as_matrix(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {cls} is expecting {self.n_features_in_} features as input."
            )
        return X

    def explain(self, X, target=None, *, beta=None, out=None, n_threads=None, progress=False):
        """NEON relevance of each feature for the logit of the target cluster.

        The same computation as the fitted model's ``explain`` (a subclass
        keeps it in ``self._neuralized``), except that ``beta=None`` uses the
        fitted ``beta_`` (the stiffness heuristic on the training data)
        instead of the heuristic on X.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        target : None, int or array of int, shape (n_samples,)
            The cluster to explain: None for each row's assigned cluster.
        beta : float > 0, optional
            Soft-min stiffness over competitors; default ``beta_``.
        out : ndarray, shape (n_samples, n_features), optional
            Where to write the relevance (X's working dtype, C-contiguous).
        n_threads : int, optional
            Threads for this call; default the estimator's ``n_threads``.
        progress : bool, default False
            Show a progress bar (tqdm), as the neuralized models' ``explain``.

        Returns
        -------
        Explanation
        """
        self._check_X(X)  # feature names and count, as in predict
        beta = self.beta_ if beta is None else check_beta(beta)
        threads = self.n_threads if n_threads is None else n_threads
        e = self._neuralized.explain(X, target, beta=beta, out=out, n_threads=threads, progress=progress)
        if getattr(self, "feature_names_in_", None) is not None:
            e.feature_names = self.feature_names_in_
        return e

    def _with_fitted_settings(self, model):
        """`model` with this estimator's ``beta_`` (unless set) and feature names,
        so that a neuralized or saved model explains as the estimator does."""
        if model.beta is None:
            model.beta = self.beta_
        model.feature_names_in_ = getattr(self, "feature_names_in_", None)
        return model
