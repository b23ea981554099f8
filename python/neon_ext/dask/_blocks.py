"""What one task does to one block of rows: pure functions of numpy/pandas data.

Every function here takes the model and a block and returns new arrays, with
no state kept between calls, so a block recomputed after a worker was lost
gives the same bits. They use only the model's public methods (``explain``,
``logits``, ``predict``), which run the compiled core with the GIL released.
Nothing here imports dask: workers unpickle these functions cheaply.
"""

from __future__ import annotations

import numpy as np

from ._exact_sum import ExactSum, exact_sum

__all__ = [
    "assigned_logit_sum",
    "explain_block",
    "explain_frame",
    "field",
    "frame_field",
    "group_stats",
    "group_sums",
    "logits_block",
    "merge_group_stats",
    "one_hot",
    "predict_block",
]

# Positions in the tuple an explained block is kept as.
FIELDS = {"relevance": 0, "logit": 1, "target": 2, "assigned": 3}


def _rows(X):
    """A pandas partition as a numpy matrix (the model validates dtype and shape)."""
    return X.to_numpy() if hasattr(X, "to_numpy") else X


def _targets(target):
    return target if target is None or isinstance(target, int) else np.asarray(target)


def explain_block(model, X, target, beta: float, n_threads):
    """(relevance, logit, target, assigned) of one block of rows."""
    e = model.explain(_rows(X), _targets(target), beta=beta, n_threads=n_threads)
    return e.relevance, e.logit, e.target, e.assigned


def explain_frame(model, X, target, beta: float, n_threads):
    """:func:`explain_block` of a pandas partition, with its index appended."""
    return explain_block(model, X, target, beta, n_threads) + (X.index,)


def field(result, name: str):
    """One output of an explained block."""
    return result[FIELDS[name]]


def frame_field(result, name: str, columns):
    """One output of an explained partition as pandas, on the partition's index."""
    import pandas as pd

    values, index = result[FIELDS[name]], result[4]
    if name == "relevance":
        return pd.DataFrame(values, index=index, columns=columns)
    return pd.Series(values, index=index, name=name)


def predict_block(model, X, n_threads):
    return model.predict(_rows(X), n_threads=n_threads)


def logits_block(model, X, n_threads):
    return model.logits(_rows(X), n_threads=n_threads)


def predict_frame(model, X, n_threads):
    import pandas as pd

    return pd.Series(predict_block(model, X, n_threads), index=X.index, name="assigned")


def logits_frame(model, X, n_threads):
    import pandas as pd

    return pd.DataFrame(logits_block(model, X, n_threads), index=X.index)


def assigned_logit_sum(model, X, n_threads) -> ExactSum:
    """Exact sum of the assigned logits of a block (the beta heuristic's numerator).

    The assigned cluster's logit is the row's largest (the only positive one;
    0 on a tie), bit for bit the ``logit`` that ``explain`` reports.
    """
    L = logits_block(model, X, n_threads)
    if not L.shape[0]:
        return ExactSum()
    # The row maximum over a transposed copy: numpy's reduction along short
    # rows is ~3x slower than this whole function otherwise.
    return exact_sum(np.ascontiguousarray(L.T).max(axis=0))


# Rows per step of the grouped sums: float64 temporaries of a few MiB, which
# malloc reuses; whole-block temporaries (hundreds of MiB) would be fresh
# pages every time, and the page faults cost more than the arithmetic.
_SUM_ROWS = 1 << 14


def one_hot(groups, n_groups: int, weights=None) -> np.ndarray:
    """(n_rows, n_groups) matrix with the row's weight (default 1) in its group's column."""
    H = np.zeros((groups.shape[0], n_groups))
    H[np.arange(groups.shape[0]), groups] = 1.0 if weights is None else weights
    return H


def group_sums(values, groups, n_groups: int, *, weights=None, origin=None, with_abs: bool = False):
    """(n_groups, n_features) float64 sums of ``weights * (values - origin)``
    per group of rows; with ``with_abs`` also the sums of ``|values|`` (same pass).

    A scatter-add written as GEMMs over steps of rows, each spelled
    (V^T H)^T: with a long inner dimension OpenBLAS runs this order several
    times faster than H^T V."""
    out = np.zeros((n_groups, values.shape[1]))
    out_abs = np.zeros_like(out) if with_abs else None
    for lo in range(0, values.shape[0], _SUM_ROWS):
        hi = min(lo + _SUM_ROWS, values.shape[0])
        V = np.array(values[lo:hi], dtype=np.float64)  # a copy, changed in place below
        if origin is not None:
            V -= origin
        H = one_hot(groups[lo:hi], n_groups, None if weights is None else weights[lo:hi])
        out += (V.T @ H).T
        if with_abs:
            out_abs += (np.abs(V, out=V).T @ H).T
    return (out, out_abs) if with_abs else out


def group_stats(result, by, n_clusters: int):
    """Per-group float64 sums of relevance, of |relevance| and of the logit,
    and group sizes, of one explained block (``by``: None, "target" or "assigned")."""
    R = np.asarray(result[0])
    f = np.asarray(result[1], dtype=np.float64)
    n_groups = 1 if by is None else n_clusters
    groups = (
        np.zeros(R.shape[0], dtype=np.int64)
        if by is None
        else np.asarray(result[2 if by == "target" else 3], dtype=np.int64)
    )
    sums, abs_sums = group_sums(R, groups, n_groups, with_abs=True)
    return {
        "sums": sums,
        "abs_sums": abs_sums,
        "logit_sums": np.bincount(groups, weights=f, minlength=n_groups),
        "counts": np.bincount(groups, minlength=n_groups).astype(np.int64),
    }


def merge_group_stats(*parts):
    """Sum of :func:`group_stats` partials."""
    return {key: sum(p[key] for p in parts) for key in parts[0]}
