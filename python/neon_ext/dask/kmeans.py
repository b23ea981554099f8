"""k-means fitted on a dask Array: Lloyd iterations on the workers."""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np

from .._validation import check_n_threads, check_nonnegative_float
from .._validation import check_int as _check_int
from ..cluster._base import ClusteringEstimator, _check_random_state, _draw_seed
from ..cluster.kmeans import KMeans as InMemoryKMeans
from ..exceptions import ConvergenceWarning
from ..models._base import beta_from_mean_logit
from ..models.kmeans import NeuralizedKMeans
from . import _kmeans_blocks as blocks
from ._explain import explain, predict
from ._inputs import rows_of, tree_reduce

__all__ = ["KMeans"]

_INITS = ("k-means++", "random")


def _fold(X, w, func, merge, *args, with_offset=False):
    """Apply func(X_block, w_block, *args[, offset]) to every block and reduce with merge (one Delayed)."""
    xs = X.to_delayed().ravel().tolist()
    ws = [None] * len(xs) if w is None else w.to_delayed().ravel().tolist()
    offsets = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(np.int64)
    parts = []
    for i, (xb, wb) in enumerate(zip(xs, ws)):
        extra = (int(offsets[i]),) if with_offset else ()
        parts.append(dask.delayed(func, pure=True)(xb, wb, *args[:-1], *extra, args[-1]))
    return tree_reduce(parts, merge)


class KMeans(ClusteringEstimator):
    """k-means on data in a dask Array (or DataFrame), explainable with NEON.

    Each Lloyd iteration is one distributed pass: every block is assigned to
    the nearest centres by the compiled core (the pass ``neon_ext.KMeans``
    iterates), accumulates per-cluster weighted sums, and the partial sums
    are reduced across workers into the new centres; clusters left empty
    take the rows farthest from their centres, as in memory. The start is
    ``neon_ext.KMeans`` (k-means++ seeding and Lloyd, compiled) on a random
    sample of the rows.

    Parameters
    ----------
    n_clusters : int, default 8
    init : {"k-means++", "random"} or array (n_clusters, n_features)
        How the in-memory fit on the sample starts, or the initial centres.
    n_init : int, default 1
        Restarts of the in-memory fit on the sample (the best is kept).
    max_iter : int, default 300
        Distributed Lloyd iterations at most.
    tol : float, default 1e-4
        Converged when the squared centre shift (summed over clusters) is at
        most tol x the mean weighted per-feature variance of X.
    init_sample_size : int, optional
        Rows drawn (uniformly, by block-seeded generators) for the start;
        default max(10000, 100 n_clusters).
    random_state : None, int or numpy RandomState/Generator
    n_threads : int, optional
        Threads of the compiled core inside each task (None: the worker's default).
    persist : bool, default True
        Persist X (and sample_weight) in the cluster's memory before
        iterating, so each iteration does not recompute or reread them.

    Attributes
    ----------
    cluster_centers_ : ndarray (n_clusters, n_features), float64
    inertia_ : float
    n_iter_ : int
    labels_ : dask Array of int64 (lazy, from the final centres)
    beta_ : float
        1 / (weighted mean assigned logit on the training data), the default
        stiffness of :meth:`explain`.
    n_features_in_ : int
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        n_init=1,
        max_iter=300,
        tol=1e-4,
        init_sample_size=None,
        random_state=None,
        n_threads=None,
        persist=True,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.init_sample_size = init_sample_size
        self.random_state = random_state
        self.n_threads = n_threads
        self.persist = persist

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cluster_centers_")

    # -- fitting -----------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Fit on a dask Array (n_samples, n_features) or DataFrame; sample_weight:
        a dask or numpy 1-D array of non-negative weights (None: all 1)."""
        K = _check_int(self.n_clusters, "n_clusters", 2)
        max_iter = _check_int(self.max_iter, "max_iter", 1)
        n_init = _check_int(self.n_init, "n_init", 1)
        check_nonnegative_float(self.tol, "tol")
        sample_size = (
            max(10_000, 100 * K)
            if self.init_sample_size is None
            else _check_int(self.init_sample_size, "init_sample_size", K)
        )
        threads = check_n_threads(self.n_threads)
        init = self.init
        if isinstance(init, str) and init not in _INITS:
            raise ValueError(f"init={init!r} must be 'k-means++', 'random' or an array of centres")
        rng = _check_random_state(self.random_state)

        X = self._rows(X)
        n, D = X.shape
        if n < K:
            raise ValueError(f"n_samples={n} should be >= n_clusters={K}.")
        w = self._weights(sample_weight, X)
        if self.persist:
            X, w = dask.persist(X, w)

        # One pass: checks X and the weights, gives the tolerance's scale and
        # the origin the sums are taken around (precision far from 0).
        W, origin, M2 = _fold(X, w, blocks.moments_block, blocks.merge_moments, threads).compute()
        if not W > 0:
            raise ValueError("sample_weight sums to zero: at least one sample needs a positive weight")
        tol = float(np.mean(M2 / W)) * float(self.tol)

        if isinstance(init, str):
            centers = self._start(X, w, K, init, n_init, sample_size, rng, threads)
        else:
            centers = InMemoryKMeans._check_centers(init, K, D, "init")

        n_iter = max_iter
        for it in range(1, max_iter + 1):
            step = _fold(
                X, w, blocks.lloyd_block, blocks.merge_lloyd, centers, origin, threads, with_offset=True
            ).compute()
            centers, shift = self._update(centers, origin, step)
            if shift <= tol:
                n_iter = it
                break

        (inertia, logit_sum), counts = _fold(X, w, blocks.assign_block, blocks.merge_assign, centers, threads).compute()
        self.cluster_centers_ = centers
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        self.n_features_in_ = D
        self._neuralized = NeuralizedKMeans(centers)
        self.beta_ = beta_from_mean_logit(float(logit_sum) / W, self._neuralized._fallback_logit_scale())
        self.labels_ = predict(self._neuralized, X, n_threads=self.n_threads)
        if np.count_nonzero(counts) < K:
            warnings.warn(
                f"Number of distinct clusters ({np.count_nonzero(counts)}) found smaller than "
                f"n_clusters ({K}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    @staticmethod
    def _rows(X):
        if isinstance(X, dd.DataFrame):
            X = X.to_dask_array(lengths=True)
        if not isinstance(X, da.Array):
            raise TypeError(
                f"X must be a dask Array or DataFrame, got {type(X).__name__}; use neon_ext.KMeans for in-memory data"
            )
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got {X.ndim}-D with shape {X.shape}")
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        return rows_of(X, X.shape[1])

    @staticmethod
    def _weights(sample_weight, X):
        if sample_weight is None:
            return None
        w = sample_weight if isinstance(sample_weight, da.Array) else da.from_array(np.asarray(sample_weight))
        if w.ndim != 1 or w.shape[0] != X.shape[0]:
            raise ValueError(f"sample_weight must have shape ({X.shape[0]},), got {w.shape}")
        if w.dtype.kind not in "fiub":
            raise TypeError(f"sample_weight must hold real numbers, got dtype {w.dtype}")
        return w.rechunk((X.chunks[0],))

    @staticmethod
    def _start(X, w, K, init, n_init, sample_size, rng, threads):
        """neon_ext.KMeans (k-means++ or random seeds, then Lloyd) on a uniform sample of rows."""
        seed = _draw_seed(rng)
        p = min(1.0, sample_size / X.shape[0])
        xs = X.to_delayed().ravel().tolist()
        ws = [None] * len(xs) if w is None else w.to_delayed().ravel().tolist()
        parts = dask.compute(
            *(
                dask.delayed(blocks.sample_block, pure=True)(xb, wb, seed, i, p)
                for i, (xb, wb) in enumerate(zip(xs, ws))
            )
        )
        S = np.concatenate([s for s, _ in parts])
        sw = np.concatenate([v for _, v in parts])
        if S.shape[0] < K:
            raise ValueError(
                f"the initialization sample has {S.shape[0]} rows with positive weight, fewer than "
                f"n_clusters={K}: raise init_sample_size"
            )
        km = InMemoryKMeans(K, init=init, n_init=n_init, random_state=seed % (2**32), n_threads=threads or None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # judged on all rows, at the end
            return km.fit(S, sample_weight=sw).cluster_centers_

    @staticmethod
    def _update(centers, origin, step):
        """New centres from reduced sums; empty clusters take the farthest rows
        of clusters keeping another row (the compiled pass's rule). Returns
        (centres, squared shift)."""
        sums, weight, count = step["sums"].copy(), step["weight"].copy(), step["count"].copy()
        far = step["far"]
        nxt = 0
        for k in np.flatnonzero(count == 0):
            while nxt < len(far["row"]) and count[far["label"][nxt]] < 2:
                nxt += 1
            if nxt == len(far["row"]):
                break
            src, wr, z = far["label"][nxt], far["w"][nxt], far["x"][nxt] - origin
            sums[src] -= wr * z
            weight[src] -= wr
            count[src] -= 1
            sums[k], weight[k], count[k] = wr * z, wr, 1
            nxt += 1
        new = centers.copy()
        nz = count > 0
        new[nz] = origin + sums[nz] / weight[nz, None]
        return new, float(((new - centers) ** 2).sum())

    # -- using the fitted model ------------------------------------------------
    def neuralize(self, **kwargs) -> NeuralizedKMeans:
        """The fitted model as a :class:`neon_ext.NeuralizedKMeans` (in memory)."""
        self._check_fitted()
        return NeuralizedKMeans(self.cluster_centers_, **kwargs)

    def predict(self, X):
        """Nearest centre of each row, lazily (dask Array or Series of int64)."""
        self._check_fitted()
        return predict(self._neuralized, X, n_threads=self.n_threads)

    def explain(self, X, target=None, *, beta=None, n_threads=None):
        """:func:`neon_ext.dask.explain` with this model; ``beta`` defaults to ``beta_``."""
        self._check_fitted()
        return explain(
            self._neuralized,
            X,
            target,
            beta=self.beta_ if beta is None else beta,
            n_threads=self.n_threads if n_threads is None else n_threads,
        )
