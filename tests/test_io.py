"""Saving and loading models, atomic output files, reading and writing data files."""

import os
import zipfile

import numpy as np
import pytest

import neon_ext as nx
from conftest import blobs
from neon_ext import persistence
from neon_ext.io._atomic import AtomicFiles
from neon_ext.io._datafiles import read_table, write_columns


@pytest.fixture
def model():
    X, C = blobs(80, 4, 3, seed=5)
    return X, nx.NeuralizedKMeans(C, eps=1e-10, beta=0.25)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# --- save / load -----------------------------------------------------------------------------


def test_save_load_round_trip(model, tmp_path):
    X, m = model
    path = tmp_path / "model.npz"
    m.save(path)
    m2 = nx.load(path)
    assert isinstance(m2, nx.NeuralizedKMeans)
    np.testing.assert_array_equal(m2.centroids, m.centroids)
    assert (m2.eps, m2.beta) == (1e-10, 0.25)
    np.testing.assert_array_equal(m2.explain(X).relevance, m.explain(X).relevance)  # uses the stored beta
    assert m2.explain(X).beta == 0.25
    with np.load(path, allow_pickle=False) as npz:
        assert str(npz["format"]) == "neon_ext.model" and int(npz["format_version"]) == 1
        assert str(npz["kind"]) == "kmeans" and str(npz["neon_ext"]) == nx.__version__
    assert leftovers(tmp_path) == []


def test_save_without_beta_and_without_suffix(tmp_path):
    m = nx.NeuralizedKMeans([[0.0, 1.0], [2.0, 3.0]])
    nx.save(m, tmp_path / "plain")  # no .npz appended
    assert os.listdir(tmp_path) == ["plain"]
    m2 = nx.load(str(tmp_path / "plain"))
    assert m2.beta is None and m2.eps == m.eps
    assert "beta" not in repr(m2) and "beta=0.25" in repr(nx.NeuralizedKMeans(m.centroids, beta=0.25))


def test_save_fitted_estimator_and_refuse_others(tmp_path):
    class FittedKMeans:  # what scikit-learn's look like to neuralize()
        cluster_centers_ = np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 3.0]])

    class Estimator:  # an estimator with neuralize(), as the package's own are
        def neuralize(self):
            return nx.neuralize(FittedKMeans())

    nx.save(Estimator(), tmp_path / "m.npz")
    np.testing.assert_array_equal(nx.load(tmp_path / "m.npz").centroids, FittedKMeans.cluster_centers_)
    with pytest.raises(TypeError, match="cannot save FittedKMeans objects; models that can be saved: NeuralizedKMeans"):
        nx.save(FittedKMeans(), tmp_path / "x.npz")
    with pytest.raises(TypeError, match="cannot save object objects"):
        nx.save(object(), tmp_path / "x.npz")
    assert leftovers(tmp_path) == [] and sorted(os.listdir(tmp_path)) == ["m.npz"]


def write_npz(path, **arrays):
    base = {
        "format": np.array("neon_ext.model"),
        "format_version": np.array(1),
        "kind": np.array("kmeans"),
        "neon_ext": np.array("0.1.0"),
        "eps": np.array(1e-12),
        "beta": np.array(np.nan),
        "centroids": np.eye(2),
    }
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    "arrays,match",
    [
        (dict(format=None), "not a neon_ext model file"),
        (dict(format=np.array("something.else")), "not a neon_ext model file"),
        (dict(format_version=np.array(7), neon_ext=np.array("9.0")), r"version 7, written by neon_ext 9\.0.*upgrade"),
        (dict(format_version=np.array(0)), "invalid format_version 0"),
        (dict(format_version=np.array("one")), "'format_version' is missing or is not a number"),
        (dict(kind=np.array("gmm")), "unknown model kind 'gmm'"),
        (dict(centroids=None), "needs the entry 'centroids'"),
        (dict(centroids=np.array([[0.0, np.nan], [1, 1]])), "invalid kmeans model.*NaN"),
        (dict(centroids=np.zeros((1, 2))), "invalid kmeans model.*at least 2 rows"),
        (dict(eps=np.array(-1.0)), "invalid kmeans model.*eps"),
        (dict(beta=np.array(-2.0)), "invalid kmeans model.*beta"),
        (dict(centroids=np.array([["a", "b"], ["c", "d"]])), "invalid kmeans model"),
    ],
)
def test_load_rejects_bad_files(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    write_npz(path, **arrays)
    with pytest.raises(ValueError, match=match):
        nx.load(path)


def test_load_rejects_foreign_and_damaged_files(model, tmp_path):
    _, m = model
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"is not a neon_ext model file \(not an .npz archive\)"):
        nx.load(text)
    npy = tmp_path / "array.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match="single .npy array"):
        nx.load(npy)
    pickled = tmp_path / "pickled.npz"
    write_npz(pickled, centroids=np.array([object(), object()], dtype=object))
    with pytest.raises(ValueError, match="holds Python objects"):
        nx.load(pickled)
    good = tmp_path / "good.npz"
    m.save(good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a (readable )?neon_ext model file"):
        nx.load(truncated)
    corrupted = tmp_path / "corrupted.npz"  # flip bytes inside a stored member: CRC error
    with zipfile.ZipFile(good) as z:
        offset = z.getinfo("centroids.npy").header_offset + 200
    corrupted.write_bytes(data[:offset] + bytes(b ^ 0xFF for b in data[offset : offset + 16]) + data[offset + 16 :])
    with pytest.raises(ValueError, match="not a readable neon_ext model file"):
        nx.load(corrupted)
    with pytest.raises(FileNotFoundError):
        nx.load(tmp_path / "missing.npz")


def test_registered_kinds_include_kmeans():
    assert "kmeans" in persistence._KINDS


# --- atomic outputs ----------------------------------------------------------------------------


def test_atomic_files_commit_together(tmp_path):
    with AtomicFiles() as files:
        a, b = files.temporary(tmp_path / "a.txt"), files.temporary(tmp_path / "b.txt")
        for p in (a, b):
            with open(p, "w") as fh:
                fh.write("done")
        assert not (tmp_path / "a.txt").exists()
    assert (tmp_path / "a.txt").read_text() == "done" and (tmp_path / "b.txt").read_text() == "done"
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt, ValueError, SystemExit])
def test_atomic_files_interrupted_leave_nothing(tmp_path, exc):
    (tmp_path / "old.npy").write_text("previous result")
    with pytest.raises(exc):
        with AtomicFiles() as files:
            out = np.lib.format.open_memmap(
                files.temporary(tmp_path / "old.npy"), mode="w+", dtype=np.float64, shape=(10, 3)
            )
            out[:5] = 1.0
            files.temporary(tmp_path / "new.npy")
            raise exc()
    assert (tmp_path / "old.npy").read_text() == "previous result"
    assert not (tmp_path / "new.npy").exists()
    assert leftovers(tmp_path) == []


def test_atomic_refuses_directory(tmp_path):
    with pytest.raises(IsADirectoryError):
        with AtomicFiles() as files:
            files.temporary(tmp_path)


# --- data files ----------------------------------------------------------------------------------


def test_read_csv_header_and_text_columns(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id,"a",b,label,c\nr1,1.5,2,x,3\nr2,-1,1e3,y,"4"\n')
    t = read_table(path)
    np.testing.assert_array_equal(t.X, [[1.5, 2, 3], [-1, 1000, 4]])
    assert t.names == ["a", "b", "c"] and t.dropped == ["id", "label"]
    t2 = read_table(path, drop=["b", "0"])
    assert t2.names == ["a", "c"] and t2.dropped == ["id", "b", "label"]


def test_read_csv_without_header_and_tsv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2\n3,4\n5,6\n")
    t = read_table(path)
    assert t.names is None and t.X.shape == (3, 2)
    tsv = tmp_path / "d.tsv"
    tsv.write_text("p\tq\n1\t2\n")
    assert read_table(tsv).names == ["p", "q"]
    semi = tmp_path / "semi.csv"
    semi.write_text("p;q\n1;2\n")
    assert read_table(semi, delimiter=";").X.tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize(
    "text,kwargs,match",
    [
        ("", {}, "is empty"),
        ("a,b\n", {}, "no data rows"),
        ("a,b\n1,2,3\n", {}, "line 2: 3 fields, but line 1 has 2; is the delimiter"),
        ("a,b\n1,2\n3,\n", {}, r"line 3, column 2 \('b'\): could not convert an empty field"),
        ("a,b\n1,2\n\n3,x\n", {}, r"line 4, column 2 \('b'\): could not convert 'x' to a number"),
        # issue 13, item 10: an extra field is refused, naming the line
        ("a,b,c\n1,2,3\n3,4,5,6\n", {}, "line 3: 4 fields, but line 1 has 3"),
        ("a,b,c\n1,2,3\n3,4\n", {}, "line 3: 2 fields, but line 1 has 3"),
        # issue 13, item 15: a field above the csv module's limit is one line, not a _csv.Error
        ("a,b\n1,2\n3," + "9" * 200_000 + "\n", {}, "line 3: field larger than field limit"),
        ("a,b\nx,y\n", {}, "no numeric columns"),
        ("a,b\n1,2\n", {"drop": ["zz"]}, "'zz' is not a column name"),
        ("a,b,a\n1,2,3\n", {}, "column names used more than once: a"),
        ("a,b\n1,2\n", {"drop": ["5"]}, "index 5 is out of range"),
    ],
)
def test_read_csv_errors(tmp_path, text, kwargs, match):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_table(path, **kwargs)


def test_read_npy_memory_mapped_and_errors(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", X)
    t = read_table(tmp_path / "x.npy")
    assert isinstance(t.X, np.memmap) and t.X.dtype == np.float32 and t.names is None
    np.testing.assert_array_equal(read_table(tmp_path / "x.npy", drop=["1"]).X, X[:, [0, 2]])
    np.save(tmp_path / "v.npy", np.zeros(3))
    with pytest.raises(ValueError, match="expected a 2-D array"):
        read_table(tmp_path / "v.npy")
    with pytest.raises(ValueError, match="unsupported input type '.xlsx'"):
        read_table(tmp_path / "x.xlsx")
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "missing.npy")


def test_parquet_round_trip(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"name": ["a", "b"], "f": pa.array([1.5, 2.5], pa.float32()), "g": pa.array([1, 2], pa.int64())})
    pq.write_table(table, tmp_path / "d.parquet")
    t = read_table(tmp_path / "d.parquet")
    assert t.names == ["f", "g"] and t.dropped == ["name"] and t.X.dtype == np.float64
    np.testing.assert_array_equal(t.X, [[1.5, 1], [2.5, 2]])
    pq.write_table(pa.table({"f": pa.array([1.0, None])}), tmp_path / "nulls.parquet")
    with pytest.raises(ValueError, match="'f' has 1 missing values"):
        read_table(tmp_path / "nulls.parquet")
    write_columns(tmp_path / "out.parquet", ".parquet", np.array([[1.0, 2.0]]), ["u", "v"])
    assert pq.read_table(tmp_path / "out.parquet").column_names == ["u", "v"]


def test_write_columns_formats(tmp_path):
    R = np.array([[0.1, -2.5], [1e-20, 3.0]])
    write_columns(tmp_path / "r.part", ".csv", R, ["a,b", "c"])
    t = read_table_from(tmp_path / "r.part", ".csv")
    np.testing.assert_array_equal(t.X, R)  # %.17g round-trips float64 exactly
    assert t.names == ["a,b", "c"]
    write_columns(tmp_path / "i.part", ".npy", np.array([2, 0]), ["assigned"])
    np.testing.assert_array_equal(np.load(tmp_path / "i.part"), [2, 0])
    write_columns(tmp_path / "i.tsv", ".tsv", np.array([2, 0]), ["assigned"])
    assert (tmp_path / "i.tsv").read_text() == "assigned\n2\n0\n"
    with pytest.raises(ValueError, match="unsupported output type"):
        write_columns(tmp_path / "x", ".json", R, ["a", "b"])


def read_table_from(path, suffix):
    target = path.with_suffix(suffix)
    os.replace(path, target)
    return read_table(target)


def test_kernel_kmeans_save_load_round_trip(tmp_path):
    X, _ = blobs(90, 3, 3, seed=8)
    labels = nx.NeuralizedKMeans(X[[0, 30, 60]]).predict(X)
    m = nx.NeuralizedKernelKMeans.from_labels(X, labels, gamma=0.3, pool_stiffness=1.5, max_support_per_cluster=10)
    m.beta = 0.4
    m.save(tmp_path / "k.npz")
    m2 = nx.load(tmp_path / "k.npz")
    assert isinstance(m2, nx.NeuralizedKernelKMeans)
    np.testing.assert_array_equal(m2.support_vectors, m.support_vectors)
    np.testing.assert_array_equal(m2.labels, m.labels)
    assert (m2.gamma, m2.pool_stiffness, m2.eps, m2.beta) == (0.3, 1.5, m.eps, 0.4)
    np.testing.assert_array_equal(m2.explain(X).relevance, m.explain(X).relevance)
    with np.load(tmp_path / "k.npz") as npz:
        assert str(npz["kind"]) == "kernel-kmeans"
        arrays = dict(npz)
    arrays["labels"] = np.zeros_like(arrays["labels"])  # one cluster left: invalid
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="invalid kernel-kmeans model.*at least 2 clusters"):
        nx.load(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="beta"):
        m.beta = -1.0
