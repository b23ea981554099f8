"""NEON through affine preprocessing: a clustering model fitted on z = A x + b
(scikit-learn ``Pipeline`` of scalers and PCA ending in k-means), explained in
terms of the raw input features x (NEON_SPEC.md section 6).

scikit-learn is never imported: steps are recognised by class name and read
through their fitted attributes, and each extracted map is checked against
the step's own ``transform`` on a few probe rows.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np

from .. import _core
from ..io import persistence
from ._base import NeuralizedModel

__all__ = ["NeuralizedPipeline", "affine_steps", "is_pipeline"]

#: The steps :func:`affine_steps` reads (scikit-learn class names).
SUPPORTED_STEPS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "PCA", "TruncatedSVD")


def is_pipeline(obj) -> bool:
    """A scikit-learn ``Pipeline`` (duck typed: a list of (name, step) pairs)."""
    steps = getattr(obj, "steps", None)
    return isinstance(steps, list) and all(isinstance(s, tuple) and len(s) == 2 for s in steps)


# -- one step -> (A, c, o, B): z = A (x - c) + o, A B = I ----------------------------------
# The centre c is the step's own mean (exact), kept apart from the offset:
# folding it into b = o - A c rounds b at the scale of A c, which for raw data
# with large offsets costs tens of ulps of z (section 6 of NEON_SPEC.md).
def _vector(value, n: int, default: float) -> np.ndarray:
    if value is None:
        return np.full(n, default)
    v = np.asarray(value, dtype=np.float64)
    return np.broadcast_to(v, (n,)).copy() if v.ndim == 0 else v.copy()


def _diagonal(scale, center, offset):
    """z = scale * (x - center) + offset (elementwise)."""
    n = len(scale)
    return (
        np.diag(scale),
        np.asarray(center, dtype=np.float64),
        np.broadcast_to(offset, (n,)).astype(np.float64),
        np.diag(1.0 / scale),
    )


def _step_map(name: str, step):
    """(A, c, o, B) of one fitted step, or raise TypeError naming it."""
    kind = type(step).__name__
    fitted = getattr(step, "n_features_in_", None)
    if kind in SUPPORTED_STEPS and fitted is None:
        raise TypeError(f"pipeline step {name!r} ({kind}) is not fitted")
    n = int(fitted or 0)
    if kind == "StandardScaler":
        mean = _vector(step.mean_ if step.with_mean else None, n, 0.0)
        scale = _vector(step.scale_ if step.with_std else None, n, 1.0)
        return _diagonal(1.0 / scale, mean, 0.0)
    if kind == "RobustScaler":
        center = _vector(step.center_ if step.with_centering else None, n, 0.0)
        scale = _vector(step.scale_ if step.with_scaling else None, n, 1.0)
        return _diagonal(1.0 / scale, center, 0.0)
    if kind == "MaxAbsScaler":
        return _diagonal(1.0 / _vector(step.scale_, n, 1.0), np.zeros(n), 0.0)
    if kind == "MinMaxScaler":
        if getattr(step, "clip", False):
            raise TypeError(f"pipeline step {name!r} (MinMaxScaler with clip=True) is not affine; use clip=False")
        return _diagonal(_vector(step.scale_, n, 1.0), np.zeros(n), _vector(step.min_, n, 0.0))
    if kind in ("PCA", "TruncatedSVD"):
        V = np.asarray(step.components_, dtype=np.float64)
        mean = _vector(getattr(step, "mean_", None) if kind == "PCA" else None, V.shape[1], 0.0)
        A = V
        if kind == "PCA" and step.whiten:
            # As scikit-learn's transform: sqrt(explained variance), floored at eps.
            scale = np.sqrt(np.asarray(step.explained_variance_, dtype=np.float64))
            scale = np.maximum(scale, np.finfo(np.float64).eps)
            A = V / scale[:, None]
        # The step's own pseudo-inverse (its inverse_transform on differences).
        return A, mean, np.zeros(A.shape[0]), np.linalg.pinv(A)
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return None
    raise TypeError(
        f"cannot neuralize pipeline step {name!r} ({kind}): NEON through a pipeline needs affine "
        f"steps z = A x + b ({', '.join(SUPPORTED_STEPS)}); {kind} is not one of them"
    )


def _check_against_transform(name: str, step, A, center, offset) -> None:
    """The extracted map must reproduce the step's transform (catches options
    or versions of scikit-learn whose transform differs)."""
    if not callable(getattr(step, "transform", None)):
        return
    rng = np.random.default_rng(0)
    probe = np.vstack([np.zeros(A.shape[1]), rng.standard_normal((3, A.shape[1]))])
    names = getattr(step, "feature_names_in_", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pandas as pd  # a step fitted on a DataFrame expects one

            given = pd.DataFrame(probe, columns=list(names)) if names is not None else probe
        except ImportError:
            given = probe
        expected = np.asarray(step.transform(given), dtype=np.float64)
    got = (probe - center) @ A.T + offset
    tol = 1e-9 * (np.abs(probe - center) @ np.abs(A).T + np.abs(offset) + 1e-300)
    if expected.shape != got.shape or not np.all(np.abs(expected - got) <= tol):
        raise TypeError(
            f"pipeline step {name!r} ({type(step).__name__}) does not transform as the affine map "
            "read from its attributes (an unsupported option?)"
        )


def _flatten(steps, prefix=""):
    for name, step in steps:
        if is_pipeline(step):
            yield from _flatten(step.steps, f"{prefix}{name}__")
        else:
            yield f"{prefix}{name}", step


def affine_steps(steps):
    """Compose (name, fitted step) pairs into one map: (A, x_center, b, B)
    with z = A (x - x_center) + b and B the composition of the steps'
    pseudo-inverses (a right inverse of A: A B = I). Nested pipelines are
    flattened; "passthrough" and None steps are the identity. All None for
    no steps. Raises TypeError for a step that is not affine, ValueError for
    a step without a right inverse."""
    A = xc = b = B = None
    for name, step in _flatten(steps):
        m = _step_map(name, step)
        if m is None:
            continue
        As, cs, os_, Bs = m
        _check_against_transform(name, step, As, cs, os_)
        err = np.abs(As @ Bs - np.eye(As.shape[0])).max() if As.size else 0.0
        if not err <= 1e-8:
            raise ValueError(
                f"pipeline step {name!r} ({type(step).__name__}) is rank-deficient: its map has no "
                f"right inverse (A B - I up to {err:.2g}), so relevance would not be conserved"
            )
        if A is None:
            A, xc, b, B = As, cs, os_, Bs
        else:
            if As.shape[1] != A.shape[0]:
                raise ValueError(f"pipeline step {name!r} expects {As.shape[1]} features, gets {A.shape[0]}")
            A, b, B = As @ A, As @ (b - cs) + os_, B @ Bs
    return A, xc, b, B


# -- the model ---------------------------------------------------------------------
class NeuralizedPipeline(NeuralizedModel):
    """A neuralized clustering model behind an affine feature map z = A x + b,
    explained on the input features x (NEON_SPEC.md section 6).

    Usually built by :func:`neon_ext.neuralize` from a fitted scikit-learn
    ``Pipeline`` (scalers, PCA, TruncatedSVD, then k-means). ``predict``,
    ``logits`` and ``beta_heuristic`` are those of ``model`` on z; ``explain``
    returns relevance on the columns of x, conserving the logit exactly.
    Note: ``neuralize(pipeline[-1])`` gives the model on z, which expects
    transformed rows (``pipeline[:-1].transform(X)``), not raw ones.

    Parameters
    ----------
    model : NeuralizedKMeans or NeuralizedKernelKMeans
        The clustering model on z.
    A : array-like, shape (n_components, n_features)
    b : array-like, shape (n_components,)
        The map is z = A (x - x_center) + b.
    B : array-like, shape (n_features, n_components), optional
        A right inverse of A (A B = I) that defines the root points
        x - B (z - m); default the Moore-Penrose pseudo-inverse of A. From a
        pipeline: the composition of the steps' own pseudo-inverses.
    x_center : array-like, shape (n_features,), optional
        Default 0. A pipeline's is its first step's mean: kept apart from b
        (not folded into b - A x_center) so that raw data far from the origin
        lose no precision.
    feature_names_in : sequence of str, optional
        Names of the input columns (a pipeline fitted on a DataFrame has them).
    """

    kind = "affine-pipeline"
    # The map; the model on z is stored beside it under "model__" (see _arrays).
    _array_fields: ClassVar[dict] = {"A": np.float64, "b": np.float64, "B": np.float64, "x_center": np.float64}

    def __init__(self, model, A, b, B=None, *, x_center=None, feature_names_in=None):
        from ._prototype_model import PrototypeModel

        A = _matrix(A, "A")
        b = np.ascontiguousarray(b, dtype=np.float64)
        B = np.linalg.pinv(A) if B is None else _matrix(B, "B")
        xc = np.zeros(A.shape[1]) if x_center is None else np.ascontiguousarray(x_center, dtype=np.float64)
        if b.shape != (A.shape[0],) or B.shape != (A.shape[1], A.shape[0]) or xc.shape != (A.shape[1],):
            raise ValueError(
                f"A {A.shape}, b {b.shape}, B {B.shape} and x_center {xc.shape} must be (D_z, D_in), "
                "(D_z,), (D_in, D_z) and (D_in,)"
            )
        if model.n_features_in_ != A.shape[0]:
            raise ValueError(f"the model has {model.n_features_in_} features but A maps to {A.shape[0]}")
        self.model, self.A, self.b, self.B, self.x_center = model, A, b, B, xc
        self.eps = model.eps  # the model's stabilizer (files keep it with the model)
        self.feature_names_in_ = feature_names_in  # validated by the shared property
        if not isinstance(model, PrototypeModel):
            raise TypeError(
                f"NeuralizedPipeline needs a NeuralizedKMeans or NeuralizedKernelKMeans model, "
                f"got {type(model).__name__}"
            )
        self._core = _core.AffineCore(model._core, A, xc, b, B)
        self._beta = model.beta

    @classmethod
    def from_pipeline(cls, pipeline, **kwargs) -> NeuralizedPipeline:
        """The neuralized form of a fitted ``Pipeline`` whose last step is a
        clustering model :func:`neon_ext.neuralize` accepts and whose other
        steps are affine. Keyword arguments go to that model's neuralization."""
        from .neuralize import neuralize

        steps = list(pipeline.steps)
        if not steps:
            raise ValueError("the pipeline has no steps")
        model = neuralize(steps[-1][1], **kwargs)
        A, xc, b, B = affine_steps(steps[:-1])
        if A is None:
            D = model.n_features_in_
            A, xc, b, B = np.eye(D), np.zeros(D), np.zeros(D), np.eye(D)
        return cls(model, A, b, B, x_center=xc, feature_names_in=getattr(pipeline, "feature_names_in_", None))

    # -- properties -----------------------------------------------------------
    @property
    def n_clusters(self) -> int:
        return self.model.n_clusters

    @property
    def n_features_in_(self) -> int:
        return self.A.shape[1]

    @property
    def epsilon(self) -> float:
        return self.model.epsilon

    def __repr__(self) -> str:
        return f"NeuralizedPipeline(n_features={self.n_features_in_}, n_components={self.A.shape[0]}, {self.model!r})"

    def transform(self, X) -> np.ndarray:
        """z = A (x - x_center) + b in float64: the input the clustering model sees."""
        return (self._check_X(X) - self.x_center) @ self.A.T + self.b

    # -- model files: the map, the names, and the model on z under "model__" -------
    def _arrays(self) -> dict:
        kind, inner = persistence._resolve(self.model)
        arrays = {name: np.asarray(getattr(self, name), dtype=dtype) for name, dtype in self._array_fields.items()}
        arrays.update(
            model_kind=np.array(kind),
            model_eps=np.float64(inner.eps),
            model_beta=np.float64(np.nan if inner.beta is None else inner.beta),
        )
        for name, value in persistence._KINDS[kind][1](inner).items():
            arrays["model__" + name] = value
        return arrays

    @classmethod
    def _from_arrays(cls, arrays, *, eps, beta):
        kind = str(arrays["model_kind"])
        if kind not in persistence._KINDS or kind == cls.kind:
            raise ValueError(f"unknown model kind {kind!r} behind the pipeline")
        inner_beta = float(arrays["model_beta"])
        inner = persistence._KINDS[kind][2](
            {k[len("model__") :]: v for k, v in arrays.items() if k.startswith("model__")},
            eps=float(arrays["model_eps"]),
            beta=None if np.isnan(inner_beta) else inner_beta,
        )
        model = cls(inner, arrays["A"], arrays["b"], arrays["B"], x_center=arrays["x_center"])
        model.beta = beta
        return model

    # -- pickling: the inner model pickles itself; the compiled core is rebuilt ----
    def __getstate__(self):
        return {
            "model": self.model,
            "A": self.A,
            "b": self.b,
            "B": self.B,
            "x_center": self.x_center,
            "feature_names_in": self.feature_names_in_,
            "beta": self.beta,
        }

    def __setstate__(self, state):
        self.__init__(
            state["model"],
            state["A"],
            state["b"],
            state["B"],
            x_center=state["x_center"],
            feature_names_in=state["feature_names_in"],
        )
        self.beta = state["beta"]

    # -- the shared model interface ---------------------------------------------
    def explain_competitors(self, X, target=None, *, beta=None, n_threads=None):
        raise NotImplementedError(
            "explain_competitors is not available for pipelines; explain the model on "
            "transformed rows (model.model, model.transform(X)) for a z-space breakdown"
        )

    def _block_rows(self, n_features: int) -> int:
        return self._core.block_rows

    @property
    def _n_prototypes(self) -> int:
        return self.model._n_prototypes

    def _fallback_logit_scale(self) -> float:
        return self.model._fallback_logit_scale()


def _matrix(a, name: str) -> np.ndarray:
    m = np.ascontiguousarray(a, dtype=np.float64)
    if m.ndim != 2 or not m.size:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return m
