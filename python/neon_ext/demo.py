"""The quick-start job: cluster the bundled wine data and explain every point."""

from __future__ import annotations

import numpy as np

from .datasets import load_wine
from .kmeans import NeuralizedKMeans

__all__ = ["run_demo"]


def _lloyd(X, k, seed=0, n_iter=100):
    """Plain k-means++ seeding and Lloyd iterations in numpy (demo-sized data)."""
    rng = np.random.default_rng(seed)
    centers = [X[rng.integers(len(X))]]
    for _ in range(1, k):
        d2 = np.min(((X[:, None, :] - np.asarray(centers)[None]) ** 2).sum(-1), axis=1)
        centers.append(X[rng.choice(len(X), p=d2 / d2.sum())])
    C = np.asarray(centers)
    for _ in range(n_iter):
        labels = np.argmin(((X[:, None, :] - C[None]) ** 2).sum(-1), axis=1)
        new = np.array([X[labels == j].mean(0) if np.any(labels == j) else C[j] for j in range(k)])
        if np.allclose(new, C):
            break
        C = new
    return C


def run_demo(n_show: int = 5, file=None) -> None:
    X, cultivar, names = load_wine()
    Z = (X - X.mean(0)) / X.std(0)  # standardized: features on one scale
    model = NeuralizedKMeans(_lloyd(Z, 3))
    e = model.explain(Z)
    out = [
        "neon_ext demo: k-means (K=3) on the UCI wine data (178 wines x 13 standardized features)",
        f"cluster sizes: {np.bincount(e.assigned, minlength=3).tolist()}   beta (heuristic): {e.beta:.4f}",
        f"conservation: max |sum(relevance) - logit| = {np.abs(e.conservation_error()).max():.2e}",
        "",
        f"{'wine':>4} {'cluster':>7} {'logit':>8}  top features (relevance)",
    ]
    for i in np.linspace(0, len(Z) - 1, n_show).astype(int):
        top = ", ".join(f"{names[j]} ({r:+.2f})" for j, r in e.top_features(i, 3))
        out.append(f"{i:>4} {e.assigned[i]:>7} {e.logit[i]:>8.3f}  {top}")
    out.append("")
    out.append("mean relevance per cluster, top 3 features:")
    for c in range(3):
        mean_r = e.relevance[e.assigned == c].mean(0)
        top = ", ".join(f"{names[j]} ({mean_r[j]:+.2f})" for j in np.argsort(-mean_r)[:3])
        out.append(f"  cluster {c}: {top}")
    print("\n".join(out), file=file)
