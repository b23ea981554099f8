"""Clustering estimators with scikit-learn's interface (mirrors ``sklearn.cluster``).

:class:`KMeans` and :class:`KernelKMeans` fit in the compiled core and hand
over to the neuralized models with ``.neuralize()``; ``_base`` holds what both
share (parameters, input checks, feature names, tags).
"""

from __future__ import annotations

from .kernel_kmeans import KernelKMeans
from .kmeans import KMeans

__all__ = ["KMeans", "KernelKMeans"]
