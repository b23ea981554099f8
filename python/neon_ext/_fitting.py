"""Fitting a model by name, for the command line and the demo.

:func:`fitters` maps the names the command line accepts (``--model``) to
functions ``fit(X, n_clusters, *, seed, n_threads, max_iter=None, ...)``
returning a fitted *neuralized* model. The package's estimators are used when
it has them (``neon_ext.KMeans``, ``neon_ext.KernelKMeans``); k-means falls
back to the k-means++ / Lloyd loop below, kernel k-means is offered only
when its estimator exists.
"""

from __future__ import annotations

import numpy as np

from .kmeans import NeuralizedKMeans

__all__ = ["fit_kernel_kmeans", "fit_kmeans", "fitters"]


def _estimator(name: str):
    import neon_ext

    return getattr(neon_ext, name, None)


def _lloyd(X, k: int, seed: int, max_iter: int) -> np.ndarray:
    """k-means++ seeding and Lloyd iterations; assignments by the compiled core.

    Memory stays O(n * D): seeding keeps one running distance per row and
    the assignment step streams through NeuralizedKMeans.predict.
    """
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    C = np.empty((k, X.shape[1]))
    C[0] = X[rng.integers(n)]
    d2 = ((X - C[0]) ** 2).sum(axis=1, dtype=np.float64)
    for j in range(1, k):
        total = d2.sum()
        C[j] = X[rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)]
        d2 = np.minimum(d2, ((X - C[j]) ** 2).sum(axis=1, dtype=np.float64))
    for _ in range(max_iter):
        labels = NeuralizedKMeans(C).predict(X)
        sums = np.zeros_like(C)
        np.add.at(sums, labels, X)
        counts = np.bincount(labels, minlength=k)
        new = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], C)
        if np.allclose(new, C, rtol=1e-10, atol=0.0):
            break
        C = new
    return C


def fit_kmeans(X, n_clusters: int, *, seed: int = 0, max_iter=None, n_threads=None):
    """k-means on X; returns a NeuralizedKMeans."""
    if not 2 <= n_clusters <= len(X):
        raise ValueError(f"n_clusters={n_clusters} must be between 2 and the number of rows ({len(X)})")
    KMeans = _estimator("KMeans")
    if KMeans is not None:
        km = KMeans(n_clusters=n_clusters, max_iter=max_iter or 300, random_state=seed, n_threads=n_threads)
        return km.fit(X).neuralize()
    return NeuralizedKMeans(_lloyd(X, n_clusters, seed, max_iter or 300))


def fit_kernel_kmeans(X, n_clusters: int, *, seed: int = 0, max_iter=None, n_threads=None, gamma=None,
                      max_support=None, pool_stiffness=None):
    """Kernel k-means on X (``neon_ext.KernelKMeans``); returns a NeuralizedKernelKMeans."""
    KernelKMeans = _estimator("KernelKMeans")
    kk = KernelKMeans(n_clusters=n_clusters, gamma="auto" if gamma is None else gamma,
                      pool_stiffness=pool_stiffness, max_support_per_cluster=max_support,
                      max_iter=max_iter or 100, random_state=seed, n_threads=n_threads)
    return kk.fit(X).neuralize()


def fitters() -> dict:
    """Model names for ``--model`` and their fit functions (what this build offers)."""
    out = {"kmeans": fit_kmeans}
    if _estimator("KernelKMeans") is not None:
        out["kernel-kmeans"] = fit_kernel_kmeans
    return out
