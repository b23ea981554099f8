"""neon_ext.dask: explanations of dask Arrays and DataFrames on a real
distributed cluster (2 worker processes on the loopback interface), compared
with the in-memory results and the slow float64 reference."""

from __future__ import annotations

import os
import signal
import time
from fractions import Fraction

import neon_ext as nx
import numpy as np
import pytest
from reference import kmeans_assign, kmeans_explain

distributed = pytest.importorskip("distributed", reason="neon_ext.dask needs the 'dask' extra (dask, distributed)")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
import dask
import neon_ext.dask as nxd
from dask.delayed import Delayed
from dask_cluster import local_cluster_client
from neon_ext.dask._exact_sum import exact_sum, merge

N, D, K = 3000, 6, 4


@pytest.fixture(scope="module")
def client():
    yield from local_cluster_client()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    C = rng.normal(scale=3.0, size=(K, D))
    X = C[rng.integers(K, size=N)] + rng.normal(size=(N, D))
    return X, nx.NeuralizedKMeans(C)


# -- exact sums behind the beta heuristic -------------------------------------------
def test_exact_sum_is_exact_and_order_free():
    rng = np.random.default_rng(0)
    v = rng.normal(size=5001) * np.exp(rng.normal(size=5001) * 30)
    v[:3] = [0.0, 5e-324, -1e300]
    exact = sum(Fraction(x) for x in v)
    assert exact_sum(v).value() == exact
    assert merge(*(exact_sum(p) for p in np.array_split(v, 7))).value() == exact
    assert exact_sum(v).mean() == float(exact / v.size)
    assert np.isnan(exact_sum([]).mean())
    with pytest.raises(ValueError, match="finite"):
        exact_sum([1.0, np.nan])


# -- explain on arrays ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "chunks",
    [(N, D), (700, D), ((100, 2000, 1, 899), (D,)), (500, (2, 4))],
    ids=["one", "even", "uneven", "split-features"],
)
def test_dask_array_explain_equals_in_memory(client, data, dtype, chunks):
    X0, m = data
    X = X0.astype(dtype)
    e = nxd.explain(m, da.from_array(X, chunks=chunks))
    assert e.relevance.dtype == e.logit.dtype == dtype and e.assigned.dtype == e.target.dtype == np.int64
    assert e.relevance.shape == X.shape and len(e.relevance.chunks[1]) == 1
    ref = m.explain(X)  # the in-memory heuristic adds in floating point: rounding apart
    assert e.beta == pytest.approx(ref.beta, rel=1e-15)
    r = e.compute()
    assert isinstance(r, nx.Explanation) and r.relevance.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(r.relevance, ref.relevance, rtol=tol, atol=tol * np.abs(ref.logit).max())
    np.testing.assert_array_equal(r.assigned, ref.assigned)
    same = m.explain(X, beta=e.beta)  # with the same beta: the same bits
    np.testing.assert_array_equal(r.relevance, same.relevance)
    np.testing.assert_array_equal(r.logit, same.logit)
    np.testing.assert_array_equal(r.target, same.target)


def test_dask_explain_matches_float64_reference(client, data):
    X, m = data
    e = nxd.explain(m, da.from_array(X[:300], chunks=64), beta=0.7)
    R, f = kmeans_explain(X[:300], m.centroids, kmeans_assign(X[:300], m.centroids), 0.7)
    r = e.compute()
    np.testing.assert_allclose(r.relevance, R, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(r.relevance.sum(1), r.logit, rtol=1e-9)  # conservation, up to the stabilizer
    np.testing.assert_allclose(r.logit, f, rtol=1e-12)


def test_dask_beta_heuristic_is_the_same_for_every_chunking(client, data):
    X, m = data
    explained = [nxd.explain(m, da.from_array(X, chunks=c)) for c in (N, 1000, 251)]
    assert len({e.beta for e in explained}) == 1
    R = dask.compute(*(e.relevance for e in explained))
    np.testing.assert_array_equal(R[0], R[1])
    np.testing.assert_array_equal(R[0], R[2])


@pytest.mark.parametrize("target_kind", ["int", "numpy", "dask"])
@pytest.mark.parametrize("beta", [None, 0.25])
def test_dask_explain_targets(client, data, target_kind, beta):
    X, m = data
    t = np.random.default_rng(1).integers(K, size=N)
    target = {"int": 2, "numpy": t, "dask": da.from_array(t, chunks=1111)}[target_kind]
    e = nxd.explain(m, da.from_array(X, chunks=400), target=target, beta=beta)
    ref = m.explain(X, target=2 if target_kind == "int" else t, beta=e.beta)
    if beta is not None:
        assert e.beta == beta
    r = e.compute()
    np.testing.assert_array_equal(r.relevance, ref.relevance)
    np.testing.assert_array_equal(r.target, ref.target)
    np.testing.assert_array_equal(e.target.compute(), ref.target)


def test_dask_predict_logits(client, data):
    X, m = data
    dX = da.from_array(X.astype(np.float32), chunks=512)
    p, L = nxd.predict(m, dX), nxd.logits(m, dX)
    assert p.dtype == np.int64 and L.dtype == np.float32 and L.shape == (N, K)
    np.testing.assert_array_equal(p.compute(), m.predict(X.astype(np.float32)))
    np.testing.assert_array_equal(L.compute(), m.logits(X.astype(np.float32)))


def test_dask_explain_kernel_kmeans(client, data):
    X, _ = data
    kk = nx.NeuralizedKernelKMeans.from_labels(
        X[:400], nx.NeuralizedKMeans(data[1].centroids).predict(X[:400]), gamma=0.1
    )
    X = X[:1000]
    e = nxd.explain(kk, da.from_array(X, chunks=300))
    ref = kk.explain(X, beta=e.beta)
    np.testing.assert_array_equal(e.compute().relevance, ref.relevance)
    assert e.beta == pytest.approx(kk.beta_heuristic(X), rel=1e-14)


def test_dask_explain_estimator_uses_its_beta(client, data):
    X, _ = data
    km = nx.KMeans(n_clusters=K, random_state=0).fit(X)
    e = nxd.explain(km, da.from_array(X, chunks=1000))
    assert e.beta == km.beta_
    np.testing.assert_array_equal(e.compute().relevance, km.explain(X).relevance)


# -- DataFrames ---------------------------------------------------------------------------
def _frame(X, npartitions, dtype=np.float64):
    df = pd.DataFrame(
        X.astype(dtype), columns=[f"f{i}" for i in range(X.shape[1])], index=pd.RangeIndex(100, 100 + len(X))
    )
    return dd.from_pandas(df, npartitions=npartitions)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("npartitions", [1, 5])
def test_dask_dataframe_explain(client, data, dtype, npartitions):
    X0, m = data
    X = X0.astype(dtype)
    df = _frame(X, npartitions, dtype)
    e = nxd.explain(m, df)
    assert list(e.relevance.columns) == list(df.columns)
    assert (e.relevance.dtypes == dtype).all() and e.logit.dtype == dtype and e.assigned.dtype == np.int64
    assert e.relevance.npartitions == npartitions
    rel = e.relevance.compute()
    same = m.explain(X, beta=e.beta)
    np.testing.assert_array_equal(rel.to_numpy(), same.relevance)
    assert rel.index.equals(df.index.compute())
    r = e.compute()
    np.testing.assert_array_equal(r.relevance, same.relevance)
    assert list(r.feature_names) == list(df.columns)
    assert e.beta == pytest.approx(m.beta_heuristic(X), rel=1e-15)


def test_dask_dataframe_targets_predict_logits(client, data):
    X, m = data
    df = _frame(X, 3)
    t = np.random.default_rng(2).integers(K, size=N)
    ref = m.explain(X, target=t, beta=0.5)
    e_np = nxd.explain(m, df, target=t, beta=0.5)
    e_series = nxd.explain(m, df, target=dd.from_pandas(pd.Series(t), npartitions=3), beta=0.5)
    for e in (e_np, e_series):
        np.testing.assert_array_equal(e.compute().relevance, ref.relevance)
    np.testing.assert_array_equal(nxd.predict(m, df).compute().to_numpy(), m.predict(X))
    np.testing.assert_array_equal(nxd.logits(m, df).compute().to_numpy(), m.logits(X))


# -- the model is one key of the graph -------------------------------------------------
def test_dask_model_is_one_graph_key():
    import cloudpickle

    rng = np.random.default_rng(3)
    big = nx.NeuralizedKMeans(rng.normal(size=(32, 256)))  # 64 KiB of centroids
    model_bytes = len(cloudpickle.dumps(big))
    X = da.from_array(rng.normal(size=(40, 256)), chunks=4)  # 10 blocks
    e = nxd.explain(big, X, beta=1.0)
    for collection in (e.relevance, nxd.predict(big, X), nxd.logits(big, X)):
        graph = dict(collection.__dask_graph__())
        holders = [k for k, v in graph.items() if len(cloudpickle.dumps(v)) > model_bytes // 2]
        assert len(holders) == 1 and str(holders[0]).startswith("neon-model-")
        users = [k for k in graph if holders[0] in dask.core.get_dependencies(graph, k)]
        assert len(users) == 10  # every block's task refers to the key


# -- summaries and writing ------------------------------------------------------------
@pytest.mark.parametrize("by", [None, "target", "assigned"])
def test_dask_summaries_equal_in_memory(client, data, by):
    X, m = data
    t = np.random.default_rng(4).integers(K - 1, size=N)  # cluster K-1 explained for no row
    e = nxd.explain(m, da.from_array(X, chunks=700), target=t)
    ref = m.explain(X, target=t, beta=e.beta)
    np.testing.assert_allclose(e.mean_relevance(by), ref.mean_relevance(by), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(e.mean_abs_relevance(by), ref.mean_abs_relevance(by), rtol=1e-12)
    np.testing.assert_allclose(e.mean_logit(by), ref.mean_logit(by), rtol=1e-12)
    if by is not None:
        np.testing.assert_array_equal(e.cluster_sizes(by), ref.cluster_sizes(by))
        assert e.summary(2, by).to_string() == ref.summary(2, by).to_string()
    lazy = e.mean_relevance(by, compute=False)
    assert isinstance(lazy, Delayed)
    df_e = nxd.explain(m, _frame(X, 4), target=dd.from_pandas(pd.Series(t), npartitions=4), beta=e.beta)
    np.testing.assert_allclose(df_e.mean_relevance(by), ref.mean_relevance(by), rtol=1e-12, atol=1e-14)


def test_dask_summary_bad_by(data):
    X, m = data
    e = nxd.explain(m, da.from_array(X, chunks=1000), beta=1.0)
    with pytest.raises(ValueError, match="by must be"):
        e.mean_relevance("cluster")
    with pytest.raises(ValueError, match="by must be 'target' or 'assigned'"):
        e.cluster_sizes(None)


def test_dask_to_zarr_and_parquet(client, data, tmp_path):
    zarr = pytest.importorskip("zarr")
    pytest.importorskip("pyarrow")
    X, m = data
    e = nxd.explain(m, da.from_array(X, chunks=1000)).persist()
    e.relevance.to_zarr(str(tmp_path / "relevance.zarr"))
    np.testing.assert_array_equal(
        zarr.open(str(tmp_path / "relevance.zarr"), mode="r")[:], m.explain(X, beta=e.beta).relevance
    )
    f = nxd.explain(m, _frame(X, 3), beta=e.beta)
    f.relevance.assign(cluster=f.assigned).to_parquet(str(tmp_path / "relevance.parquet"))
    back = pd.read_parquet(tmp_path / "relevance.parquet")
    np.testing.assert_array_equal(back[[f"f{i}" for i in range(D)]].to_numpy(), m.explain(X, beta=e.beta).relevance)
    np.testing.assert_array_equal(back["cluster"].to_numpy(), m.predict(X))


# -- bad input ---------------------------------------------------------------------------
def test_dask_bad_input(data):
    X, m = data
    dX = da.from_array(X, chunks=1000)
    with pytest.raises(TypeError, match="dask Array or dask DataFrame"):
        nxd.explain(m, X)
    with pytest.raises(ValueError, match="has 5 features, but the model has 6"):
        nxd.explain(m, dX[:, :5])
    with pytest.raises(ValueError, match="must be 2-D"):
        nxd.explain(m, dX[:, 0])
    with pytest.raises(TypeError, match="float32 or float64"):
        nxd.explain(m, dX.astype(np.complex128))
    with pytest.raises(ValueError, match="target=7 is out of range"):
        nxd.explain(m, dX, target=7, beta=1.0)
    with pytest.raises(ValueError, match=r"target must have shape \(3000,\)"):
        nxd.explain(m, dX, target=np.zeros(5, dtype=int), beta=1.0)
    with pytest.raises(TypeError, match="target must hold integers"):
        nxd.explain(m, dX, target=da.zeros(N, chunks=1000), beta=1.0)
    with pytest.raises(ValueError, match="beta"):
        nxd.explain(m, dX, beta=-1.0)
    with pytest.raises(ValueError, match="n_threads"):
        nxd.explain(m, dX, beta=1.0, n_threads=-3)
    with pytest.raises(TypeError, match="cannot neuralize"):
        nxd.explain(object(), dX)
    df = _frame(X, 2)
    with pytest.raises(ValueError, match="partitions"):
        nxd.explain(m, df, target=dd.from_pandas(pd.Series(np.zeros(N, dtype=int)), npartitions=3), beta=1.0)
    with pytest.raises(TypeError, match="real numbers"):
        nxd.explain(m, df.assign(f0="a"), beta=1.0)


def test_dask_nan_raises_when_computed(client, data):
    X, m = data
    bad = X.copy()
    bad[2500, 1] = np.nan
    e = nxd.explain(m, da.from_array(bad, chunks=1000), beta=1.0)
    with pytest.raises(ValueError, match="NaN"):
        e.relevance.compute()


# -- a worker dies --------------------------------------------------------------------------
def test_dask_worker_killed_gives_same_result(client):
    rng = da.random.default_rng(11)
    X = rng.standard_normal((100_000, 8), chunks=2_500, dtype=np.float32)  # regenerated identically on retry
    X_local = X.compute()
    m = nx.NeuralizedKMeans(np.random.default_rng(5).normal(size=(8, 8)))
    expected = m.explain(X_local, beta=0.3).relevance
    e = nxd.explain(m, X, beta=0.3)

    # Deterministic: explained blocks held by a worker are lost with it and recomputed.
    relevance = e.relevance.persist()
    distributed.wait(relevance)
    address, pid = next(iter(client.run(os.getpid).items()))
    assert len(client.has_what()[address]) > 0
    os.kill(pid, signal.SIGKILL)
    np.testing.assert_array_equal(relevance.compute(), expected)
    del relevance
    client.wait_for_workers(2, timeout=120)  # the nanny restarts it

    # While computing: kill a worker once the first blocks are done.
    future = client.compute(nxd.explain(m, X, beta=0.3 + 1e-12).relevance)  # new keys: nothing cached

    def in_memory(dask_scheduler):
        return sum(ts.state == "memory" for ts in dask_scheduler.tasks.values())

    deadline = time.monotonic() + 60
    while client.run_on_scheduler(in_memory) < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(next(iter(client.run(os.getpid).values())), signal.SIGKILL)
    np.testing.assert_array_equal(future.result(timeout=120), m.explain(X_local, beta=0.3 + 1e-12).relevance)


# -- the command line: neon-ext explain DATA --scheduler ADDRESS / --dask ----------------
@pytest.fixture(scope="module")
def model_file(data, tmp_path_factory):
    _, m = data
    path = tmp_path_factory.mktemp("model") / "model.npz"
    stored = nx.NeuralizedKMeans(m.centroids, beta=0.4)
    stored.save(path)
    return str(path), stored


def _cli(*argv):
    from neon_ext.cli import main

    return main([str(a) for a in argv])


def test_cli_dask_zarr_in_zarr_out(client, data, model_file, tmp_path, capsys):
    zarr = pytest.importorskip("zarr")
    X, _ = data
    path, m = model_file
    da.from_array(X, chunks=700).to_zarr(str(tmp_path / "X.zarr"))
    status = _cli(
        "explain",
        tmp_path / "X.zarr",
        "--model",
        path,
        "-o",
        tmp_path / "R.zarr",
        "--logits-out",
        tmp_path / "f.zarr",
        "--assigned-out",
        tmp_path / "a.parquet",
        "--scheduler",
        client.scheduler.address,
    )
    assert status == 0, capsys.readouterr().err
    ref = m.explain(X)  # beta stored in the model file
    np.testing.assert_array_equal(zarr.open(str(tmp_path / "R.zarr"), mode="r")[:], ref.relevance)
    np.testing.assert_array_equal(zarr.open(str(tmp_path / "f.zarr"), mode="r")[:], ref.logit)
    np.testing.assert_array_equal(pd.read_parquet(tmp_path / "a.parquet")["assigned"], ref.assigned)
    out = capsys.readouterr().out
    assert "beta = 0.4 (stored in the model file)" in out and ref.summary(3).to_string() in out
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


def test_cli_dask_parquet_directory(client, data, model_file, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    X, _ = data
    path, m = model_file
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(D)]).assign(id="row", label=1)
    (tmp_path / "in").mkdir()
    for i, part in enumerate(np.array_split(np.arange(N), 3)):
        df.iloc[part].to_parquet(tmp_path / "in" / f"part{i}.parquet")
    status = _cli(
        "explain",
        tmp_path / "in",
        "--model",
        path,
        "-o",
        tmp_path / "R.parquet",
        "--drop",
        "label",
        "--target",
        1,
        "--beta",
        "auto",
        "--scheduler",
        client.scheduler.address,
    )
    assert status == 0, capsys.readouterr().err
    beta = nxd.beta_heuristic(m, da.from_array(X, chunks=1000))
    back = pd.read_parquet(tmp_path / "R.parquet")
    assert list(back.columns) == [f"f{i}" for i in range(D)]
    np.testing.assert_array_equal(back.to_numpy(), m.explain(X, target=1, beta=beta).relevance)
    out = capsys.readouterr().out
    assert "ignored non-numeric columns" in out and "id" in out and f"beta = {beta:.6g}" in out


def test_cli_dask_npy_directory_on_a_local_cluster(data, model_file, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    X, _ = data
    path, m = model_file
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "a.npy", X[:1000].astype(np.float32))
    np.save(tmp_path / "in" / "b.npy", X[1000:].astype(np.float32))
    (tmp_path / "R.parquet").mkdir()  # an older result: replaced only when the new one is complete
    status = _cli("explain", tmp_path / "in", "--model", path, "-o", tmp_path / "R.parquet", "--dask", 1, "-q")
    assert status == 0, capsys.readouterr().err
    back = pd.read_parquet(tmp_path / "R.parquet")
    np.testing.assert_array_equal(back.to_numpy(), m.explain(X.astype(np.float32)).relevance)
    assert list(back.columns) == [f"x{i}" for i in range(D)]


def test_cli_dask_errors(data, model_file, tmp_path, capsys):
    X, _ = data
    path, _ = model_file
    np.save(tmp_path / "X.npy", X[:, :5])
    assert _cli("explain", tmp_path / "X.npy", "--model", path, "-o", tmp_path / "R.npy", "--dask") == 2
    assert "outputs are a .zarr store or a .parquet directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        _cli("explain", tmp_path / "X.npy", "--model", path, "-o", tmp_path / "R.zarr", "--dask", "--scheduler", "x")
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert _cli("explain", tmp_path / "X.npy", "--model", path, "-o", tmp_path / "R.zarr", "--dask", 1) == 1
    assert "has 5 numeric columns, but the model was fitted on 6" in capsys.readouterr().err
    assert _cli("explain", tmp_path / "nothing", "--model", path, "-o", tmp_path / "R.zarr", "--dask") == 1
    assert "no such file or directory" in capsys.readouterr().err
