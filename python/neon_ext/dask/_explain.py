"""explain, predict, logits and the beta heuristic on dask collections."""

from __future__ import annotations

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
from dask.base import tokenize

from .._validation import check_beta, feature_names_of
from ..models._base import beta_from_mean_logit
from . import _blocks
from ._exact_sum import merge
from ._explanation import DaskExplanation
from ._inputs import as_model, model_key, rows_of, split_target, threads_of, tree_reduce

__all__ = ["beta_heuristic", "explain", "logits", "predict"]


def _prepare(model, X, n_threads):
    model = as_model(model)
    return model, rows_of(X, model.n_features_in_), threads_of(n_threads)


def _row_blocks(X) -> list:
    """One Delayed per block of rows (arrays: all features are in one chunk)."""
    return X.to_delayed() if isinstance(X, (dd.DataFrame, dd.Series)) else X.to_delayed().ravel().tolist()


def _frame_output(X, func, mkey, threads, meta):
    parts = [dask.delayed(func, pure=True)(mkey, p, threads) for p in _row_blocks(X)]
    return dd.from_delayed(parts, meta=meta, divisions=X.divisions, verify_meta=False)


def _empty_rows(X):
    """A block of no rows with X's columns and dtype, for the block functions to make meta from."""
    return X._meta if isinstance(X, dd.DataFrame) else np.empty((0, X.shape[1]), dtype=X.dtype)


def _row_outputs(model, X, n_threads, block_fn, frame_fn):
    """block_fn on every block of an Array X (one output row per input row,
    the columns of the block function's own empty output), or frame_fn on
    every partition of a DataFrame X; lazily."""
    model, X, threads = _prepare(model, X, n_threads)
    mkey = model_key(model)
    if isinstance(X, dd.DataFrame):
        return _frame_output(X, frame_fn, mkey, threads, frame_fn(model, _empty_rows(X), threads))
    meta = block_fn(model, _empty_rows(X), 1)
    if meta.ndim == 1:
        return da.blockwise(block_fn, "i", mkey, None, X, "ij", threads, None, concatenate=True, meta=meta)
    return da.blockwise(
        block_fn, "ik", mkey, None, X, "ij", threads, None, concatenate=True, new_axes={"k": meta.shape[1]}, meta=meta
    )


def predict(model, X, *, n_threads=None):
    """The assigned cluster of every row (int64), lazily: a dask Array
    (n_samples,) for an Array X, a dask Series for a DataFrame X.

    ``model`` is a neuralized model, one of this package's fitted estimators,
    or any fitted k-means with ``cluster_centers_`` (scikit-learn, dask-ml).
    """
    return _row_outputs(model, X, n_threads, _blocks.predict_block, _blocks.predict_frame)


def logits(model, X, *, n_threads=None):
    """f_c(x) for every row and cluster, lazily: a dask Array (n_samples,
    n_clusters) in X's float dtype, or a dask DataFrame with one column per
    cluster for a DataFrame X."""
    return _row_outputs(model, X, n_threads, _blocks.logits_block, _blocks.logits_frame)


def _beta_of_sum(total, fallback_scale: float) -> float:
    return beta_from_mean_logit(total.mean(), fallback_scale)


def beta_heuristic(model, X, *, n_threads=None, compute: bool = True):
    """The paper's stiffness 1 / (mean assigned logit) over ALL rows of X, by
    one distributed reduction.

    The block sums are exact (integers times powers of two), so beta is the
    exactly rounded mean's inverse, the same for every chunking of X. It
    agrees with the in-memory ``model.beta_heuristic(X)`` to rounding (that
    one adds in floating point). ``compute=False`` returns a Delayed.
    """
    model, X, threads = _prepare(model, X, n_threads)
    mkey = model_key(model)
    parts = [dask.delayed(_blocks.assigned_logit_sum, pure=True)(mkey, b, threads) for b in _row_blocks(X)]
    beta = dask.delayed(_beta_of_sum, pure=True)(tree_reduce(parts, merge), model._fallback_logit_scale())
    return beta.compute() if compute else beta


def explain(model, X, target=None, *, beta=None, n_threads=None) -> DaskExplanation:
    """NEON explanation of rows in a dask Array or DataFrame.

    Parameters
    ----------
    model
        A neuralized model (``NeuralizedKMeans``, ``NeuralizedKernelKMeans``),
        one of this package's fitted estimators (its ``beta_`` is the default
        beta) or any fitted k-means with ``cluster_centers_``.
    X : dask Array (n_samples, n_features) or dask DataFrame
        Rows may be chunked at will; an Array's features are rechunked into
        one chunk if they are split. float32 stays float32, integers become
        float64.
    target : None, int, or 1-D ints
        None: each row's assigned cluster. An array: a numpy or dask array
        (rechunked like X's rows); for a DataFrame, a dask Series with as many
        partitions (a numpy array costs one pass to find partition lengths).
    beta : float > 0, optional
        None: the model's ``beta`` if set, else :func:`beta_heuristic` on all
        of X, computed NOW (one distributed pass) so that every row is
        explained with the same beta whatever the chunking.
    n_threads : int, optional
        Threads of the compiled core inside each task; None: the worker's
        OpenMP default (``distributed`` workers set ``OMP_NUM_THREADS=1``).

    Returns
    -------
    DaskExplanation
        Lazy ``relevance``, ``logit``, ``target``, ``assigned``; ``.compute()``
        gives a regular :class:`neon_ext.Explanation`.
    """
    model, X, threads = _prepare(model, X, n_threads)
    targets = split_target(target, X, model.n_clusters)
    if beta is not None:
        beta = check_beta(beta)
    elif model.beta is not None:
        beta = model.beta
    else:
        beta = beta_heuristic(model, X, n_threads=threads)
    mkey = model_key(model)
    if isinstance(X, dd.DataFrame):
        return _explain_frame(model, mkey, X, targets, beta, threads)
    name = "neon-explain-" + tokenize(mkey.key, X.name, targets, beta, threads)
    target_arg = (targets, "i") if isinstance(targets, da.Array) else (targets, None)
    blocks = da.blockwise(
        _blocks.explain_block,
        "i",
        mkey,
        None,
        X,
        "ij",
        *target_arg,
        beta,
        None,
        threads,
        None,
        concatenate=True,
        name=name,
        meta=np.empty((0,), dtype=object),
    )
    empty = _blocks.explain_block(model, _empty_rows(X), None, beta, 1)
    meta = {n: empty[i] for n, i in _blocks.FIELDS.items()}
    return DaskExplanation(blocks, beta=beta, n_clusters=model.n_clusters, feature_names=None, meta=meta)


def _explain_frame(model, mkey, X, targets, beta, threads) -> DaskExplanation:
    parts = _row_blocks(X)
    if targets is None or isinstance(targets, int):
        per_part = [targets] * len(parts)
    elif isinstance(targets, list):
        per_part = targets
    else:
        per_part = _row_blocks(targets)
        if len(per_part) != len(parts):
            raise ValueError(f"target has {len(per_part)} blocks, but X has {len(parts)} partitions")
    blocks = [
        dask.delayed(_blocks.explain_frame, pure=True)(mkey, p, t, beta, threads) for p, t in zip(parts, per_part)
    ]
    empty = _blocks.explain_frame(model, _empty_rows(X), None, beta, 1)
    columns = X._meta.columns
    meta = {n: _blocks.frame_field(empty, n, columns if n == "relevance" else None) for n in _blocks.FIELDS}
    return DaskExplanation(
        blocks,
        beta=beta,
        n_clusters=model.n_clusters,
        feature_names=feature_names_of(X._meta),
        meta=meta,
        divisions=X.divisions,
    )
