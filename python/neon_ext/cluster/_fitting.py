"""Fitting a model by name, for the command line and the demo.

:func:`fitters` maps the names the command line accepts (``--model``) to
functions ``fit(X, n_clusters, *, seed, n_threads, max_iter=None, ...)``
returning a fitted *neuralized* model, through the package's estimators
(:class:`neon_ext.KMeans`, :class:`neon_ext.KernelKMeans`).
"""

from __future__ import annotations

from .kernel_kmeans import KernelKMeans
from .kmeans import KMeans

__all__ = ["fit_kernel_kmeans", "fit_kmeans", "fitters"]


def fit_kmeans(X, n_clusters: int, *, seed: int = 0, max_iter=None, n_threads=None, progress=False):
    """k-means on X; returns a NeuralizedKMeans (with the fitted beta)."""
    km = KMeans(n_clusters=n_clusters, max_iter=max_iter or 300, random_state=seed, n_threads=n_threads)
    return km.fit(X, progress=progress).neuralize()


def fit_kernel_kmeans(X, n_clusters: int, *, seed: int = 0, max_iter=None, n_threads=None, gamma=None,
                      max_support=None, pool_stiffness=None, progress=False):
    """Kernel k-means on X (``neon_ext.KernelKMeans``); returns a NeuralizedKernelKMeans."""
    kk = KernelKMeans(n_clusters=n_clusters, gamma="auto" if gamma is None else gamma,
                      pool_stiffness=pool_stiffness, max_support_per_cluster=max_support,
                      max_iter=max_iter or 100, random_state=seed, n_threads=n_threads)
    return kk.fit(X, progress=progress).neuralize()


def fitters() -> dict:
    """Model names for ``--model`` and their fit functions (what this build offers)."""
    return {"kmeans": fit_kmeans, "kernel-kmeans": fit_kernel_kmeans}
