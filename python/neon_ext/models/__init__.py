"""The neuralized models: k-means and kernel k-means rewritten as networks that NEON explains.

``_base`` holds :class:`NeuralizedModel` (validation, row blocks, the
explanation entry points shared by both models), ``kmeans`` and
``kernel_kmeans`` the two models, ``pipeline`` either of them behind affine
preprocessing (explained on the raw columns), ``neuralize`` the converter from fitted
estimators, ``competitors`` the per-competitor relevance breakdown and
``_ops`` the plain forward/gradient operations the baselines use.
"""

from __future__ import annotations

from ._base import DEFAULT_EPS, NeuralizedModel
from .kernel_kmeans import NeuralizedKernelKMeans
from .kmeans import NeuralizedKMeans
from .neuralize import neuralize
from .pipeline import NeuralizedPipeline

__all__ = [
    "DEFAULT_EPS",
    "NeuralizedKMeans",
    "NeuralizedKernelKMeans",
    "NeuralizedModel",
    "NeuralizedPipeline",
    "neuralize",
]
