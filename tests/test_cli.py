"""The neon-ext command line: a few real subprocesses end to end, the rest through main()."""

import os
import shutil
import subprocess
import sys

import warnings

import numpy as np
import pytest

import neon_ext as nx
from conftest import blobs
from neon_ext import _chunks
from neon_ext.cli import main
from neon_ext.kmeans import NeuralizedKMeans


def run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "neon_ext", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.fixture
def data(tmp_path):
    """A CSV with a header, an id column and a label column, and the same numbers as .npy."""
    X, _ = blobs(120, 4, 3, seed=11)
    names = ["alpha", "beta", "gamma", "delta"]
    lines = ["id," + ",".join(names) + ",label"]
    lines += [f"r{i}," + ",".join(repr(float(v)) for v in row) + f",{i % 3}" for i, row in enumerate(X)]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    np.save(tmp_path / "data.npy", X)
    np.save(tmp_path / "data32.npy", X.astype(np.float32))
    return X, names


# --- real processes -----------------------------------------------------------------------------


def test_demo_subprocess(tmp_path):
    proc = run(cwd=tmp_path)  # `python -m neon_ext` without arguments runs the demo
    assert proc.returncode == 0, proc.stderr
    assert "conservation: max |sum(relevance) - logit|" in proc.stdout
    assert "cluster sizes: [" in proc.stdout and "proline" in proc.stdout
    if "figure: neon-ext-demo.png" in proc.stdout:  # matplotlib is installed
        assert (tmp_path / "neon-ext-demo.png").read_bytes()[:4] == b"\x89PNG"
    else:
        assert "install matplotlib" in proc.stdout and not (tmp_path / "neon-ext-demo.png").exists()


def test_fit_explain_csv_subprocess(tmp_path, data):
    """The README's example as written (issue 13, items 12 and 14): `fit --drop label`, then
    `explain` without --drop finds the model's columns by name; the id column leads every
    table output, so results join back to the input."""
    X, names = data
    fit = run("fit", "data.csv", "--model", "kmeans", "-k", "3", "--drop", "label", "-o", "model.npz", cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr
    assert "dropped columns of data.csv (--drop): label" in fit.stdout
    assert "ignored non-numeric columns of data.csv: id\n" in fit.stdout
    explain = run(
        "explain",
        "data.csv",
        "--model",
        "model.npz",
        "-o",
        "rel.csv",
        "--logits-out",
        "logit.npy",
        "--assigned-out",
        "assigned.csv",
        cwd=tmp_path,
    )
    assert explain.returncode == 0, explain.stderr
    assert "stored in the model file" in explain.stdout
    assert "ignored columns of data.csv that the model was not fitted on: label" in explain.stdout
    m = nx.load(tmp_path / "model.npz")
    assert list(m.feature_names_in_) == names  # from the CSV header
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        e = m.explain(X)
    header, *rows = (tmp_path / "rel.csv").read_text().splitlines()
    assert header.split(",") == ["id"] + names
    assert [r.split(",")[0] for r in rows] == [f"r{i}" for i in range(len(X))]
    np.testing.assert_array_equal(np.array([r.split(",")[1:] for r in rows], dtype=float), e.relevance)
    np.testing.assert_array_equal(np.load(tmp_path / "logit.npy"), e.logit)
    assigned = [line.split(",") for line in (tmp_path / "assigned.csv").read_text().split()]
    assert assigned == [["id", "assigned"]] + [[f"r{i}", str(a)] for i, a in enumerate(e.assigned)]
    assert leftovers(tmp_path) == []


def test_usage_and_failure_exit_codes_subprocess(tmp_path, data):
    bad = run("explain", "data.npy", "--model", "m.npz", "-o", "out.npy", "--beta", "-1", cwd=tmp_path)
    assert bad.returncode == 2 and "expected a finite number > 0" in bad.stderr
    assert "Traceback" not in bad.stderr
    NeuralizedKMeans(data[0][:3]).save(tmp_path / "m.npz")
    missing = run("explain", "nothere.npy", "--model", "m.npz", "-o", "out.npy", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "neon-ext: error: No such file or directory: nothere.npy"
    assert not (tmp_path / "out.npy").exists()


def test_console_script_installed():
    exe = shutil.which("neon-ext")
    if exe is None:
        pytest.skip("the neon-ext script is not on PATH")
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"neon-ext {nx.__version__}"


# --- through main() --------------------------------------------------------------------------------


def test_explain_npy_streams_into_npy(tmp_path, data, capsys, monkeypatch):
    X, _ = data
    monkeypatch.chdir(tmp_path)
    m = NeuralizedKMeans(X[[0, 1, 2]])
    m.save("m.npz")
    monkeypatch.setattr(_chunks, "_TARGET_ELEMENTS", 4 * 32)  # many chunks through the memory maps
    assert (
        main(
            [
                "explain",
                "data32.npy",
                "--model",
                "m.npz",
                "-o",
                "r.npy",
                "--target",
                "1",
                "--beta",
                "0.5",
                "--logits-out",
                "f.npy",
                "--threads",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "for cluster 1" in out and "beta = 0.5 (given)" in out and "mean relevance per assigned" in out
    R = np.load("r.npy")
    X32 = X.astype(np.float32)
    e = m.explain(X32, target=1, beta=0.5)
    assert R.dtype == np.float32
    np.testing.assert_array_equal(R, e.relevance)
    np.testing.assert_array_equal(np.load("f.npy"), e.logit)


def test_explain_beta_choices(tmp_path, data, capsys, monkeypatch):
    X, _ = data
    monkeypatch.chdir(tmp_path)
    NeuralizedKMeans(X[[0, 1, 2]]).save("plain.npz")
    assert main(["explain", "data.npy", "--model", "plain.npz", "-o", "r.npy"]) == 0
    assert "(heuristic on DATA)" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load("r.npy"), NeuralizedKMeans(X[[0, 1, 2]]).explain(X).relevance)
    NeuralizedKMeans(X[[0, 1, 2]], beta=3.0).save("fixed.npz")
    assert main(["explain", "data.npy", "--model", "fixed.npz", "-o", "r.npy", "--beta", "auto"]) == 0
    assert "(heuristic on DATA)" in capsys.readouterr().out
    assert main(["info", "fixed.npz"]) == 0
    assert "k-means model, 3 clusters, 4 features, beta = 3" in capsys.readouterr().out


def test_fit_then_explain_parquet(tmp_path, data, capsys, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pd = pytest.importorskip("pandas")
    X, names = data
    monkeypatch.chdir(tmp_path)
    pq.write_table(pa.table({n: X[:, j] for j, n in enumerate(names)}), "d.parquet")
    assert main(["fit", "d.parquet", "--model", "kmeans", "-k", "3", "-o", "m.npz", "--seed", "4", "-q"]) == 0
    assert main(["explain", "d.parquet", "--model", "m.npz", "-o", "r.parquet", "-q"]) == 0
    assert capsys.readouterr().out == ""
    table = pq.read_table("r.parquet")
    assert table.column_names == names
    np.testing.assert_array_equal(
        np.column_stack([table.column(n).to_numpy() for n in names]),
        nx.load("m.npz").explain(pd.DataFrame(X, columns=names)).relevance,
    )


def test_interrupted_explain_leaves_no_output(tmp_path, data, capsys, monkeypatch):
    X, _ = blobs(5000, 4, 3, seed=2)
    np.save(tmp_path / "data.npy", X)
    monkeypatch.chdir(tmp_path)
    NeuralizedKMeans(X[[0, 1, 2]], beta=1.0).save("m.npz")
    (tmp_path / "r.npy").write_text("an older result")
    monkeypatch.setattr(_chunks, "_TARGET_ELEMENTS", 4 * 16)
    calls = []
    original = NeuralizedKMeans._run

    def interrupted(self, X, **kw):  # Ctrl-C arrives after the first chunks were written
        bar = kw.get("bar")

        class Bar:
            def update(self, n):
                calls.append(n)
                if len(calls) == 3:
                    raise KeyboardInterrupt
                if bar is not None:
                    bar.update(n)

        kw["bar"] = Bar()
        return original(self, X, **kw)

    monkeypatch.setattr(NeuralizedKMeans, "_run", interrupted)
    assert main(["explain", "data.npy", "--model", "m.npz", "-o", "r.npy", "--logits-out", "f.npy"]) == 130
    assert calls == [1024, 1024, 1024]  # interrupted after the third of five chunks
    assert "interrupted" in capsys.readouterr().err
    assert (tmp_path / "r.npy").read_text() == "an older result"
    assert not (tmp_path / "f.npy").exists() and leftovers(tmp_path) == []


def test_failure_midway_leaves_no_output(tmp_path, capsys, monkeypatch):
    X, _ = blobs(5000, 4, 3, seed=2)
    monkeypatch.chdir(tmp_path)
    NeuralizedKMeans(X[[0, 1, 2]], beta=1.0).save("m.npz")
    bad = X.copy()
    bad[4000, 2] = np.nan  # in the fourth chunk: three were written already
    np.save("bad.npy", bad)
    monkeypatch.setattr(_chunks, "_TARGET_ELEMENTS", 4 * 16)
    assert main(["explain", "bad.npy", "--model", "m.npz", "-o", "r.npy"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "neon-ext: error: X contains NaN or infinity (first at row 4000)"
    assert not (tmp_path / "r.npy").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "argv,code,message",
    [
        (["fit", "data.npy", "--model", "kmeans", "-k", "1", "-o", "m.npz"], 2, "-k must be at least 2"),
        (
            ["fit", "data.npy", "--model", "kmeans", "-k", "3", "-o", "m.npz", "--gamma", "1"],
            2,
            "--gamma: only for --model kernel-kmeans",
        ),
        (["fit", "data.npy", "--model", "spectral", "-k", "3", "-o", "m.npz"], 2, "invalid choice"),
        (["fit", "data.npy", "--model", "kmeans", "-k", "500", "-o", "m.npz"], 1, "fewer than the 500"),
        (["explain", "data.npy", "--model", "model.npz", "-o", "r.txt"], 2, "must end in one of"),
        (["explain", "data.npy", "--model", "model.npz", "-o", "data.npy"], 2, "is the same file as the data"),
        (
            ["explain", "data.npy", "--model", "model.npz", "-o", "r.npy", "--target", "3"],
            2,
            "--target 3 is out of range: the model has 3 clusters",
        ),
        (
            ["explain", "data.npy", "--model", "data.csv", "-o", "r.npy"],
            1,
            "data.csv is not a neon_ext model file (not an .npz archive)",
        ),
        (
            ["explain", "data.csv", "--model", "model.npz", "-o", "r.npy"],
            1,
            "has 5 numeric columns (ignored non-numeric columns: id), but the model was fitted on 4 features",
        ),
        (
            ["explain", "data.npy", "--model", "model.npz", "-o", "r.npy", "--threads", "0"],
            2,
            "expected a positive integer",
        ),
        (["explain", "data.xlsx", "--model", "model.npz", "-o", "r.npy"], 1, "unsupported input type"),
        (["nonsense"], 2, "invalid choice"),
    ],
)
def test_bad_usage(tmp_path, data, capsys, monkeypatch, argv, code, message):
    X, _ = data
    monkeypatch.chdir(tmp_path)
    NeuralizedKMeans(X[[0, 1, 2]]).save("model.npz")
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code
    assert status == code
    err = capsys.readouterr().err
    assert message.replace("--", "") in err.replace("--", "") or pytest.fail(err)
    assert "Traceback" not in err
    if code == 1:
        assert len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["data.csv", "data.npy", "data32.npy", "model.npz"]


def test_demo_through_main(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--no-figure"]) == 0
    out = capsys.readouterr().out
    assert "top features" in out and "figure:" not in out
    assert os.listdir(tmp_path) == []
    assert main(["demo", "-q", "--figure", "fig.png"]) == 0
    assert capsys.readouterr().out == ""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "fig.png").exists() and leftovers(tmp_path) == []


def test_progress_bar_only_on_a_terminal(tmp_path, data, capsys, monkeypatch):
    pytest.importorskip("tqdm")
    X, _ = data
    monkeypatch.chdir(tmp_path)
    NeuralizedKMeans(X[[0, 1, 2]]).save("m.npz")
    argv = ["explain", "data.npy", "--model", "m.npz", "-o", "r.npy"]
    assert main(argv) == 0
    assert "NEON" not in capsys.readouterr().err  # stderr is not a terminal here
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(argv) == 0
    assert "NEON explain" in capsys.readouterr().err
    assert main(argv + ["--quiet"]) == 0
    assert capsys.readouterr() == ("", "")


def test_explain_with_kernel_model_file(tmp_path, data, capsys, monkeypatch):
    X, _ = data
    monkeypatch.chdir(tmp_path)
    labels = NeuralizedKMeans(X[[0, 1, 2]]).predict(X)
    m = nx.NeuralizedKernelKMeans.from_labels(X, labels, gamma="auto")
    m.save("kernel.npz")
    assert main(["info", "kernel.npz"]) == 0
    assert "kernel k-means model, 3 clusters, 4 features, 120 support vectors" in capsys.readouterr().out
    assert main(["explain", "data.npy", "--model", "kernel.npz", "-o", "r.npy", "--beta", "0.5"]) == 0
    assert "kernel k-means model kernel.npz" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load("r.npy"), m.explain(X, beta=0.5).relevance)


def test_fit_uses_the_package_estimators(tmp_path, data, monkeypatch):
    """neon-ext fit is neon_ext.KMeans / neon_ext.KernelKMeans with the options passed through."""
    X, _ = data
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "data.npy", "--model", "kmeans", "-k", "3", "-o", "m.npz", "--seed", "7", "-q"]) == 0
    km = nx.KMeans(n_clusters=3, max_iter=300, random_state=7).fit(X)
    np.testing.assert_array_equal(nx.load("m.npz").centroids, km.cluster_centers_)
    assert (
        main(
            [
                "fit",
                "data.npy",
                "--model",
                "kernel-kmeans",
                "-k",
                "3",
                "-o",
                "k.npz",
                "--gamma",
                "0.5",
                "--max-support",
                "20",
                "--pool-stiffness",
                "2",
                "--max-iter",
                "5",
                "-q",
            ]
        )
        == 0
    )
    kk = nx.KernelKMeans(
        n_clusters=3, gamma=0.5, pool_stiffness=2.0, max_support_per_cluster=20, max_iter=5, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.ConvergenceWarning)
        kk.fit(X)
    k = nx.load("k.npz")
    assert (k.gamma, k.pool_stiffness) == (0.5, 2.0) and k.beta is not None
    np.testing.assert_array_equal(k.support_vectors, kk.support_vectors_)


def test_sigterm_midway_leaves_no_output(tmp_path, capsys, monkeypatch):
    import signal

    X, _ = blobs(5000, 4, 3, seed=2)
    np.save(tmp_path / "data.npy", X)
    monkeypatch.chdir(tmp_path)
    NeuralizedKMeans(X[[0, 1, 2]], beta=1.0).save("m.npz")
    monkeypatch.setattr(_chunks, "_TARGET_ELEMENTS", 4 * 16)
    original = NeuralizedKMeans._run

    def terminated(self, X, **kw):
        class Bar:
            def update(self, n):
                os.kill(os.getpid(), signal.SIGTERM)  # handled by main(): unwinds like Ctrl-C

        kw["bar"] = Bar()
        return original(self, X, **kw)

    monkeypatch.setattr(NeuralizedKMeans, "_run", terminated)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "data.npy", "--model", "m.npz", "-o", "r.npy"])
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert not (tmp_path / "r.npy").exists() and leftovers(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) == before  # restored


def test_fit_explain_kernel_kmeans(tmp_path, data, capsys, monkeypatch):
    if not hasattr(nx, "KernelKMeans"):
        pytest.skip("this build has no KernelKMeans")
    X, _ = data
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            [
                "fit",
                "data.npy",
                "--model",
                "kernel-kmeans",
                "-k",
                "3",
                "-o",
                "k.npz",
                "--gamma",
                "0.05",
                "--max-support",
                "15",
                "--seed",
                "1",
                "-q",
            ]
        )
        == 0
    )
    m = nx.load("k.npz")
    assert isinstance(m, nx.NeuralizedKernelKMeans) and m.n_support <= 45 and m.gamma == 0.05
    expected = nx.KernelKMeans(3, gamma=0.05, max_support_per_cluster=15, random_state=1).fit(X).neuralize()
    np.testing.assert_array_equal(m.support_vectors, expected.support_vectors)
    assert m.beta == pytest.approx(expected.beta_heuristic(X))
    assert main(["explain", "data.npy", "--model", "k.npz", "-o", "r.npy", "-q"]) == 0
    np.testing.assert_array_equal(np.load("r.npy"), m.explain(X).relevance)
