"""neon_ext.dask.KMeans on a 2-process distributed cluster against the
in-memory neon_ext.KMeans."""

from __future__ import annotations

import neon_ext as nx
import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="neon_ext.dask needs the 'dask' extra (dask, distributed)")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
import neon_ext.dask as nxd
from dask_cluster import local_cluster_client
from neon_ext.dask.kmeans import KMeans


def _blobs(n, d, k, seed, spread):
    rng = np.random.default_rng(seed)
    C = rng.normal(scale=spread, size=(k, d))
    return C[rng.integers(k, size=n)] + rng.normal(size=(n, d))


@pytest.fixture(scope="module")
def client():
    yield from local_cluster_client()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spread", [4.0, 1.0], ids=["separated", "overlapping"])
def test_dask_kmeans_inertia_within_one_percent(client, dtype, spread):
    X = _blobs(20_000, 8, 6, 1, spread).astype(dtype)
    w = np.random.default_rng(2).random(len(X))
    ref = nx.KMeans(6, random_state=0).fit(X, sample_weight=w)
    km = KMeans(6, random_state=0).fit(da.from_array(X, chunks=3000), sample_weight=da.from_array(w, chunks=2500))
    assert km.inertia_ <= 1.01 * ref.inertia_
    assert km.cluster_centers_.shape == (6, 8) and km.n_iter_ >= 1
    labels = km.labels_.compute()
    np.testing.assert_array_equal(labels, km.neuralize().predict(X))
    assert km.beta_ == pytest.approx(1 / np.average(km.neuralize().logits(X).max(1), weights=w), rel=1e-5)


def test_dask_kmeans_lloyd_equals_in_memory_from_the_same_start(client):
    X = _blobs(6000, 5, 4, 3, 1.5)
    w = np.random.default_rng(4).integers(0, 3, size=len(X)).astype(float)
    w[:1500] = 0.0  # whole blocks without weight
    init = X[[10, 2000, 4000, 5999]]
    ref = nx.KMeans(4, init=init, tol=0.0, max_iter=100).fit(X, sample_weight=w)
    km = KMeans(4, init=init, tol=0.0, max_iter=100).fit(
        da.from_array(X, chunks=700), sample_weight=da.from_array(w, chunks=700)
    )
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert km.inertia_ == pytest.approx(ref.inertia_, rel=1e-12)
    assert km.beta_ == pytest.approx(ref.beta_, rel=1e-12)


def test_dask_kmeans_relocates_empty_clusters_like_in_memory(client):
    X = _blobs(3000, 4, 3, 5, 3.0)
    init = np.vstack([X[0], X[0], X[1]])  # two equal centres: one cluster empty after the first pass
    ref = nx.KMeans(3, init=init, max_iter=50).fit(X)
    km = KMeans(3, init=init, max_iter=50).fit(da.from_array(X, chunks=400))
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert len(np.unique(km.labels_.compute())) == 3


def test_dask_kmeans_dataframe_and_explain(client):
    X = _blobs(4000, 3, 3, 6, 4.0)
    df = dd.from_pandas(pd.DataFrame(X, columns=["a", "b", "c"]), npartitions=4)
    km = KMeans(3, random_state=1).fit(df)
    e = km.explain(df)
    assert e.beta == km.beta_ and list(e.relevance.columns) == ["a", "b", "c"]
    np.testing.assert_array_equal(e.compute().relevance, km.neuralize().explain(X, beta=km.beta_).relevance)
    np.testing.assert_array_equal(nxd.predict(km, df).compute().to_numpy(), km.neuralize().predict(X))


def test_dask_kmeans_bad_input(client):
    X = da.from_array(_blobs(100, 3, 2, 7, 3.0), chunks=30)
    with pytest.raises(TypeError, match="dask Array or DataFrame"):
        KMeans(2).fit(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="n_samples=100 should be >= n_clusters=200"):
        KMeans(200).fit(X)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(100,\)"):
        KMeans(2).fit(X, sample_weight=np.ones(99))
    w = np.ones(100)
    w[50] = -1.0
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        KMeans(2).fit(X, sample_weight=w)
    with pytest.raises(ValueError, match="sums to zero"):
        KMeans(2).fit(X, sample_weight=np.zeros(100))
    with pytest.raises(ValueError, match="init='kmeans' must be"):
        KMeans(2, init="kmeans").fit(X)
    with pytest.raises(ValueError, match=r"init has shape \(3, 3\)"):
        KMeans(2, init=np.zeros((3, 3))).fit(X)
    bad = X.compute()
    bad[70, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        KMeans(2).fit(da.from_array(bad, chunks=30))


def test_dask_ml_kmeans_through_neuralize(client):
    dask_ml_cluster = pytest.importorskip("dask_ml.cluster", reason="dask-ml is not installed")
    X = _blobs(3000, 4, 3, 8, 4.0)
    model = dask_ml_cluster.KMeans(n_clusters=3, random_state=0).fit(da.from_array(X, chunks=1000))
    m = nx.neuralize(model)
    e = nxd.explain(model, da.from_array(X, chunks=1000))
    np.testing.assert_array_equal(e.compute().relevance, m.explain(X, beta=e.beta).relevance)
    np.testing.assert_array_equal(e.assigned.compute(), np.asarray(model.labels_))
