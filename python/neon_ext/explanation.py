"""The result of a NEON explanation, its summaries and its exports."""

from __future__ import annotations

import numbers

import numpy as np

from ._chunks import row_chunks, rows_per_chunk

__all__ = ["ClusterSummary", "Explanation"]

_SUMMARY_CHUNK = 1 << 20  # relevance entries per step of the streaming summaries


def _check_k(k, n_features: int) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an int, got {k!r}")
    value = int(k)
    if not 1 <= value <= n_features:
        raise ValueError(f"k={k} must be between 1 and the number of features ({n_features})")
    return value


def _top_k_in_logit_direction(R: np.ndarray, f: np.ndarray, k: int):
    """Indices (rows, k) of the k features pushing hardest in the direction of f.

    For f >= 0 the k largest relevances, for f < 0 the k most negative ones;
    each row ordered from the strongest, ties by feature index.
    """
    signed = np.where((f < 0)[:, None], R, -R)  # ascending order of `signed` = strongest first
    return np.argsort(signed, axis=1, kind="stable")[:, :k]


def _share(R: np.ndarray, f: np.ndarray, k: int) -> np.ndarray:
    """Sum of the top-k relevances (in f's direction) divided by f; NaN where f == 0."""
    top = _top_k_in_logit_direction(R, f, k)
    part = np.take_along_axis(R, top, axis=1).sum(axis=1)
    out = np.full(f.shape, np.nan)
    nz = f != 0
    out[nz] = part[nz] / f[nz]
    return out


class Explanation:
    """Relevance of every input feature for a cluster assignment.

    Attributes
    ----------
    relevance : ndarray, shape (n_samples, n_features)
        NEON relevance R_i of each feature; each row sums to ``logit``
        (up to rounding). Positive values speak for the target cluster,
        negative values against it.
    logit : ndarray, shape (n_samples,)
        The explained cluster logit f_c(x) of the target cluster c: the margin
        by which x is closer to c than to the nearest competitor (> 0 exactly
        when x is assigned to c).
    target : ndarray of int64, shape (n_samples,)
        The explained cluster of each row.
    assigned : ndarray of int64, shape (n_samples,)
        The cluster each row is assigned to.
    beta : float
        Stiffness of the soft-min redistribution over competitors.
    feature_names : ndarray of str or None
        Column names, when the input was a DataFrame with string columns.
    data : ndarray or None
        The explained input rows (a reference, not a copy), when the model
        passed them; :meth:`to_shap` and the plots show them.
    n_clusters : int
        Number of clusters of the model (inferred from the labels when not
        given).
    index : pandas Index or None
        The row index of a DataFrame input; :meth:`to_pandas` keeps it, so
        results join back to the input.

    Notes
    -----
    Summaries (:meth:`mean_relevance`, :meth:`summary`) read ``relevance`` in
    chunks of rows, so they work on memory-mapped results larger than memory.
    Indexing (``e[rows]``) gives the explanation of a subset of the rows.
    """

    __slots__ = ("relevance", "logit", "target", "assigned", "beta", "feature_names", "data", "n_clusters", "index")

    def __init__(
        self, relevance, logit, target, assigned, beta, feature_names=None, *, data=None, n_clusters=None, index=None
    ):
        self.relevance = relevance
        self.logit = logit
        self.target = target
        self.assigned = assigned
        self.beta = float(beta)
        self.feature_names = feature_names
        self.data = data
        if n_clusters is None:
            n = len(relevance)
            n_clusters = int(max(np.max(target), np.max(assigned))) + 1 if n else 0
        self.n_clusters = int(n_clusters)
        self.index = index

    def __len__(self) -> int:
        return self.relevance.shape[0]

    def __repr__(self) -> str:
        n, d = self.relevance.shape
        return f"Explanation(n_samples={n}, n_features={d}, dtype={self.relevance.dtype}, beta={self.beta:.6g})"

    def __getitem__(self, rows) -> Explanation:
        """The explanation of a subset of rows (int, slice, index or boolean array)."""
        if isinstance(rows, numbers.Integral) and not isinstance(rows, (bool, np.bool_)):
            n, i = len(self), int(rows)
            if not -n <= i < n:
                raise IndexError(f"row {rows} is out of range for {n} rows")
            rows = slice(i % n, i % n + 1)
        elif not isinstance(rows, slice):
            rows = np.asarray(rows)
            if rows.ndim != 1 or rows.dtype.kind not in "iub":
                raise IndexError("rows must be an int, a slice, or a 1-D integer or boolean array")
        return Explanation(
            self.relevance[rows],
            self.logit[rows],
            self.target[rows],
            self.assigned[rows],
            self.beta,
            self.feature_names,
            data=None if self.data is None else self.data[rows],
            n_clusters=self.n_clusters,
            index=None if self.index is None else self.index[rows],
        )

    # -- per row ------------------------------------------------------------
    @property
    def feature_labels(self) -> list:
        """``feature_names`` as a list, or ``['x0', 'x1', ...]`` when there are none."""
        if self.feature_names is not None:
            return [str(s) for s in self.feature_names]
        return [f"x{i}" for i in range(self.relevance.shape[1])]

    def conservation_error(self) -> np.ndarray:
        """Per row, sum of relevance minus logit (float64); ~0 up to rounding."""
        return self.relevance.sum(axis=1, dtype=np.float64) - self.logit.astype(np.float64)

    def top_features(self, row: int, k: int = 3):
        """The k features with the largest relevance for one row, as (index, value) pairs."""
        r = np.asarray(self.relevance[row], dtype=np.float64)
        order = np.argsort(-r, kind="stable")[:k]
        return [(int(i), float(r[i])) for i in order]

    def top_k_share(self, k: int = 3) -> np.ndarray:
        """Per row, the share of the logit carried by its k strongest features.

        The k features are those pushing hardest in the logit's direction (the
        largest relevances when f_c(x) > 0, the most negative when f_c(x) < 0);
        the share is their summed relevance divided by the logit. It can
        exceed 1 when other features argue the other way. NaN where the logit
        is exactly 0 (a point on a decision boundary has nothing to share).

        Returns
        -------
        ndarray of float64, shape (n_samples,)
        """
        k = _check_k(k, self.relevance.shape[1])
        out = np.empty(len(self))
        for lo, hi in self._chunks():
            R = np.asarray(self.relevance[lo:hi], dtype=np.float64)
            out[lo:hi] = _share(R, np.asarray(self.logit[lo:hi], dtype=np.float64), k)
        return out

    # -- summaries ------------------------------------------------------------
    def cluster_sizes(self, by: str = "target") -> np.ndarray:
        """Number of rows per cluster (int64, shape (n_clusters,)), grouped as in :meth:`mean_relevance`."""
        return np.bincount(self._groups(by), minlength=self.n_clusters).astype(np.int64)

    def mean_relevance(self, by: str | None = None, *, absolute: bool = False) -> np.ndarray:
        """Mean relevance of each feature, over all rows or per cluster.

        Parameters
        ----------
        by : None, "target" or "assigned"
            None: over the whole dataset, shape (n_features,). "target": one
            row per explained cluster, "assigned": one row per assigned
            cluster, shape (n_clusters, n_features). (The two agree for the
            default explanation of each row's own cluster.) A cluster without
            rows gets a row of NaN.
        absolute : bool
            Average ``|relevance|`` instead: how much a feature matters,
            whichever way it argues.

        Returns
        -------
        ndarray of float64
        """
        sums, counts = self._grouped_sums(by, absolute)
        if by is None:
            return sums[0] / counts[0] if counts[0] else np.full(sums.shape[1], np.nan)
        out = np.full(sums.shape, np.nan)
        nz = counts > 0
        out[nz] = sums[nz] / counts[nz, None]
        return out

    def mean_abs_relevance(self, by: str | None = None) -> np.ndarray:
        """:meth:`mean_relevance` of ``|relevance|``."""
        return self.mean_relevance(by, absolute=True)

    def mean_logit(self, by: str | None = None) -> np.ndarray | float:
        """Mean explained logit, over all rows (a float) or per cluster (NaN for an empty one)."""
        groups = None if by is None else self._groups(by)
        f = np.asarray(self.logit, dtype=np.float64)
        if groups is None:
            return float(f.mean()) if f.size else float("nan")
        sums = np.bincount(groups, weights=f, minlength=self.n_clusters)
        counts = np.bincount(groups, minlength=self.n_clusters)
        out = np.full(self.n_clusters, np.nan)
        out[counts > 0] = sums[counts > 0] / counts[counts > 0]
        return out

    def summary(self, k: int = 3, by: str = "target") -> ClusterSummary:
        """Per-cluster and dataset-level summary: sizes, mean logits, top-k features.

        For each cluster (grouped by ``by``, see :meth:`mean_relevance`) and for
        the whole dataset: the number of rows, the mean logit, the k features
        of largest mean relevance in the mean logit's direction, and the share
        of the mean logit they carry (mean relevance sums to the mean logit,
        so the shares of all features add up to 1).
        """
        k = _check_k(k, self.relevance.shape[1])
        self._groups(by)  # checks `by`
        sums, counts = self._grouped_sums(by, False)
        logit = np.asarray(self.logit, dtype=np.float64)
        logit_sums = np.bincount(self._groups(by), weights=logit, minlength=self.n_clusters)
        return ClusterSummary.from_group_sums(sums, counts, logit_sums, self.feature_labels, k, by)

    # -- exports --------------------------------------------------------------
    def to_shap(self, data=None):
        """The relevance as a ``shap.Explanation`` (imports shap).

        values = relevance, base_values = 0 and data = the explained rows, so
        shap's plots work unchanged: ``shap.plots.waterfall(s[i])`` ends at
        f(x) = the cluster logit, ``shap.plots.beeswarm(s)`` shows the data
        set, ``s.cohorts(e.cluster_labels())`` splits it by cluster.

        Parameters
        ----------
        data : array-like, shape (n_samples, n_features), optional
            Feature values to show; default the rows the model explained.
        """
        X = self.data if data is None else data
        if X is not None:
            X = np.asarray(X)
            if X.shape != self.relevance.shape:
                raise ValueError(f"data must have shape {self.relevance.shape}, got {X.shape}")
        import shap

        return shap.Explanation(
            values=np.asarray(self.relevance),
            base_values=np.zeros(len(self), dtype=self.relevance.dtype),
            data=X,
            feature_names=self.feature_labels,
        )

    def cluster_labels(self, by: str = "assigned") -> np.ndarray:
        """``"cluster 0"``, ``"cluster 1"``, ... per row, e.g. for shap's cohorts.

        ``e.to_shap().cohorts(e.cluster_labels())`` gives one shap view per
        cluster (shap needs string cohort names).
        """
        return np.char.add("cluster ", self._groups(by).astype(str))

    def to_pandas(self, *, outputs: bool = False):
        """The relevance as a ``pandas.DataFrame``, one column per feature (imports pandas).

        With ``outputs=True`` three columns follow: ``logit``, ``target`` and
        ``assigned``.
        """
        import pandas as pd

        df = pd.DataFrame(np.asarray(self.relevance), columns=self.feature_labels, index=self.index)
        if outputs:
            for name in ("logit", "target", "assigned"):
                if name in df.columns:
                    raise ValueError(f"a feature is called {name!r}; use outputs=False")
            df["logit"] = np.asarray(self.logit)
            df["target"] = np.asarray(self.target)
            df["assigned"] = np.asarray(self.assigned)
        return df

    # -- internals ------------------------------------------------------------
    def _chunks(self):
        return row_chunks(len(self), rows_per_chunk(_SUMMARY_CHUNK, self.relevance.shape[1]))

    def _groups(self, by: str) -> np.ndarray:
        if by == "target":
            g = self.target
        elif by == "assigned":
            g = self.assigned
        else:
            raise ValueError(f"by must be None, 'target' or 'assigned', got {by!r}")
        return np.asarray(g, dtype=np.int64)

    def _grouped_sums(self, by, absolute: bool):
        """Per-group sums of (absolute) relevance in float64, and group sizes."""
        D = self.relevance.shape[1]
        groups = None if by is None else self._groups(by)
        G = 1 if groups is None else self.n_clusters
        sums = np.zeros((G, D))
        for lo, hi in self._chunks():
            R = np.asarray(self.relevance[lo:hi], dtype=np.float64)
            if absolute:
                R = np.abs(R)
            if groups is None:
                sums[0] += R.sum(axis=0)
            else:
                np.add.at(sums, groups[lo:hi], R)
        counts = np.array([len(self)]) if groups is None else np.bincount(groups, minlength=G)
        return sums, counts


class ClusterSummary:
    """What :meth:`Explanation.summary` returns; ``print()`` it for a table.

    Rows 0..n_clusters-1 are the clusters, the last row is the whole dataset.

    Attributes
    ----------
    sizes : ndarray of int64, shape (n_clusters + 1,)
    mean_logit : ndarray of float64, shape (n_clusters + 1,)
    top_features : ndarray of int64, shape (n_clusters + 1, k)
        Feature indices, strongest first.
    top_relevance : ndarray of float64, shape (n_clusters + 1, k)
        Their mean relevance.
    top_share : ndarray of float64, shape (n_clusters + 1,)
        Share of the mean logit they carry (NaN for an empty cluster or a
        mean logit of 0).
    feature_names : list of str
    by : str
    """

    def __init__(self, sizes, mean_logit, top_features, top_relevance, top_share, feature_names, by):
        self.sizes = sizes
        self.mean_logit = mean_logit
        self.top_features = top_features
        self.top_relevance = top_relevance
        self.top_share = top_share
        self.feature_names = feature_names
        self.by = by

    @classmethod
    def from_group_sums(cls, sums, counts, logit_sums, feature_names, k: int, by: str) -> ClusterSummary:
        """The summary from per-cluster sums of relevance (K, D) and of the
        logit (K,) and the cluster sizes (K,): all it needs, so that partial
        sums computed elsewhere (blocks of rows on a cluster) give the same table."""
        counts = np.asarray(counts)
        sums_all, count_all = sums.sum(axis=0), counts.sum()
        nz = counts > 0
        mean = np.full(sums.shape, np.nan)
        mean[nz] = sums[nz] / counts[nz, None]
        mean_all = sums_all / count_all if count_all else np.full(sums.shape[1], np.nan)
        M = np.vstack([mean, mean_all[None]])
        f = np.full(len(counts) + 1, np.nan)
        f[:-1][nz] = logit_sums[nz] / counts[nz]
        if count_all:
            f[-1] = logit_sums.sum() / count_all
        f_safe = np.where(np.isnan(f), 0.0, f)
        top = _top_k_in_logit_direction(np.nan_to_num(M), f_safe, k)
        share = _share(np.nan_to_num(M), f_safe, k)
        share[np.isnan(f)] = np.nan
        return cls(
            sizes=np.append(counts, count_all).astype(np.int64),
            mean_logit=f,
            top_features=top,
            top_relevance=np.take_along_axis(M, top, axis=1),
            top_share=share,
            feature_names=feature_names,
            by=by,
        )

    def __repr__(self) -> str:
        return self.to_string()

    def to_string(self) -> str:
        k = self.top_features.shape[1]
        head = f"{'cluster':>7} {'size':>7} {'mean logit':>10}  {'top-' + str(k) + ' share':>11}  top features (mean relevance)"
        lines = [head]
        for g in range(len(self.sizes)):
            label = "all" if g == len(self.sizes) - 1 else str(g)
            if self.sizes[g] == 0:
                lines.append(f"{label:>7} {0:>7} {'-':>10}  {'-':>11}  (no rows)")
                continue
            top = ", ".join(
                f"{self.feature_names[j]} ({r:+.3g})" for j, r in zip(self.top_features[g], self.top_relevance[g])
            )
            share = "-" if np.isnan(self.top_share[g]) else f"{100 * self.top_share[g]:.0f}%"
            lines.append(f"{label:>7} {self.sizes[g]:>7} {self.mean_logit[g]:>10.4g}  {share:>11}  {top}")
        return "\n".join(lines)

    def to_pandas(self):
        """One row per cluster plus ``"all"``: size, mean_logit, top_share, top_1..top_k."""
        import pandas as pd

        index = [str(g) for g in range(len(self.sizes) - 1)] + ["all"]
        df = pd.DataFrame(
            {"size": self.sizes, "mean_logit": self.mean_logit, "top_share": self.top_share},
            index=pd.Index(index, name=f"cluster ({self.by})"),
        )
        for j in range(self.top_features.shape[1]):
            df[f"top_{j + 1}"] = [self.feature_names[i] for i in self.top_features[:, j]]
        return df
