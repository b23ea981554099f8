"""Are the explanations right? Feature-removal ("pixel-flipping") evaluation.

An attribution is faithful when the features it calls most relevant are the
ones the model's output actually depends on. The classic test (Bach et al.,
2015; Samek et al., 2017) removes features one at a time in order of
decreasing relevance -- "most relevant first", MoRF -- replacing each by a
reference value, and records the explained output after every step: the
faster the curve falls, the better. Removing the least relevant first
(LeRF) should keep the output up as long as possible, and a random order is
the floor both are measured against.

Here the output is the cluster logit f_c(x) of the target cluster c (by
default the assigned one), the same quantity NEON and every baseline in
:mod:`neon_ext.baselines` explain, computed by the model's compiled
``logits``. Curves are averaged over points and divided by the mean absolute
initial logit, so for assigned clusters they start at 1; a curve below 0
means the average point has left its cluster. The area under the curve over the removed fraction in [0, 1]
(trapezoid rule) summarizes it: lower MoRF area and higher LeRF area are
better.

>>> import neon_ext as nx
>>> from neon_ext.evaluate import compare
>>> result = compare(nx.NeuralizedKMeans(C), X, reference="mean")   # doctest: +SKIP
>>> print(result.to_markdown())                                      # doctest: +SKIP
>>> result.plot()                                                    # doctest: +SKIP

Memory: points are processed in blocks whose perturbed copies hold about
two million float64 values, so no N x D x D tensor is ever formed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import numpy as np

from .._validation import as_data_matrix, check_int
from ..models._ops import ModelOps, model_ops
from .baselines import (
    METHODS,
    _check_seed,
    _point_rng,
    _reference,
    _reference_rows,
    _row_blocks,
)

__all__ = ["DEFAULT_METHODS", "Comparison", "compare", "curve_area", "removal_curves"]

logger = logging.getLogger(__name__)

DEFAULT_METHODS = ("neon", "sensitivity", "gradient_x_input", "occlusion", "shapley")
ORDERS = ("morf", "lerf", "random")


def curve_area(curve) -> float:
    """Area under a curve sampled at removed fractions 0, 1/D, ..., 1 (trapezoid rule)."""
    c = np.asarray(curve, dtype=np.float64)
    if c.ndim != 1 or c.size < 2:
        raise ValueError(f"curve must be 1-D with at least 2 values, got shape {c.shape}")
    return float((0.5 * (c[0] + c[-1]) + c[1:-1].sum()) / (c.size - 1))


def _removal_ranks(relevance: np.ndarray, order: str) -> np.ndarray:
    """rank[b, i] = the step (0-based) at which feature i of point b is removed."""
    key = -relevance if order == "morf" else relevance
    return np.argsort(np.argsort(key, axis=1, kind="stable"), axis=1)


def removal_curves(
    model, X, relevance=None, *, order="morf", target=None, reference="mean", n_repeats=1, seed=0
) -> np.ndarray:
    """The target logit of every point after 0, 1, ..., D features are removed.

    Parameters
    ----------
    model : NeuralizedKMeans, NeuralizedKernelKMeans or anything
        :func:`neon_ext.neuralize` accepts.
    X : array-like, shape (n_samples, n_features)
    relevance : array-like, shape (n_samples, n_features)
        The attribution that sets the order; unused for ``order="random"``.
    order : {"morf", "lerf", "random"}
        Most relevant first (ties: lower feature index first), least relevant
        first, or a random order per point.
    target : None, int or array of int
        The cluster whose logit is tracked; None for each row's assigned one.
    reference : "mean", "competitor" or array
        What a removed feature is replaced by (see :mod:`neon_ext.baselines`).
        "mean" is the mean of this X; pass the training mean as an array when
        X is a subsample.
    n_repeats : int
        For ``order="random"``: random orders per point, averaged.
    seed : int or None
        For ``order="random"``: point n's orders depend only on (n, seed).

    Returns
    -------
    ndarray of float64, shape (n_samples, n_features + 1)
        Column t: f_c(x) with the first t features of the order replaced by
        the reference. Column 0 is f_c(x), the last column f_c(reference).
    """
    ops = model if isinstance(model, ModelOps) else model_ops(model)
    X = as_data_matrix(X, "X", ops.n_features)
    targets = ops.resolve_targets(X, target)
    ref = _reference(ops, X, targets, reference)
    return _curves(ops, X, targets, ref, relevance, order, n_repeats, seed)


def _curves(ops, X, targets, ref, relevance, order, n_repeats=1, seed=0):
    if order not in ORDERS:
        raise ValueError(f"order={order!r} must be one of {ORDERS}")
    n, d = X.shape
    if order == "random":
        n_rep = check_int(n_repeats, "n_repeats", 1)
        seed = _check_seed(seed)
    else:
        if relevance is None:
            raise ValueError(f'order="{order}" needs the relevance that sets the order')
        relevance = np.asarray(relevance, dtype=np.float64)
        if relevance.shape != (n, d):
            raise ValueError(f"relevance must have shape {(n, d)}, got {relevance.shape}")
        if not np.isfinite(relevance).all():
            raise ValueError("relevance contains NaN or infinity")
        n_rep = 1
    out = np.empty((n, d + 1))
    if n == 0:
        return out
    steps = np.arange(1, d)
    for lo, hi in _row_blocks(n, n_rep * max(d - 1, 1) * d):
        b = hi - lo
        x = np.asarray(X[lo:hi], dtype=np.float64)
        r = np.ascontiguousarray(_reference_rows(ref, lo, hi))
        t = targets[lo:hi]
        if order == "random":
            rank = np.empty((b, n_rep, d), dtype=np.int64)
            for j in range(b):
                orders = _point_rng(seed, lo + j, "removal").permuted(np.tile(np.arange(d), (n_rep, 1)), axis=1)
                rank[j] = np.argsort(orders, axis=1)
        else:
            rank = _removal_ranks(relevance[lo:hi], order)[:, None, :]
        curve = np.empty((b, n_rep, d + 1))
        curve[:, :, 0] = ops.target_logits(x, t)[:, None]
        curve[:, :, d] = ops.target_logits(r, t)[:, None]
        if d > 1:
            # step s has the features of rank < s replaced by the reference
            Z = np.where(rank[:, :, None, :] < steps[None, None, :, None], r[:, None, None, :], x[:, None, None, :])
            v = ops.target_logits(Z.reshape(-1, d), np.repeat(t, n_rep * (d - 1)))
            curve[:, :, 1:d] = v.reshape(b, n_rep, d - 1)
        out[lo:hi] = curve.mean(axis=1)
    return out


class Comparison:
    """Feature-removal curves, their areas and the cost of each attribution method.

    Attributes
    ----------
    methods : tuple of str
        The compared methods, in the order given.
    curves : dict
        ``curves[method][order]`` for order "morf" and "lerf", and
        ``curves["random"]["random"]``: the mean target logit over points after
        0..D removals divided by :attr:`scale`, shape (D + 1,).
    kept : dict
        Same keys: the fraction of points whose target logit is still > 0
        (the target cluster, when it was the assigned one, is kept).
    areas : dict
        ``areas[method][order]``: :func:`curve_area` of the curve.
    times : dict
        Seconds each method took to compute its attributions for all points.
    attributions : dict
        ``attributions[method]``: the (n_samples, n_features) attributions.
    scale : float
        Mean absolute initial target logit over the points (curves are divided
        by it; 1.0 when it is 0). For assigned targets every initial logit is
        >= 0, so the curves start at 1.
    reference : str
        "mean", "competitor" or "array".
    n_samples, n_features : int
    """

    def __init__(self, methods, curves, kept, times, attributions, scale, reference, n_samples, n_features, options):
        self.methods = tuple(methods)
        self.curves = curves
        self.kept = kept
        self.times = times
        self.attributions = attributions
        self.scale = float(scale)
        self.reference = reference
        self.n_samples = int(n_samples)
        self.n_features = int(n_features)
        self.options = dict(options)
        self.areas = {m: {o: curve_area(c) for o, c in orders.items()} for m, orders in curves.items()}

    def __repr__(self) -> str:
        return (
            f"Comparison(methods={list(self.methods)}, n_samples={self.n_samples}, "
            f"n_features={self.n_features}, reference={self.reference!r})"
        )

    def table(self) -> list:
        """One dict per method (random last): morf_area, lerf_area, time_s."""
        rows = [
            {
                "method": m,
                "morf_area": self.areas[m]["morf"],
                "lerf_area": self.areas[m]["lerf"],
                "time_s": self.times[m],
            }
            for m in self.methods
        ]
        if "random" in self.areas:
            a = self.areas["random"]["random"]
            rows.append({"method": "random", "morf_area": a, "lerf_area": a, "time_s": 0.0})
        return rows

    def best(self, order: str = "morf") -> str:
        """The method with the lowest MoRF area (or highest LeRF area)."""
        if order not in ("morf", "lerf"):
            raise ValueError(f'order={order!r} must be "morf" or "lerf"')
        sign = 1.0 if order == "morf" else -1.0
        return min(self.methods, key=lambda m: sign * self.areas[m][order])

    def to_markdown(self, digits: int = 3) -> str:
        """The table as GitHub markdown: areas (MoRF lower is better, LeRF higher) and time."""
        lines = [
            "| method | MoRF area (lower is better) | LeRF area (higher is better) | time |",
            "|---|---:|---:|---:|",
        ]
        for row in self.table():
            lines.append(
                f"| {row['method']} | {row['morf_area']:.{digits}f} | {row['lerf_area']:.{digits}f} "
                f"| {_format_time(row['time_s'])} |"
            )
        return "\n".join(lines)

    def to_pandas(self):
        """The table as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.table()).set_index("method")

    def plot(self, ax=None, orders=("morf", "lerf"), title=None):
        """Plot the normalized curves on a matplotlib Axes (needs matplotlib).

        MoRF solid, LeRF dashed, random dotted black; "neon" drawn thicker and
        on top. Returns the Axes.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            ax = plt.gca()
        frac = np.linspace(0.0, 1.0, self.n_features + 1)
        styles = {"morf": "-", "lerf": "--"}
        for i, m in enumerate(self.methods):
            color = f"C{i}"
            width, z = (2.2, 3) if m == "neon" else (1.3, 2)
            for o in orders:
                label = f"{m} ({_ORDER_NAMES[o]}, {self.areas[m][o]:.2f})"
                ax.plot(frac, self.curves[m][o], styles[o], color=color, lw=width, zorder=z, label=label)
        if "random" in self.curves:
            ax.plot(
                frac,
                self.curves["random"]["random"],
                ":",
                color="k",
                lw=1.4,
                label=f"random ({self.areas['random']['random']:.2f})",
            )
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_xlabel("fraction of features removed")
        ax.set_ylabel("target logit / initial")
        if title:
            ax.set_title(title)
        return ax


_ORDER_NAMES = {"morf": "MoRF", "lerf": "LeRF"}


def _format_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def compare(
    model,
    X,
    methods=DEFAULT_METHODS,
    *,
    target=None,
    reference="mean",
    beta=None,
    n_samples=None,
    n_permutations=32,
    antithetic=True,
    kernel_shap_samples=512,
    n_random=4,
    seed=0,
    repeat=1,
) -> Comparison:
    """Compare NEON with baseline attributions by feature removal, on your data.

    For every method the attributions of the target logit are computed (and
    timed), then MoRF and LeRF removal curves are recorded with the same
    reference; a random-order curve is added as the floor.

    Parameters
    ----------
    model : NeuralizedKMeans, NeuralizedKernelKMeans or a fitted model that
        :func:`neon_ext.neuralize` accepts (scikit-learn's KMeans included).
    X : array-like, shape (n_samples, n_features)
        The points to explain.
    methods : sequence of str, or mapping
        Names from :data:`neon_ext.baselines.METHODS` ("neon", "sensitivity",
        "gradient_x_input", "occlusion", "shapley", "kernel_shap"), or a
        mapping from a label to a name, to an array of attributions of shape
        (n_samples, n_features) (your own method), or to a callable
        ``f(model, X, targets) -> array``.
    target : None, int or array of int
        The explained cluster; None for each row's assigned cluster.
    reference : "mean", "competitor" or array
        Replacement value of removed features, also used by occlusion,
        Shapley sampling and kernel SHAP. "mean" is the mean of the whole X
        even when ``n_samples`` picks a subset.
    beta : float, optional
        NEON's stiffness; None for the model's heuristic on the evaluated points.
    n_samples : int, optional
        Evaluate a random subset of this many rows (seeded by ``seed``).
    n_permutations, antithetic : int, bool
        Shapley sampling budget per point (see :func:`~neon_ext.baselines.shapley_sampling`).
    kernel_shap_samples : int
        ``nsamples`` of shap's KernelExplainer per point.
    n_random : int
        Random orders per point for the random curve.
    seed : int
        Seeds the subset, the Shapley orders, kernel SHAP and the random orders.
    repeat : int
        Compute each method's attributions this many times and report the
        fastest time (sub-millisecond timings are noisy); results are the same
        every time.

    Returns
    -------
    Comparison
    """
    ops = model if isinstance(model, ModelOps) else model_ops(model)
    X = as_data_matrix(X, "X", ops.n_features)
    seed = _check_seed(seed)
    if isinstance(reference, str) and reference == "mean":
        reference = X.mean(0, dtype=np.float64)
        reference_name = "mean"
    elif isinstance(reference, str):
        reference_name = reference
    else:
        reference_name = "array"
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", 1)
        if n_samples < X.shape[0]:
            keep = np.sort(np.random.default_rng(seed).choice(X.shape[0], n_samples, replace=False))
            X = np.ascontiguousarray(X[keep])
            if target is not None and np.ndim(target) == 1:
                target = np.asarray(target)[keep]
            if isinstance(reference, np.ndarray) and reference.ndim == 2:
                reference = reference[keep]
    targets = ops.resolve_targets(X, target)
    ref = _reference(ops, X, targets, reference)
    n, d = X.shape
    if n == 0:
        raise ValueError("X has no rows to evaluate")

    specs = _method_specs(methods)
    repeat = check_int(repeat, "repeat", 1)
    options = {
        "neon": {"beta": beta},
        "occlusion": {"reference": ref},
        "shapley": {"reference": ref, "n_permutations": n_permutations, "antithetic": antithetic, "seed": seed},
        "kernel_shap": {"reference": ref, "nsamples": kernel_shap_samples, "seed": seed},
    }
    curves: dict[str, dict[str, np.ndarray]] = {}  # method -> removal order -> mean curve
    kept: dict[str, dict[str, np.ndarray]] = {}
    times: dict[str, float] = {}
    attributions: dict[str, np.ndarray] = {}
    for label, spec in specs.items():
        times[label] = np.inf
        for _ in range(repeat if isinstance(spec, str) or callable(spec) else 1):
            start = time.perf_counter()
            if isinstance(spec, str):
                R = METHODS[spec](ops, X, targets, **options.get(spec, {}))
            elif callable(spec):
                R = spec(ops.model, X, targets)
            else:
                R = spec
            times[label] = min(times[label], time.perf_counter() - start)
        R = np.asarray(R, dtype=np.float64)
        if R.shape != (n, d):
            raise ValueError(f"attributions of {label!r} have shape {R.shape}, expected {(n, d)}")
        attributions[label] = R
        logger.info("%s: attributions in %.3g s", label, times[label])
        curves[label], kept[label] = {}, {}
        for order in ("morf", "lerf"):
            per_point = _curves(ops, X, targets, ref, R, order)
            curves[label][order], kept[label][order] = per_point.mean(0), (per_point > 0).mean(0)
    per_point = _curves(ops, X, targets, ref, None, "random", n_repeats=n_random, seed=seed)
    curves["random"] = {"random": per_point.mean(0)}
    kept["random"] = {"random": (per_point > 0).mean(0)}

    scale = float(np.abs(per_point[:, 0]).mean())
    if not (np.isfinite(scale) and scale > 0):
        scale = 1.0
    for orders in curves.values():
        for o in orders:
            orders[o] = orders[o] / scale
    opts = {
        "beta": beta,
        "n_permutations": n_permutations,
        "antithetic": antithetic,
        "kernel_shap_samples": kernel_shap_samples,
        "n_random": n_random,
        "seed": seed,
        "repeat": repeat,
    }
    return Comparison(list(specs), curves, kept, times, attributions, scale, reference_name, n, d, opts)


def _method_specs(methods) -> dict:
    if isinstance(methods, str):
        methods = (methods,)
    if isinstance(methods, Mapping):
        specs = dict(methods)
    else:
        specs = {m: m for m in methods}
    if not specs:
        raise ValueError("methods is empty")
    for label, spec in specs.items():
        if not isinstance(label, str):
            raise TypeError(f"method labels must be strings, got {label!r}")
        if label == "random":
            raise ValueError('"random" is reserved for the random-order curve')
        if isinstance(spec, str) and spec not in METHODS:
            raise ValueError(f"unknown attribution method {spec!r}; choose from {sorted(METHODS)}")
    return specs
