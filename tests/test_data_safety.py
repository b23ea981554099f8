"""Regression tests of issue 13: nothing silently wrong, nothing lost.

One test (or a few) per numbered item of the issue, each reproducing its
reproducer: the command line through a real subprocess where the item is
about the command line, disk-full on a small tmpfs where this process may
mount one (root on Linux), skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import neon_ext as nx
import numpy as np
import pytest
from conftest import blobs
from neon_ext import _validation
from neon_ext.cli import main

PYTHONPATH = os.pathsep.join(
    p for p in [os.path.join(os.path.dirname(nx.__file__), os.pardir), os.environ.get("PYTHONPATH", "")] if p
)


def run(*args, cwd, env=None, preexec_fn=None):
    environ = dict(os.environ, PYTHONPATH=PYTHONPATH, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "neon_ext", *map(str, args)],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=preexec_fn,
        check=False,
    )


def parts(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def one_line_error(proc, code):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("neon-ext")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def wine_like(tmp_path):
    """A CSV with a header and the same numbers as .npy, and a k-means model of them."""
    X, C = blobs(60, 3, 3, seed=5)
    names = ["a", "b", "c"]
    (tmp_path / "v.csv").write_text("a,b,c\n" + "".join(",".join(repr(float(v)) for v in r) + "\n" for r in X))
    np.save(tmp_path / "v.npy", X)
    nx.NeuralizedKMeans(C, beta=0.5).save(tmp_path / "model.npz")
    return X, C, names


# -- 1. full disk ------------------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs folder, or a skip saying why none can be mounted."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    folder = tmp_path / "full"
    folder.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], check=False, capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True, check=False)


def test_full_disk_cli_fails_cleanly(tmp_path, full_disk):
    X, _ = blobs(100_000, 3, 3, seed=1)  # 2.4 MB of relevance on a 1 MiB disk
    np.save(tmp_path / "mid.npy", X)
    nx.NeuralizedKMeans(X[:3], beta=1.0).save(tmp_path / "model.npz")
    proc = run("explain", "mid.npy", "--model", "model.npz", "-o", full_disk / "r.npy", cwd=tmp_path)
    line = one_line_error(proc, 1)  # not SIGBUS (exit 135)
    assert "No space left on device" in line and str(full_disk / "r.npy") in line
    assert os.listdir(full_disk) == []


def test_full_disk_text_outputs_name_the_file(tmp_path, full_disk):
    X, _ = blobs(20_000, 3, 3, seed=1)  # about 1.3 MB of CSV relevance
    np.save(tmp_path / "mid.npy", X)
    nx.NeuralizedKMeans(X[:3], beta=1.0).save(tmp_path / "model.npz")
    proc = run("explain", "mid.npy", "--model", "model.npz", "-o", full_disk / "r.csv", cwd=tmp_path)
    line = one_line_error(proc, 1)
    assert "No space left on device" in line and str(full_disk / "r.csv") in line
    assert os.listdir(full_disk) == []


def test_full_disk_python_api_out_memmap(full_disk):
    X, _ = blobs(100_000, 3, 3, seed=1)
    m = nx.NeuralizedKMeans(X[:3], beta=1.0)
    out = np.lib.format.open_memmap(full_disk / "r.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    with pytest.raises(OSError, match="cannot reserve .* of out on disk"):
        m.explain(X, out=out)


# -- 2. the command line never writes over its input ----------------------------------------------------


def test_cli_refuses_to_overwrite_its_input(tmp_path, wine_like):
    proc = run("fit", "v.npy", "--model", "kmeans", "-k", "3", "-o", "v.npy", cwd=tmp_path)
    assert "must end in .npz" in one_line_error(proc, 2)
    os.symlink(".", tmp_path / "linkdir")
    base = ["explain", "v.csv", "--model", "model.npz"]
    for argv in (base + ["-o", "linkdir/v.csv"], base + ["-o", "r.csv", "--logits-out", "linkdir/v.csv"]):
        assert "is the same file as the data" in one_line_error(run(*argv, cwd=tmp_path), 2)
    assert (tmp_path / "v.csv").read_text().startswith("a,b,c\n")
    assert not (tmp_path / "r.csv").exists()


def test_fit_refuses_a_hard_link_of_its_data(tmp_path, wine_like, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.link("v.npy", "alias.npz")
    assert main(["fit", "v.npy", "--model", "kmeans", "-k", "3", "-o", "alias.npz"]) == 2
    assert "is the same file as the data" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load("v.npy"), wine_like[0])


# -- 3. absurd thread counts ---------------------------------------------------------------------------


def test_huge_thread_count_is_capped_or_refused(tmp_path):
    X, C = blobs(500, 3, 3, seed=2)
    m = nx.NeuralizedKMeans(C, beta=1.0)
    reference = m.explain(X, n_threads=1).relevance
    np.testing.assert_array_equal(m.explain(X, n_threads=4096).relevance, reference)  # capped at the CPUs
    for bad in (10**6, 2**31):
        with pytest.raises(ValueError, match="more than the 4096 threads"):
            m.explain(X, n_threads=bad)
    with pytest.raises(TypeError, match="n_threads must be None or a positive int"):
        m.explain(X, n_threads=2.5)
    np.save(tmp_path / "x.npy", X)
    m.save(tmp_path / "m.npz")
    proc = run("explain", "x.npy", "--model", "m.npz", "-o", "r.npy", "--threads", "99999999999", cwd=tmp_path)
    assert "expected at most 4096 threads" in one_line_error(proc, 2)


def test_thread_cap_under_an_address_space_limit(tmp_path):
    """The reproducer: 1.4 million rows, n_threads=4096 under a 4 GB address-space limit
    (libgomp used to fail to create the threads and end the process)."""
    resource = pytest.importorskip("resource")
    code = (
        "import numpy as np, neon_ext as nx\n"
        "m = nx.NeuralizedKMeans([[0., 0, 0], [1, 0, 0]])\n"
        "e = m.explain(np.zeros((1_400_000, 3)), beta=1., n_threads=4096)\n"
        "print('ok', float(abs(e.relevance).max()))\n"
    )

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=PYTHONPATH),
        preexec_fn=limit,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr


# -- 4. the memory pre-check counts every output ------------------------------------------------------


def test_memory_check_sums_the_outputs(monkeypatch):
    n = 2_000_000_000
    X = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=np.float32), shape=(n, 1), strides=(0, 4))
    m = nx.NeuralizedKMeans([[0.0], [1.0]], beta=1.0)
    each = [n * 4, n * 4, n * 8]  # relevance, logit (float32), assigned (int64)
    monkeypatch.setattr(_validation, "available_memory", lambda: max(each) + 1)  # each alone would fit
    with pytest.raises(MemoryError, match="the outputs would need 29.8 GiB together"):
        m.explain(X)


# -- 6. column order --------------------------------------------------------------------------------------


def test_dataframe_columns_are_aligned_by_name():
    pd = pytest.importorskip("pandas")
    cluster = pytest.importorskip("sklearn.cluster")
    X, _ = blobs(80, 3, 3, seed=3)
    X[:, 0] *= 1000  # columns on different scales: a swap changes everything
    df = pd.DataFrame(X, columns=["p", "q", "r"])
    km = cluster.KMeans(3, n_init=2, random_state=0).fit(df)
    m = nx.neuralize(km)
    assert list(m.feature_names_in_) == ["p", "q", "r"]
    e = m.explain(df, beta=0.1)
    reversed_ = m.explain(df[["r", "q", "p"]], beta=0.1)
    np.testing.assert_array_equal(reversed_.relevance, e.relevance)
    assert list(reversed_.feature_names) == ["p", "q", "r"]
    np.testing.assert_array_equal(m.predict(df[["q", "r", "p"]]), km.predict(df))
    with pytest.raises(ValueError, match=r"unseen at fit time: \['s'\].*now missing: \['r'\]"):
        m.explain(df.rename(columns={"r": "s"}))
    with pytest.raises(ValueError, match=r"unseen at fit time: \['extra'\]"):
        m.explain(df.assign(extra=1.0))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        m.explain(X, beta=0.1)


def test_cli_aligns_csv_columns_by_name(tmp_path, capsys, monkeypatch):
    X, _ = blobs(60, 3, 3, seed=4)
    X[:, 2] *= 1e4
    monkeypatch.chdir(tmp_path)
    header = ["a", "b", "c"]

    def write(path, order):
        lines = [",".join(header[j] for j in order)]
        lines += [",".join(repr(float(row[j])) for j in order) for row in X]
        (tmp_path / path).write_text("\n".join(lines) + "\n")

    write("fit.csv", [0, 1, 2])
    write("shuffled.csv", [2, 0, 1])
    assert main(["fit", "fit.csv", "--model", "kmeans", "-k", "3", "-o", "m.npz", "-q"]) == 0
    assert main(["explain", "fit.csv", "--model", "m.npz", "-o", "r1.npy", "-q"]) == 0
    assert main(["explain", "shuffled.csv", "--model", "m.npz", "-o", "r2.npy", "-q"]) == 0
    np.testing.assert_array_equal(np.load("r1.npy"), np.load("r2.npy"))
    capsys.readouterr()
    assert main(["info", "m.npz"]) == 0
    assert "features: a, b, c" in capsys.readouterr().out
    (tmp_path / "missing.csv").write_text("a,b,z\n1,2,3\n")
    assert main(["explain", "missing.csv", "--model", "m.npz", "-o", "r3.npy"]) == 1
    assert "lacks the model's columns c" in capsys.readouterr().err


# -- 8. explain_competitors far from the centroids -----------------------------------------------------


@pytest.mark.parametrize("far", [1e8, 1e16, 1e200])
def test_competitors_far_from_the_centroids(far):
    m = nx.NeuralizedKMeans([[0.0, 0], [1, 0], [0, 1]])
    X = np.array([[far, 0.3]])
    split = m.explain_competitors(X, beta=1.0)
    assert np.isfinite(split).all()
    np.testing.assert_allclose(split.sum(axis=1), m.explain(X, beta=1.0).relevance, rtol=1e-12)
    if far == 1e8:
        assert split.sum(axis=1)[0, 1] == pytest.approx(0.1605, abs=1e-4)


@pytest.mark.parametrize("far", [1e50, 1e150])
def test_kernel_competitors_far_from_the_support_vectors(far):
    X0, C = blobs(40, 2, 3, seed=6)
    labels = nx.NeuralizedKMeans(C).predict(X0)
    m = nx.NeuralizedKernelKMeans.from_labels(X0, labels, gamma=0.3)
    X = np.array([[far, 0.3]])
    split = m.explain_competitors(X, beta=1.0)
    assert np.abs(split).max() > 0
    np.testing.assert_allclose(split.sum(axis=1), m.explain(X, beta=1.0).relevance, rtol=1e-9)


# -- 9. KMeans.transform / score of far rows --------------------------------------------------------------


def test_transform_and_score_of_far_rows():
    X, _ = blobs(50, 2, 3, seed=7)
    km = nx.KMeans(3, random_state=0).fit(X)
    D = km.transform([[1e155, 0.0]])
    assert np.isfinite(D).all()
    np.testing.assert_allclose(D, 1e155, rtol=1e-12)
    assert km.score([[1e150, 0.0]]) == pytest.approx(-1e300, rel=1e-9)
    with pytest.raises(ValueError, match="inertia of X .* beyond the float64 range"):
        km.score([[1e155, 0.0]])
    with pytest.raises(ValueError, match="beyond the range of float32; transform float64 data"):
        km.transform(np.array([[3e38, 3e38]], dtype=np.float32))


# -- 11. BisectingKMeans ------------------------------------------------------------------------------------


def test_bisecting_kmeans_is_refused():
    cluster = pytest.importorskip("sklearn.cluster")
    X, _ = blobs(60, 2, 4, seed=8)
    bkm = cluster.BisectingKMeans(4, random_state=0).fit(X)
    with pytest.raises(TypeError, match="bisection tree.*from_labels"):
        nx.neuralize(bkm)


# -- 7. and 13. estimators: the fitted beta, one signature, progress ------------------------------------------


def test_estimators_keep_beta_and_take_progress(capsys):
    pytest.importorskip("tqdm")
    X, _ = blobs(150, 3, 3, seed=9)
    km = nx.KMeans(3, random_state=0).fit(X, progress=True)
    assert "k-means fit" in capsys.readouterr().err
    assert km.neuralize().beta == km.beta_
    np.testing.assert_array_equal(km.neuralize().explain(X).relevance, km.explain(X).relevance)
    e = km.explain(X, progress=True)
    err = capsys.readouterr().err
    assert "NEON explain" in err and "150/150" in err
    kk = nx.KernelKMeans(3, random_state=0, max_iter=3).fit(X, progress=True)
    assert "kernel k-means fit" in capsys.readouterr().err
    assert kk.neuralize().beta == kk.beta_ and kk.neuralize() is kk.neuralize()
    np.testing.assert_array_equal(kk.explain(X[:20], progress=True).relevance, kk.neuralize().explain(X[:20]).relevance)
    assert e.beta == km.beta_


# -- 12. ids and the index ------------------------------------------------------------------------------------


def test_to_pandas_keeps_the_dataframe_index():
    pd = pytest.importorskip("pandas")
    X, C = blobs(10, 2, 3, seed=10)
    df = pd.DataFrame(X, columns=["u", "v"], index=[f"id{i}" for i in range(10)])
    e = nx.NeuralizedKMeans(C).explain(df, beta=1.0)
    assert list(e.to_pandas().index) == list(df.index)
    assert list(e[[3, 1]].to_pandas(outputs=True).index) == ["id3", "id1"]


def test_parquet_id_column_is_carried(tmp_path, capsys, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, C = blobs(20, 2, 3, seed=11)
    monkeypatch.chdir(tmp_path)
    pq.write_table(pa.table({"name": [f"n{i}" for i in range(20)], "u": X[:, 0], "v": X[:, 1]}), "d.parquet")
    nx.NeuralizedKMeans(C, beta=1.0).save("m.npz")
    assert main(["explain", "d.parquet", "--model", "m.npz", "-o", "r.parquet", "--assigned-out", "a.tsv", "-q"]) == 0
    table = pq.read_table("r.parquet")
    assert table.column_names == ["name", "u", "v"] and table.column("name").to_pylist()[:2] == ["n0", "n1"]
    first = int(nx.NeuralizedKMeans(C).predict(X[:1])[0])
    assert (tmp_path / "a.tsv").read_text().splitlines()[:2] == ["name\tassigned", f"n0\t{first}"]


# -- 15. clear messages ------------------------------------------------------------------------------------------


def test_dataframe_messages_and_nullable_columns():
    pd = pytest.importorskip("pandas")
    X, C = blobs(6, 2, 3, seed=12)
    m = nx.NeuralizedKMeans(C, beta=1.0)
    with pytest.raises(TypeError, match="column 'name' has dtype"):
        m.explain(pd.DataFrame({"u": X[:, 0], "name": list("abcdef")}))
    with pytest.raises(TypeError, match="column 'name' has dtype"):
        nx.KMeans(2).fit(pd.DataFrame({"u": X[:, 0], "name": list("abcdef")}))
    frames = [
        pd.DataFrame({"u": pd.array(X[:, 0], dtype="Float64"), "v": pd.array(X[:, 1], dtype="Float64")}),
        pd.DataFrame({"u": pd.Series(X[:, 0], dtype="float64[pyarrow]"), "v": X[:, 1]}),
        pd.DataFrame({"u": pd.array([1, 2, 3, 4, 5, 6], dtype="Int64"), "v": [True, False] * 3}),
    ]
    for df in frames:
        expected = m.explain(df.to_numpy(dtype=np.float64)).relevance
        np.testing.assert_array_equal(m.explain(df).relevance, expected)


def test_cli_messages(tmp_path, wine_like, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "v.npy", "--model", "model.npz", "-o", "nowhere/r.npy"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"the folder of r.npy does not exist: {tmp_path / 'nowhere'}") and ".part" not in err
    np.save("not_a_model.npy", np.zeros(3, dtype=object), allow_pickle=True)
    (tmp_path / "text.npz").write_text("hello")
    for bad in ("not_a_model.npy", "text.npz"):
        assert main(["explain", "v.npy", "--model", bad, "-o", "r.npy"]) == 1
        err = capsys.readouterr().err
        assert "is not a neon_ext model file" in err and "allow_pickle" not in err
    (tmp_path / "wide.csv").write_text("a,b\n1,2\n3," + "9" * 200_000 + "\n")
    assert main(["explain", "wide.csv", "--model", "model.npz", "-o", "r.npy"]) == 1
    assert "wide.csv, line 3: field larger than field limit" in capsys.readouterr().err
    assert main(["--no-figure", "-q"]) == 0  # `python -m neon_ext --no-figure -q` runs the demo
    assert not (tmp_path / "neon-ext-demo.png").exists()


# -- 16. leftovers of a killed run ----------------------------------------------------------------------------


def test_stale_part_files_of_a_killed_run_are_removed(tmp_path, wine_like):
    code = (
        "import os, signal\n"
        "from neon_ext.io._atomic import AtomicFiles\n"
        "files = AtomicFiles()\n"
        "open(files.temporary('r.npy'), 'wb').write(b'x' * 1000)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=PYTHONPATH),
        timeout=60,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    assert len(parts(tmp_path)) == 1  # what SIGKILL leaves behind
    proc = run("explain", "v.npy", "--model", "model.npz", "-o", "r.npy", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert parts(tmp_path) == []


# -- 5. model files that declare more than they hold --------------------------------------------------------


def _model_arrays(**entries):
    base = {
        "format": np.array("neon_ext.model"),
        "format_version": np.array(1),
        "neon_ext": np.array("0.1.0"),
        "eps": np.array(1e-12),
        "beta": np.array(np.nan),
    }
    return {**base, **entries}


def test_model_file_declaring_huge_centroids_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, **_model_arrays(kind=np.array("kmeans"), centroids=np.zeros((4000, 4000))))
    assert path.stat().st_size < 1_000_000  # 128 MB of zeros compress to ~120 KB
    with pytest.raises(ValueError, match=r"declares shape \(4000, 4000\).*at most 16 times its size"):
        nx.load(path)


def test_model_file_with_huge_labels_is_a_value_error(tmp_path):
    path = tmp_path / "labels.npz"
    np.savez(
        path,
        **_model_arrays(
            kind=np.array("kernel-kmeans"),
            support_vectors=np.eye(4),
            labels=np.array([0, 0, 2**40, 2**40]),
            gamma=np.array(1.0),
            pool_stiffness=np.array(1.0),
        ),
    )
    with pytest.raises(ValueError, match=r"labels\[2\]=1099511627776 is not a cluster index"):
        nx.load(path)


# -- 7. the fitted beta and the feature names survive saving ------------------------------------------------------


def test_save_load_keeps_the_fitted_beta_and_names(tmp_path):
    pd = pytest.importorskip("pandas")
    X, _ = blobs(120, 3, 3, seed=13)
    df = pd.DataFrame(X, columns=["x", "y", "z"])
    for est in (nx.KMeans(3, random_state=0).fit(df), nx.KernelKMeans(3, random_state=0, max_iter=5).fit(df)):
        nx.save(est, tmp_path / "m.npz")
        m = nx.load(tmp_path / "m.npz")
        assert m.beta == est.beta_ and list(m.feature_names_in_) == ["x", "y", "z"]
        np.testing.assert_array_equal(m.explain(df[["z", "x", "y"]]).relevance, est.explain(df).relevance)
