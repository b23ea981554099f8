"""Fitting a model by name, for the command line and the demo.

:func:`fitters` maps the names the command line accepts (``--model``) to
functions ``fit(X, n_clusters, *, seed, n_threads, max_iter=None, ...)``
returning a fitted *neuralized* model, through the package's estimators
(:class:`neon_ext.KMeans`, :class:`neon_ext.KernelKMeans`).
"""

from __future__ import annotations

import numpy as np

from .kernel_kmeans import KernelKMeans
from .kmeans import KMeans

__all__ = ["fit_kernel_kmeans", "fit_kmeans", "fit_preprocessing", "fitters"]


def fit_kmeans(X, n_clusters: int, *, seed: int = 0, max_iter=None, n_threads=None, progress=False):
    """k-means on X; returns a NeuralizedKMeans (with the fitted beta)."""
    km = KMeans(n_clusters=n_clusters, max_iter=max_iter or 300, random_state=seed, n_threads=n_threads)
    return km.fit(X, progress=progress).neuralize()


def fit_kernel_kmeans(
    X,
    n_clusters: int,
    *,
    seed: int = 0,
    max_iter=None,
    n_threads=None,
    gamma=None,
    max_support=None,
    pool_stiffness=None,
    progress=False,
):
    """Kernel k-means on X (``neon_ext.KernelKMeans``); returns a NeuralizedKernelKMeans."""
    kk = KernelKMeans(
        n_clusters=n_clusters,
        gamma="auto" if gamma is None else gamma,
        pool_stiffness=pool_stiffness,
        max_support_per_cluster=max_support,
        max_iter=max_iter or 100,
        random_state=seed,
        n_threads=n_threads,
    )
    return kk.fit(X, progress=progress).neuralize()


def fitters() -> dict:
    """Model names for ``--model`` and their fit functions (what this build offers)."""
    return {"kmeans": fit_kmeans, "kernel-kmeans": fit_kernel_kmeans}


def fit_preprocessing(X, *, standardize: bool = False, pca=None, block_rows: int = 65536):
    """The affine map of ``--standardize`` and/or ``--pca N``, fitted on X with
    numpy alone: (A, x_center, b, B) with z = A (x - x_center) + b and B the
    steps' own pseudo-inverses composed (A B = I), as NeuralizedPipeline takes.

    Standardizing divides by the column's standard deviation (1 where it is
    0, as scikit-learn's StandardScaler); PCA keeps the N leading
    eigenvectors of the covariance (unwhitened), which are orthonormal, so B
    is their transpose. Moments are accumulated over row blocks (memory maps
    stream). Refuses N beyond the rank of the data: those directions would be
    arbitrary.
    """
    n, d = X.shape
    mean = np.zeros(d)
    for lo in range(0, n, block_rows):
        mean += np.asarray(X[lo : lo + block_rows], dtype=np.float64).sum(axis=0)
    mean /= max(n, 1)
    cov = np.zeros((d, d))
    for lo in range(0, n, block_rows):
        block = np.asarray(X[lo : lo + block_rows], dtype=np.float64) - mean
        cov += block.T @ block
    cov /= max(n - 1, 1)
    scale = np.ones(d)
    if standardize:
        std = np.sqrt(np.diag(cov) * (max(n - 1, 1) / max(n, 1)))  # population std, as StandardScaler
        scale = np.where(std > 0, std, 1.0)
    A, B = np.diag(1.0 / scale), np.diag(scale)
    if pca is not None:
        if not 1 <= pca <= d:
            raise ValueError(f"--pca {pca}: must be between 1 and the number of features ({d})")
        values, vectors = np.linalg.eigh(cov / np.outer(scale, scale))
        order = np.argsort(values)[::-1][:pca]
        if values[order[-1]] <= 1e-12 * max(values[order[0]], 1e-300):
            raise ValueError(
                f"--pca {pca}: the data have only {int(np.sum(values > 1e-12 * values.max()))} "
                "directions of non-zero variance"
            )
        V = vectors[:, order].T  # (pca, d), orthonormal rows
        A, B = V @ A, B @ V.T
    return A, mean, np.zeros(A.shape[0]), B
