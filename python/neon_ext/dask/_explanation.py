"""The lazy result of :func:`neon_ext.dask.explain`."""

from __future__ import annotations

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np

from ..explanation import ClusterSummary, Explanation, _check_k
from . import _blocks
from ._inputs import tree_reduce

__all__ = ["DaskExplanation"]

_BY = (None, "target", "assigned")


def _mean_rows(stats, key: str, by):
    """Group means from reduced :func:`_blocks.group_stats` (NaN for empty groups)."""
    sums, counts = stats[key], stats["counts"]
    out = np.full(sums.shape, np.nan)
    nz = counts > 0
    out[nz] = (sums[nz].T / counts[nz]).T
    return out[0] if by is None else out


def _relevance_means(stats, by, absolute: bool):
    return _mean_rows(stats, "abs_sums" if absolute else "sums", by)


def _logit_means(stats, by):
    out = _mean_rows(stats, "logit_sums", by)
    return float(out) if by is None else out


def _sizes(stats):
    return stats["counts"].astype(np.int64)


def _summary(stats, feature_names, k: int, by: str) -> ClusterSummary:
    return ClusterSummary.from_group_sums(stats["sums"], stats["counts"], stats["logit_sums"], feature_names, k, by)


class DaskExplanation:
    """NEON relevance of rows that live in a dask collection, computed lazily.

    Attributes
    ----------
    relevance : dask Array (n_samples, n_features) or dask DataFrame
        X's float dtype (float32 stays float32); for a DataFrame input, a
        DataFrame with X's columns and index.
    logit, target, assigned : dask Array (n_samples,) or dask Series
        The explained logit (relevance's dtype), the explained cluster and the
        assigned cluster (int64).
    beta : float
        The soft-min stiffness used for every row.
    feature_names : ndarray of str or None
    n_clusters : int

    Notes
    -----
    Each block is explained by ONE task that yields all four outputs;
    computing several outputs together (``dask.compute(e.relevance,
    e.logit)``, :meth:`compute`) runs it once per block, computing them one
    after the other runs it again. :meth:`persist` keeps the explained blocks
    in the cluster's memory for repeated use. Summaries reduce on the
    workers and return small numpy arrays.
    """

    def __init__(self, blocks, *, beta: float, n_clusters: int, feature_names, meta: dict, divisions=None):
        # Arrays: `blocks` is a dask Array of tuples, one chunk per block of
        # rows. DataFrames: a list of Delayed tuples, one per partition, and
        # the input's `divisions`. `meta`: an empty output of each name
        # (numpy or pandas), made by the block functions themselves.
        self._blocks = blocks
        self._meta = meta
        self._divisions = divisions
        self._is_frame = not isinstance(blocks, da.Array)
        self.beta = float(beta)
        self.n_clusters = int(n_clusters)
        self.feature_names = feature_names

    def _like(self, blocks) -> DaskExplanation:
        return DaskExplanation(
            blocks,
            beta=self.beta,
            n_clusters=self.n_clusters,
            feature_names=self.feature_names,
            meta=self._meta,
            divisions=self._divisions,
        )

    # -- the lazy outputs ------------------------------------------------------
    @property
    def relevance(self):
        return self._output("relevance")

    @property
    def logit(self):
        return self._output("logit")

    @property
    def target(self):
        return self._output("target")

    @property
    def assigned(self):
        return self._output("assigned")

    def _output(self, name: str):
        meta = self._meta[name]
        if self._is_frame:
            columns = meta.columns if name == "relevance" else None
            parts = [dask.delayed(_blocks.frame_field, pure=True)(p, name, columns) for p in self._blocks]
            return dd.from_delayed(parts, meta=meta, divisions=self._divisions, verify_meta=False)
        if name == "relevance":
            return da.blockwise(
                _blocks.field, "ij", self._blocks, "i", name, None, new_axes={"j": meta.shape[1]}, meta=meta
            )
        return da.blockwise(_blocks.field, "i", self._blocks, "i", name, None, meta=meta)

    def _parts(self) -> list:
        """One Delayed per block of rows (sharing the graph keys of the outputs)."""
        if self._is_frame:
            return list(self._blocks)
        return self._blocks.to_delayed(optimize_graph=False).ravel().tolist()

    # -- whole results -----------------------------------------------------------
    def compute(self, **kwargs) -> Explanation:
        """Gather everything into a regular :class:`neon_ext.Explanation` (one pass;
        keyword arguments go to ``dask.compute``). Its ``data`` is None: the
        rows stay where they are."""
        (results,) = dask.compute(self._parts(), **kwargs)
        relevance, logit, target, assigned = (np.concatenate([np.asarray(r[i]) for r in results]) for i in range(4))
        return Explanation(
            relevance, logit, target, assigned, self.beta, self.feature_names, n_clusters=self.n_clusters
        )

    def persist(self, **kwargs) -> DaskExplanation:
        """The same explanation with every block computed and kept in (cluster) memory."""
        if self._is_frame:
            return self._like(list(dask.persist(*self._blocks, **kwargs)))
        return self._like(dask.persist(self._blocks, **kwargs)[0])

    def __repr__(self) -> str:
        kind = "DataFrame" if self._is_frame else "Array"
        return f"DaskExplanation({kind}, n_blocks={len(self._parts())}, beta={self.beta:.6g})"

    # -- summaries (dask reductions) ------------------------------------------
    def _stats(self, by):
        if by not in _BY:
            raise ValueError(f"by must be None, 'target' or 'assigned', got {by!r}")
        parts = [dask.delayed(_blocks.group_stats, pure=True)(p, by, self.n_clusters) for p in self._parts()]
        return tree_reduce(parts, _blocks.merge_group_stats)

    @staticmethod
    def _finish(value, compute: bool):
        return value.compute() if compute else value

    def cluster_sizes(self, by: str = "target", *, compute: bool = True):
        """Rows per cluster (int64, shape (n_clusters,)). ``compute=False``
        returns a Delayed (compute several summaries in one pass with
        ``dask.compute``)."""
        if by is None:
            raise ValueError("by must be 'target' or 'assigned' for cluster sizes")
        return self._finish(dask.delayed(_sizes, pure=True)(self._stats(by)), compute)

    def mean_relevance(self, by: str | None = None, *, absolute: bool = False, compute: bool = True):
        """Mean relevance of each feature over all rows ((n_features,)) or per
        cluster ((n_clusters, n_features), NaN rows for clusters without rows),
        as :meth:`neon_ext.Explanation.mean_relevance`; float64."""
        return self._finish(dask.delayed(_relevance_means, pure=True)(self._stats(by), by, bool(absolute)), compute)

    def mean_abs_relevance(self, by: str | None = None, *, compute: bool = True):
        """:meth:`mean_relevance` of ``|relevance|``."""
        return self.mean_relevance(by, absolute=True, compute=compute)

    def mean_logit(self, by: str | None = None, *, compute: bool = True):
        """Mean explained logit, over all rows (a float) or per cluster."""
        return self._finish(dask.delayed(_logit_means, pure=True)(self._stats(by), by), compute)

    def summary(self, k: int = 3, by: str = "target", *, compute: bool = True):
        """Per-cluster sizes, mean logits and top-k features by mean relevance,
        as :meth:`neon_ext.Explanation.summary` (a ``ClusterSummary``; print it)."""
        n_features = self._meta["relevance"].shape[1]
        k = _check_k(k, n_features)
        if by is None:
            raise ValueError("by must be 'target' or 'assigned' for a summary")
        names = (
            [str(s) for s in self.feature_names]
            if self.feature_names is not None
            else [f"x{i}" for i in range(n_features)]
        )
        return self._finish(dask.delayed(_summary, pure=True)(self._stats(by), names, k, by), compute)
