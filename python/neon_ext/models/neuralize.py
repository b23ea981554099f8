"""Turning fitted clustering models into neuralized, explainable ones."""

from __future__ import annotations

from ._base import NeuralizedModel
from .kmeans import NeuralizedKMeans

__all__ = ["neuralize"]


def neuralize(model, **kwargs):
    """Return the neuralized (explainable) form of a fitted clustering model.

    Accepts a neuralized model (returned unchanged), any object with a
    ``neuralize()`` method (this package's estimators, e.g. :class:`KernelKMeans`,
    which gives a :class:`NeuralizedKernelKMeans`), or any fitted object
    with a ``cluster_centers_`` array — scikit-learn's KMeans,
    MiniBatchKMeans and BisectingKMeans among them, matched by duck typing
    so that scikit-learn is never imported. Keyword arguments go to the
    neuralized model's constructor.
    """
    if isinstance(model, NeuralizedModel):
        return model
    method = getattr(model, "neuralize", None)
    if callable(method):
        return method(**kwargs)
    centers = getattr(model, "cluster_centers_", None)
    if centers is not None:
        return NeuralizedKMeans(centers, **kwargs)
    raise TypeError(
        f"cannot neuralize {type(model).__name__}: expected a fitted k-means model with "
        "cluster_centers_ (is it fitted?) or an object with a neuralize() method"
    )
