"""Fitting a model by name, for the command line and the demo.

``FITTERS`` maps the names the command line accepts (``--model``) to
functions returning a fitted *neuralized* model. A model family joins the
command line by adding one entry here (and a save/load kind in
``persistence.py``).
"""

from __future__ import annotations

import numpy as np

from .kmeans import NeuralizedKMeans

__all__ = ["FITTERS", "fit_kmeans"]


def _lloyd(X, k: int, seed: int, max_iter: int) -> np.ndarray:
    """k-means++ seeding and Lloyd iterations in plain numpy (small data only)."""
    rng = np.random.default_rng(seed)
    X = np.asarray(X, dtype=np.float64)
    centers = [X[rng.integers(len(X))]]
    for _ in range(1, k):
        d2 = np.min(((X[:, None, :] - np.asarray(centers)[None]) ** 2).sum(-1), axis=1)
        total = d2.sum()
        p = d2 / total if total > 0 else None
        centers.append(X[rng.choice(len(X), p=p)])
    C = np.asarray(centers)
    for _ in range(max_iter):
        labels = np.argmin(((X[:, None, :] - C[None]) ** 2).sum(-1), axis=1)
        new = np.array([X[labels == j].mean(0) if np.any(labels == j) else C[j] for j in range(k)])
        if np.allclose(new, C):
            break
        C = new
    return C


def fit_kmeans(X, n_clusters: int, *, seed: int = 0, max_iter: int = 300, n_threads=None):
    """k-means on X (k-means++ seeding, Lloyd iterations); returns a NeuralizedKMeans."""
    X = np.asarray(X)
    if not 2 <= n_clusters <= len(X):
        raise ValueError(f"n_clusters={n_clusters} must be between 2 and the number of rows ({len(X)})")
    return NeuralizedKMeans(_lloyd(X, n_clusters, seed, max_iter))


FITTERS = {"kmeans": fit_kmeans}
