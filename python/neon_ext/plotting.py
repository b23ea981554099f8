"""Pictures of NEON explanations (matplotlib, imported only when a plot is drawn).

Install with ``pip install neon-ext[plot]``. Every function draws into the
``ax`` it is given (or a new figure from ``matplotlib.pyplot``) and returns the
Axes, so figures compose and save as usual::

    ax = nx.plotting.plot_relevance(e, row=0)
    ax.figure.savefig("point0.png", dpi=150, bbox_inches="tight")

Colours follow the LRP convention: red speaks for the explained cluster,
blue against it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_cluster_heatmap", "plot_relevance"]

_FOR = "#c0392b"
_AGAINST = "#2e6da4"
_REST = "0.6"


def _new_axes(ax, size):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size, layout="constrained")[1]


def _format_value(v) -> str:
    return f"{v:.4g}"


def plot_relevance(explanation, row: int, *, data=None, max_features: int = 15, ax=None):
    """Bar chart of one row's relevance, each bar labelled with the feature's value.

    Features are sorted by ``|relevance|``, strongest at the top; beyond
    `max_features` the rest are gathered in one bar ("n other features") so
    that the bars still add up to the logit.

    Parameters
    ----------
    explanation : Explanation
    row : int
        Which row of the explanation to draw.
    data : array-like, shape (n_samples, n_features), optional
        Feature values to print beside the bars; default the explained rows
        (``explanation.data``). Leave both out to print no values.
    max_features : int
        Bars before the rest are gathered.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    e = explanation
    n = len(e)
    if not -n <= row < n:
        raise IndexError(f"row {row} is out of range for {n} rows")
    if max_features < 1:
        raise ValueError(f"max_features={max_features} must be >= 1")
    r = np.asarray(e.relevance[row], dtype=np.float64)
    X = e.data if data is None else data
    x = None if X is None else np.asarray(X[row], dtype=np.float64)
    if x is not None and x.shape != r.shape:
        raise ValueError(f"data rows have {x.shape[0]} features, the explanation has {r.shape[0]}")
    names = e.feature_labels
    order = np.argsort(-np.abs(r), kind="stable")
    shown = order[:max_features]
    labels = [names[j] for j in shown]
    values = list(r[shown])
    texts = [_format_value(x[j]) for j in shown] if x is not None else None
    if len(order) > max_features:
        labels.append(f"{len(order) - max_features} other features")
        values.append(float(r[order[max_features:]].sum()))
        if texts is not None:
            texts.append("")
    m = len(values)
    ax = _new_axes(ax, (7.0, 1.2 + 0.32 * m))
    y = np.arange(m)[::-1]  # strongest on top
    colors = [_FOR if v >= 0 else _AGAINST for v in values]
    if len(order) > max_features:
        colors[-1] = _REST
    ax.barh(y, values, color=colors, height=0.7)
    ax.axvline(0.0, color="0.25", linewidth=0.8)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.6, m - 0.4)
    span = max(abs(v) for v in values) or 1.0
    for yi, v in zip(y, values):
        ax.annotate(
            f"{v:+.3g}",
            (v, yi),
            xytext=(3 if v >= 0 else -3, 0),
            textcoords="offset points",
            ha="left" if v >= 0 else "right",
            va="center",
            fontsize=8,
        )
    lo, hi = min(min(values), 0.0), max(max(values), 0.0)
    ax.set_xlim(lo - 0.18 * span, hi + 0.18 * span)
    ax.set_xlabel("relevance (red: for the cluster, blue: against)")
    if texts is not None:
        side = ax.twinx()
        side.set_ylim(ax.get_ylim())
        side.set_yticks(y, texts)
        side.tick_params(axis="y", length=0, labelsize=9, labelcolor="0.3")
        side.set_ylabel("feature value", color="0.3")
        for spine in side.spines.values():
            spine.set_visible(False)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    c, a = int(e.target[row]), int(e.assigned[row])
    which = f"cluster {c}" + ("" if c == a else f" (assigned to {a})")
    ax.set_title(
        f"row {row if row >= 0 else n + row}: {which}, logit {float(e.logit[row]):.4g} = sum of bars", fontsize=10
    )
    return ax


def plot_cluster_heatmap(explanation, *, by: str = "target", absolute: bool = False, annotate=None, ax=None):
    """Heat map of the mean relevance of each feature (columns) in each cluster (rows).

    Parameters
    ----------
    explanation : Explanation
    by : "target" or "assigned"
        How rows are grouped into clusters (see ``Explanation.mean_relevance``).
    absolute : bool
        Show mean ``|relevance|`` (how much a feature matters) instead of the
        signed mean (which way it argues).
    annotate : bool, optional
        Print the value in each cell; default when there are at most 300 cells.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    e = explanation
    M = e.mean_relevance(by, absolute=absolute)
    sizes = e.cluster_sizes(by)
    K, D = M.shape
    longest = max(len(s) for s in e.feature_labels)
    ax = _new_axes(ax, (2.4 + 0.6 * D, 1.0 + 0.06 * longest + 0.5 * K))
    finite = M[np.isfinite(M)]
    vmax = float(np.abs(finite).max()) if finite.size else 1.0
    vmax = vmax or 1.0
    if absolute:
        image = ax.imshow(M, cmap="Reds", vmin=0.0, vmax=vmax, aspect="auto")
    else:
        image = ax.imshow(M, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
    ax.set_xticks(np.arange(D), e.feature_labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(np.arange(K), [f"cluster {k} (n={sizes[k]})" for k in range(K)])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if annotate is None:
        annotate = K * D <= 300
    if annotate:
        for k in range(K):
            for j in range(D):
                v = M[k, j]
                if not np.isfinite(v):
                    continue
                dark = abs(v) > 0.6 * vmax
                ax.text(j, k, f"{v:.2g}", ha="center", va="center", fontsize=7, color="white" if dark else "0.15")
    label = "mean |relevance|" if absolute else "mean relevance"
    ax.figure.colorbar(image, ax=ax, label=label, shrink=0.9)
    ax.set_title(f"{label} per cluster ({'explained' if by == 'target' else 'assigned'} cluster)", fontsize=10)
    return ax
