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
    with a ``cluster_centers_`` array — scikit-learn's KMeans and
    MiniBatchKMeans among them, matched by duck typing so that scikit-learn
    is never imported. Its ``feature_names_in_`` (fitted on a DataFrame) are
    kept: DataFrames are then matched to the model by column name. Keyword
    arguments go to the neuralized model's constructor. A fitted scikit-learn
    ``Pipeline`` of affine steps (scalers, PCA, TruncatedSVD) ending in such a
    model gives a :class:`NeuralizedPipeline`, explained on the raw input
    columns.

    scikit-learn's ``BisectingKMeans`` is refused: it assigns points by
    descending its bisection tree, not to the nearest centre, so the
    nearest-centroid model NEON explains would disagree with its labels.
    Explain its clustering with
    ``NeuralizedKernelKMeans.from_labels(X, model.labels_)`` instead.
    """
    if isinstance(model, NeuralizedModel):
        return model
    from .pipeline import NeuralizedPipeline, is_pipeline

    if is_pipeline(model):
        return NeuralizedPipeline.from_pipeline(model, **kwargs)
    method = getattr(model, "neuralize", None)
    if callable(method):
        return method(**kwargs)
    if any(cls.__name__ == "BisectingKMeans" for cls in type(model).__mro__):
        raise TypeError(
            "cannot neuralize BisectingKMeans: it assigns points by its bisection tree, not to the nearest "
            "centre, so a k-means explanation would explain a different model; explain its clustering "
            "with NeuralizedKernelKMeans.from_labels(X, model.labels_), or fit KMeans"
        )
    centers = getattr(model, "cluster_centers_", None)
    if centers is not None:
        neuralized = NeuralizedKMeans(centers, **kwargs)
        names = getattr(model, "feature_names_in_", None)
        if names is not None:
            neuralized.feature_names_in_ = [str(n) for n in names]
        return neuralized
    raise TypeError(
        f"cannot neuralize {type(model).__name__}: expected a fitted k-means model with "
        "cluster_centers_ (is it fitted?) or an object with a neuralize() method"
    )
