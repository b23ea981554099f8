"""Baseline attributions of cluster logits, to compare NEON against.

Every method here explains the same quantity as NEON, the logit f_c(x) of a
target cluster c of a neuralized model (NEON_SPEC.md), and returns an array of
shape (n_samples, n_features) in float64:

``neon``
    The model's own :meth:`explain` (the method under test).
``sensitivity``
    (d f_c / d x_i)^2, the squared gradient (Simonyan et al., 2014).
``gradient_x_input``
    x_i * d f_c / d x_i (Shrikumar et al., 2016). It depends on where the
    origin of the data is; on standardized data the origin is the mean.
``occlusion``
    f_c(x) - f_c(x with feature i replaced by the reference), one feature at
    a time (Zeiler & Fergus, 2014).
``shapley``
    Shapley values of the game v(S) = f_c(x_S, r_{not S}) (features outside S
    set to the reference r), estimated by permutation sampling (Strumbelj &
    Kononenko, 2014) with a fixed budget and seed; antithetic pairs (each
    permutation and its reverse) by default. Each sampled permutation gives
    attributions summing exactly to f_c(x) - f_c(r), so the estimate does too.
``kernel_shap``
    shap's KernelExplainer (Lundberg & Lee, 2017) with the reference as its
    single background row, when the optional ``shap`` package is installed.
    Slow: meant for a handful of points.

Gradients are exact, not finite differences: f_c = min_{k != c} h_k, so on
the region where competitor k* attains the min the gradient is that of h_{k*}
(for k-means 2 (mu_c - mu_{k*}); for kernel k-means 2 (ubar_c(x) - ubar_{k*}(x))
with the LME pools' softmin-weighted means ubar; see ``models._ops``). On a
tie between competitors the lowest-index competitor's gradient is used.

The reference (``reference=``) of occlusion, Shapley sampling and the
removal curves of :mod:`neon_ext.evaluate` is one of

- ``"mean"``: the per-feature mean of the X passed in (pass the training mean
  as an array if X is a small subsample),
- ``"competitor"``: per point, the prototype of its nearest competitor
  cluster k* (k-means: the centroid mu_{k*}; kernel k-means: ubar_{k*}(x), the
  kernel-weighted mean of k*'s support vectors as seen from x),
- an array of shape (n_features,) or (n_samples, n_features).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._chunks import row_chunks, rows_per_chunk
from .._validation import as_data_matrix, check_int
from ..models._ops import ModelOps, model_ops

__all__ = [
    "METHODS",
    "attribute",
    "gradient_x_input",
    "kernel_shap",
    "logit_gradient",
    "neon",
    "occlusion",
    "reference_points",
    "sensitivity",
    "shapley_sampling",
]

# float64 elements of perturbed inputs handled at once (16 MiB)
_BLOCK_ELEMENTS = 1 << 21


def _row_blocks(n_rows: int, cost_per_row: int):
    """(start, stop) ranges with about _BLOCK_ELEMENTS / cost_per_row rows each."""
    return row_chunks(n_rows, rows_per_chunk(_BLOCK_ELEMENTS, cost_per_row))


def _prepare(model, X, target):
    ops = model if isinstance(model, ModelOps) else model_ops(model)
    X = as_data_matrix(X, "X", ops.n_features)
    targets = ops.resolve_targets(X, target)
    return ops, X, targets


def _check_seed(seed):
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative int or None, got {seed!r}")
    return int(seed)


_STREAMS = {"shapley": 0, "removal": 1}


def _point_rng(seed, index: int, stream: str) -> np.random.Generator:
    """A generator for one point: depends only on (seed, row index, stream), not on
    blocking; the streams keep Shapley orders and random removal orders independent."""
    if seed is None:
        return np.random.default_rng()
    entropy = seed.entropy if isinstance(seed, np.random.SeedSequence) else seed
    # numpy's stubs type SeedSequence.entropy as possibly None; a constructed one never is.
    return np.random.default_rng([_STREAMS[stream], index, entropy])  # type: ignore[arg-type]


# -- gradients ------------------------------------------------------------------
def logit_gradient(model, X, target=None):
    """Exact gradient of the target logit, with the logit itself.

    Parameters
    ----------
    model : NeuralizedKMeans, NeuralizedKernelKMeans or a fitted model
        :func:`neon_ext.neuralize` accepts.
    X : array-like, shape (n_samples, n_features)
    target : None, int or array of int
        The explained cluster; None for each row's assigned cluster.

    Returns
    -------
    logit : ndarray, shape (n_samples,)
        f_c(x) computed in float64 from the model's parameters.
    gradient : ndarray, shape (n_samples, n_features)
        d f_c / d x (the lowest-index competitor's on a tie).
    """
    ops, X, targets = _prepare(model, X, target)
    n, d = X.shape
    logit = np.empty(n)
    grad = np.empty((n, d))
    for lo, hi in _row_blocks(n, d + ops.n_clusters):
        logit[lo:hi], grad[lo:hi], _ = ops.geometry(X[lo:hi], targets[lo:hi])
    return logit, grad


def reference_points(model, X, reference="mean", target=None) -> np.ndarray:
    """The removal reference as a float64 array, shape (n_features,) or (n_samples, n_features).

    See the module docstring for the options.
    """
    ops, X, targets = _prepare(model, X, target)
    return _reference(ops, X, targets, reference)


def _reference(ops: ModelOps, X: np.ndarray, targets: np.ndarray, reference) -> np.ndarray:
    n, d = X.shape
    if isinstance(reference, str):
        if reference == "mean":
            if n == 0:
                raise ValueError('reference="mean" needs at least one row in X')
            return X.mean(0, dtype=np.float64)
        if reference == "competitor":
            out = np.empty((n, d))
            for lo, hi in _row_blocks(n, d + ops.n_clusters):
                out[lo:hi] = ops.geometry(X[lo:hi], targets[lo:hi])[2]
            return out
        raise ValueError(f'reference={reference!r} must be "mean", "competitor" or an array')
    r = as_data_matrix(np.atleast_2d(reference), "reference", d).astype(np.float64)
    if not np.isfinite(r).all():
        raise ValueError("reference contains NaN or infinity")
    if np.ndim(reference) == 1:
        return r[0]
    if r.shape[0] != n:
        raise ValueError(f"reference must have shape ({d},) or ({n}, {d}), got {np.shape(reference)}")
    return r


def _reference_rows(ref: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Rows lo:hi of a reference, shape (hi - lo, D) (broadcast when it is one point)."""
    return np.broadcast_to(ref, (hi - lo, ref.shape[-1])) if ref.ndim == 1 else ref[lo:hi]


# -- the methods ----------------------------------------------------------------
def neon(model, X, target=None, *, beta=None, n_threads=None) -> np.ndarray:
    """NEON relevance (the model's ``explain``), as float64."""
    ops, X, targets = _prepare(model, X, target)
    e = ops.model.explain(X, targets, beta=beta, n_threads=n_threads)
    return np.asarray(e.relevance, dtype=np.float64)


def sensitivity(model, X, target=None) -> np.ndarray:
    """Squared exact gradient of the target logit, (d f_c / d x_i)^2."""
    return logit_gradient(model, X, target)[1] ** 2


def gradient_x_input(model, X, target=None) -> np.ndarray:
    """Exact gradient of the target logit times the input, x_i d f_c / d x_i."""
    ops, X, targets = _prepare(model, X, target)
    grad = logit_gradient(ops, X, targets)[1]
    grad *= X
    return grad


def occlusion(model, X, target=None, *, reference="mean") -> np.ndarray:
    """f_c(x) - f_c(x with x_i replaced by the reference's i-th value), per feature.

    Costs n_features + 1 logit evaluations per point, done with the model's
    compiled ``logits`` on blocks of perturbed copies.
    """
    ops, X, targets = _prepare(model, X, target)
    n, d = X.shape
    ref = _reference(ops, X, targets, reference)
    out = np.empty((n, d))
    eye = np.eye(d, dtype=bool)
    for lo, hi in _row_blocks(n, d * (d + 1)):
        x = np.asarray(X[lo:hi], dtype=np.float64)
        r = _reference_rows(ref, lo, hi)
        # copy j of point b has feature j replaced: Z[b, j, i] = r[b, i] if i == j else x[b, i]
        Z = np.where(eye[None], r[:, None, :], x[:, None, :])
        t = targets[lo:hi]
        f = ops.target_logits(x, t)
        f_occ = ops.target_logits(Z.reshape(-1, d), np.repeat(t, d)).reshape(hi - lo, d)
        out[lo:hi] = f[:, None] - f_occ
    return out


def shapley_sampling(
    model, X, target=None, *, reference="mean", n_permutations=32, antithetic=True, seed=0
) -> np.ndarray:
    """Shapley values of v(S) = f_c(x_S, r_rest), estimated from sampled permutations.

    For each sampled order pi of the features, features are switched from the
    reference r to x one by one; the logit's change at each switch is that
    feature's marginal contribution, and the estimate is the mean over the
    orders. Costs n_permutations * (n_features - 1) + 2 logit evaluations per
    point (the all-reference and all-x endpoints are shared by every order).

    Parameters
    ----------
    n_permutations : int
        Orders sampled per point (the budget); even when ``antithetic``.
    antithetic : bool
        Pair each sampled order with its reverse (a classic variance
        reduction: for a function that is additive up to pairwise terms the
        pair's average is exact).
    seed : int, SeedSequence or None
        Point n's orders are drawn from a generator seeded with (n, seed):
        results do not depend on how rows are blocked. None: not reproducible.
    """
    ops, X, targets = _prepare(model, X, target)
    n_perm = check_int(n_permutations, "n_permutations", 1)
    if antithetic and n_perm % 2:
        raise ValueError(f"n_permutations={n_perm} must be even with antithetic=True")
    seed = _check_seed(seed)
    n, d = X.shape
    ref = _reference(ops, X, targets, reference)
    out = np.empty((n, d))
    if d == 1:  # a single feature gets everything: v({0}) - v({})
        for lo, hi in _row_blocks(n, 2):
            x, t = np.asarray(X[lo:hi], dtype=np.float64), targets[lo:hi]
            out[lo:hi, 0] = ops.target_logits(x, t) - ops.target_logits(_reference_rows(ref, lo, hi), t)
        return out
    steps = np.arange(1, d)  # interior points of each path: 1 .. d-1 features switched
    for lo, hi in _row_blocks(n, n_perm * (d - 1) * d):
        b = hi - lo
        x = np.asarray(X[lo:hi], dtype=np.float64)
        r = np.ascontiguousarray(_reference_rows(ref, lo, hi))
        t = targets[lo:hi]
        # rank[b, p, i] = position of feature i in order p of point b
        rank = np.empty((b, n_perm, d), dtype=np.int64)
        for j in range(b):
            rng = _point_rng(seed, lo + j, "shapley")
            n_draw = n_perm // 2 if antithetic else n_perm
            orders = rng.permuted(np.tile(np.arange(d), (n_draw, 1)), axis=1)
            if antithetic:
                orders = np.concatenate([orders, orders[:, ::-1]])
            rank[j] = np.argsort(orders, axis=1)
        # path step s has the features of rank < s taken from x
        Z = np.where(rank[:, :, None, :] < steps[None, None, :, None], x[:, None, None, :], r[:, None, None, :])
        v_mid = ops.target_logits(Z.reshape(-1, d), np.repeat(t, n_perm * (d - 1)))
        v = np.empty((b, n_perm, d + 1))
        v[:, :, 1:d] = v_mid.reshape(b, n_perm, d - 1)
        v[:, :, 0] = ops.target_logits(r, t)[:, None]
        v[:, :, d] = ops.target_logits(x, t)[:, None]
        # the feature of rank s contributes v[s + 1] - v[s]
        marginal = np.take_along_axis(np.diff(v, axis=2), rank, axis=2)
        out[lo:hi] = marginal.mean(axis=1)
    return out


def kernel_shap(model, X, target=None, *, reference="mean", nsamples=512, seed=0) -> np.ndarray:
    """shap's KernelExplainer, one point at a time, with the reference as background.

    Needs the optional ``shap`` package (imported here, not before). shap
    draws coalitions from numpy's global generator; it is seeded with ``seed``
    for the call and restored afterwards, so results are reproducible and the
    caller's global random state is left as it was.
    """
    ops, X, targets = _prepare(model, X, target)
    nsamples = check_int(nsamples, "nsamples", 1)
    seed = _check_seed(seed)
    with warnings.catch_warnings():
        # shap's import emits deprecation warnings from its plotting dependencies
        warnings.simplefilter("ignore")
        import shap
    n, d = X.shape
    ref = _reference(ops, X, targets, reference)
    out = np.empty((n, d))
    state = np.random.get_state()
    try:
        for j in range(n):
            np.random.seed(None if seed is None else (seed + j) % 2**32)
            c = int(targets[j])
            background = np.array(_reference_rows(ref, j, j + 1))

            def f(Z, c=c):
                Z = np.ascontiguousarray(Z, dtype=np.float64)
                return ops.target_logits(Z, np.full(Z.shape[0], c, dtype=np.int64))

            explainer = shap.KernelExplainer(f, background)
            phi = explainer.shap_values(
                np.asarray(X[j : j + 1], dtype=np.float64), nsamples=nsamples, l1_reg=False, silent=True
            )
            out[j] = np.asarray(phi, dtype=np.float64).reshape(-1)[:d]
    finally:
        np.random.set_state(state)
    return out


METHODS = {
    "neon": neon,
    "sensitivity": sensitivity,
    "gradient_x_input": gradient_x_input,
    "occlusion": occlusion,
    "shapley": shapley_sampling,
    "kernel_shap": kernel_shap,
}


def attribute(model, X, method: str, target=None, **options) -> np.ndarray:
    """Attributions of the target logit by one of :data:`METHODS`, by name.

    ``options`` go to the method's function (``beta``, ``reference``,
    ``n_permutations``, ``antithetic``, ``seed``, ``nsamples``).
    """
    try:
        fn = METHODS[method]
    except (KeyError, TypeError):
        raise ValueError(f"unknown attribution method {method!r}; choose from {sorted(METHODS)}") from None
    return fn(model, X, target, **options)
