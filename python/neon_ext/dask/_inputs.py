"""Turning what users pass (models, dask arrays and DataFrames, targets) into
what the task graphs need: one graph key for the model, rows chunked with all
features in one chunk, targets split like the rows, and tree reductions."""

from __future__ import annotations

import numbers
import pickle

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
from dask.base import tokenize

from .._validation import check_n_threads, check_targets
from ..models.neuralize import neuralize

__all__ = ["as_model", "model_key", "rows_of", "split_target", "tree_reduce"]

_FAN_IN = 8  # partials merged per reduction task


def as_model(model):
    """The neuralized model behind `model` (a neuralized model, this package's
    estimators, or any fitted k-means with ``cluster_centers_``, e.g.
    scikit-learn's or dask-ml's). A fitted estimator's ``beta_`` becomes the
    model's default beta, as in its own ``explain``."""
    m = neuralize(model)
    beta = getattr(model, "beta_", None)
    if m is not model and m.beta is None and beta is not None:
        m = pickle.loads(pickle.dumps(m))  # never change the caller's model
        m.beta = beta
    return m


def model_key(model):
    """The model as ONE key of the task graph.

    Every block task refers to this key instead of carrying the pickled model
    itself: the distributed scheduler runs the key once, and each worker
    fetches the model once from a peer and keeps it while tasks need it. The
    name is a hash of the pickled model, so the same model is the same key.
    """
    payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    return dask.delayed(model, name="neon-model-" + tokenize(payload), pure=True, traverse=False)


def rows_of(X, n_features: int):
    """X as a dask Array with every feature in one chunk, or a dask DataFrame,
    checked against the model's feature count. Integer/bool arrays become float64
    (as in memory); other dtypes are a TypeError here, not in a worker."""
    if isinstance(X, dd.DataFrame):
        if len(X.columns) != n_features:
            raise ValueError(f"X has {len(X.columns)} features, but the model has {n_features}")
        bad = [str(c) for c, t in X.dtypes.items() if getattr(t, "kind", "O") not in "fiub"]
        if bad:
            raise TypeError(f"X must hold real numbers; columns {bad} do not")
        return X
    if not isinstance(X, da.Array):
        raise TypeError(
            f"X must be a dask Array or dask DataFrame, got {type(X).__name__}; "
            "use neon_ext's in-memory models for numpy data"
        )
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got {X.ndim}-D with shape {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but the model has {n_features}")
    kind, size = X.dtype.kind, X.dtype.itemsize
    if kind in "iub":
        X = X.astype(np.float64)
    elif kind == "f" and size == 2:
        X = X.astype(np.float32)
    elif kind != "f" or size > 8:
        raise TypeError(f"X must hold float32 or float64 numbers, got dtype {X.dtype}")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})  # the core needs whole rows
    return X


def split_target(target, X, n_clusters: int):
    """`target` as None, an int, or a collection with one block per block of X.

    Arrays: a numpy or dask 1-D array of ints, rechunked like X's rows.
    DataFrames: a dask Series/Array with as many partitions, or a numpy array
    (split by partition lengths, which costs one pass over X).
    """
    if target is None:
        return None
    if isinstance(target, numbers.Integral) and not isinstance(target, (bool, np.bool_)):
        return check_targets(int(target), 0, n_clusters)[1]
    if isinstance(target, (da.Array, dd.Series)):
        if target.dtype.kind not in "iu":
            raise TypeError(f"target must hold integers, got dtype {target.dtype}")
        if isinstance(X, da.Array):
            if not isinstance(target, da.Array) or target.ndim != 1:
                raise TypeError("target for a dask Array must be a 1-D dask or numpy array of ints")
            if target.shape[0] != X.shape[0] and not (np.isnan(target.shape[0]) or np.isnan(X.shape[0])):
                raise ValueError(f"target must have shape ({X.shape[0]},), got {target.shape}")
            return target.rechunk((X.chunks[0],)) if target.chunks[0] != X.chunks[0] else target
        if target.npartitions != X.npartitions:
            raise ValueError(f"target has {target.npartitions} partitions, but X has {X.npartitions}")
        return target
    t = np.asarray(target)
    if isinstance(X, da.Array):
        if np.isnan(X.shape[0]):
            raise ValueError(
                "X has unknown chunk sizes: pass target as a dask array, or call X.compute_chunk_sizes() first"
            )
        t, _ = check_targets(t, X.shape[0], n_clusters)
        return da.from_array(t, chunks=(X.chunks[0],))
    lengths = X.map_partitions(len).compute()
    t, _ = check_targets(t, int(sum(lengths)), n_clusters)
    bounds = np.cumsum([0, *lengths])
    return [t[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def threads_of(n_threads):
    """Checked here (a clear error now, not in a worker); None stays None."""
    return None if n_threads is None else check_n_threads(n_threads)


def tree_reduce(parts, merge):
    """One Delayed: `merge` applied over the partials in a tree of fan-in 8."""
    parts = list(parts)
    if not parts:
        raise ValueError("nothing to reduce: X has no blocks")
    while len(parts) > 1:
        parts = [dask.delayed(merge, pure=True)(*parts[i : i + _FAN_IN]) for i in range(0, len(parts), _FAN_IN)]
    return parts[0]
