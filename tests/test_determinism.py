"""Results are bitwise identical across thread counts, repeated calls, chunkings
and memory layouts of the same input (docs/reliability.md, "Determinism")."""

from __future__ import annotations

import numpy as np
import pytest

import neon_ext as nx
from neon_ext import _chunks
from model_factories import MODEL_CASES, MODEL_IDS


def _outputs(model, X, **kwargs):
    e = model.explain(X, beta=None, **kwargs)
    return {
        "relevance": e.relevance,
        "logit": e.logit,
        "assigned": e.assigned,
        "beta": np.float64(e.beta),
        "logits": model.logits(X, n_threads=kwargs.get("n_threads")),
        "target2": model.explain(X, target=1, beta=0.37, n_threads=kwargs.get("n_threads")).relevance,
    }


def _assert_bitwise_equal(a, b):
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key, strict=True)


@pytest.fixture(params=MODEL_CASES, ids=MODEL_IDS)
def problem(request):
    """A model and data spanning many kernel blocks (and a partial last one)."""
    rng = np.random.default_rng(20240)
    D = 13
    model = request.param.make(rng, 7, D)
    n_rows = 9 * int(model._block_rows(D)) + 123
    return model, rng.normal(size=(n_rows, D)) * 2.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bitwise_identical_for_any_thread_count_and_repeated_calls(problem, dtype):
    model, X = problem
    X = X.astype(dtype)
    reference = _outputs(model, X, n_threads=1)
    for n_threads in (1, 2, 4, 3, None):
        _assert_bitwise_equal(_outputs(model, X, n_threads=n_threads), reference)


def test_bitwise_identical_for_any_chunking(problem, monkeypatch):
    """Chunks are whole kernel blocks, so splitting the rows into more compiled
    calls (smaller memory or time budget) changes nothing."""
    model, X = problem
    reference = _outputs(model, X, n_threads=2)
    for elements, work in [(1, 1 << 26), (1 << 14, 1), (1 << 16, 1 << 20)]:
        monkeypatch.setattr(_chunks, "_TARGET_ELEMENTS", elements)
        monkeypatch.setattr(_chunks, "_TARGET_WORK", work)
        _assert_bitwise_equal(_outputs(model, X, n_threads=2), reference)


@pytest.mark.parametrize("layout", ["fortran", "negative_strides", "column_slice", "byteswapped", "readonly"])
def test_bitwise_identical_for_any_memory_layout(problem, layout):
    model, X = problem
    reference = _outputs(model, X, n_threads=2)
    if layout == "fortran":
        Y = np.asfortranarray(X)
    elif layout == "negative_strides":
        Y = X[::-1, ::-1].copy()[::-1, ::-1]
    elif layout == "column_slice":
        Y = np.repeat(X, 2, axis=1)[:, ::2]
    elif layout == "byteswapped":
        Y = X.astype(X.dtype.newbyteorder())
    else:
        Y = X.copy()
        Y.setflags(write=False)
    np.testing.assert_array_equal(Y, X)
    _assert_bitwise_equal(_outputs(model, Y, n_threads=2), reference)


def test_memory_mapped_input_and_output_give_the_same_bits(problem, tmp_path):
    model, X = problem
    reference = model.explain(X, beta=0.5, n_threads=2)
    Xm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    Xm[:] = X
    Xm.flush()
    Xr = np.load(tmp_path / "X.npy", mmap_mode="r")
    out = np.lib.format.open_memmap(tmp_path / "R.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    e = model.explain(Xr, beta=0.5, out=out, n_threads=3)
    assert e.relevance is out
    np.testing.assert_array_equal(np.asarray(out), reference.relevance)


@pytest.mark.parametrize("estimator", ["KMeans", "KernelKMeans"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fits_are_bitwise_identical_for_any_thread_count(estimator, dtype):
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(3000, 6)) + rng.integers(0, 4, size=(3000, 1)) * 3).astype(dtype)
    if estimator == "KernelKMeans":
        X = X[:600]

    def fit(n_threads):
        est = getattr(nx, estimator)(4, random_state=0, n_threads=n_threads).fit(X)
        attrs = ["labels_", "beta_"] + (
            ["cluster_centers_", "inertia_"] if estimator == "KMeans" else ["support_vectors_", "gamma_"]
        )
        return {a: np.asarray(getattr(est, a)) for a in attrs}, est.explain(X[:100]).relevance

    reference, relevance = fit(1)
    for n_threads in (2, 4, None):
        attrs, rel = fit(n_threads)
        _assert_bitwise_equal(attrs, reference)
        np.testing.assert_array_equal(rel, relevance, strict=True)
