import numpy as np
import pytest


def blobs(n, d, k, seed=0, spread=4.0, dtype=np.float64):
    """Gaussian blobs: n points around k random centres, and the centres."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread, size=(k, d))
    X = centers[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    return X.astype(dtype), centers


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def sklearn_dataset(name):
    datasets = pytest.importorskip("sklearn.datasets")
    loader = {"wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits}[
        name
    ]
    X = loader().data.astype(np.float64)
    return X
