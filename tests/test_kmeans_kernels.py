"""The compiled k-means row kernels, path by path.

The core holds one kernel per instruction set (portable, and AVX2 / AVX-512
where built and supported) and per precision (float32 input computed in
float32, float64 in float64, float32 in float64 when the centroids overflow
float32). Every path this machine can run is checked against the slow
float64 reference (tests/reference.py) and against the others, on shapes
that exercise the padding, remainder and sub-block boundaries of the kernel.
No timing here: bench/ measures speed.
"""

import numpy as np
import pytest

import neon_ext as nx
import reference as ref
from conftest import blobs

ISAS = nx.build_info()["kernel_isas"]


def run(model, X, isa, beta=0.5, target=None, n_threads=1):
    """All outputs of one compiled call with the given instruction set."""
    n, K = X.shape[0], model.n_clusters
    out = {
        "assigned": np.empty(n, np.int64),
        "logit": np.empty(n, X.dtype),
        "logits_all": np.empty((n, K), X.dtype),
        "relevance": np.empty(X.shape, X.dtype),
    }
    targets = None
    fixed = -1
    if target is not None and np.ndim(target) == 0:
        fixed = int(target)
    elif target is not None:
        targets = np.ascontiguousarray(target, dtype=np.int64)
    model._core.evaluate(
        X, targets, fixed, beta, out["assigned"], out["logit"], out["logits_all"], out["relevance"], n_threads, 0, isa
    )
    return out


def rel_err(actual, expected):
    expected = np.asarray(expected, float)
    return np.abs(np.asarray(actual, float) - expected).max() / max(np.abs(expected).max(), 1e-300)


def test_isa_list_and_errors():
    assert ISAS[0] == "portable"
    assert nx.build_info()["kernel_isa"] in ISAS
    m = nx.NeuralizedKMeans(np.eye(3))
    X = np.zeros((2, 3))
    with pytest.raises(ValueError, match="unknown instruction set 'sse9'"):
        run(m, X, "sse9")
    for isa in {"avx2", "avx512"} - set(ISAS):
        with pytest.raises(ValueError, match=isa):
            run(m, X, isa)


# Shapes around the kernel's widths: D and K padded to 64 bytes (16 float32,
# 8 float64), column chunks of 1-4 vectors, 32-row sub-blocks, groups of
# 2/4/8 rows for the per-row stage.
SHAPES = [(1, 1, 2), (5, 3, 3), (37, 7, 5), (70, 16, 8), (33, 17, 9), (64, 33, 16), (45, 65, 17), (9, 100, 33)]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("n,d,k", SHAPES)
def test_each_path_matches_reference(isa, n, d, k):
    X, C = blobs(n, d, k, seed=n + d + k, spread=2.0)
    m = nx.NeuralizedKMeans(C)
    targets = np.random.default_rng(n).integers(k, size=n)
    for target in (None, targets):
        expected_t = ref.kmeans_assign(X, C) if target is None else targets
        R, f = ref.kmeans_explain(X, C, expected_t, 0.3, m.epsilon)
        for dtype, tol in ((np.float64, 1e-9), (np.float32, 1e-4)):
            o = run(m, X.astype(dtype), isa, beta=0.3, target=target)
            Xr = X.astype(dtype).astype(float)
            if dtype == np.float32:  # the reference on exactly the float32 values
                R, f = ref.kmeans_explain(Xr, C, expected_t, 0.3, m.epsilon)
            np.testing.assert_array_equal(o["assigned"], ref.kmeans_assign(Xr, C))
            assert rel_err(o["logit"], f) < tol
            assert rel_err(o["relevance"], R) < tol
            assert rel_err(o["logits_all"], ref.kmeans_logits(Xr, C)) < tol
            gap = np.abs(o["relevance"].astype(float).sum(1) - o["logit"])
            assert np.all(gap <= tol * np.maximum(np.abs(o["relevance"]).sum(1), 1e-300))


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_paths_agree_with_each_other(dtype, tol):
    X, C = blobs(500, 24, 11, seed=4, dtype=dtype)
    m = nx.NeuralizedKMeans(C)
    t = np.random.default_rng(1).integers(11, size=500)
    base = run(m, X, "portable", beta=0.05, target=t)
    for isa in ISAS[1:]:
        o = run(m, X, isa, beta=0.05, target=t)
        np.testing.assert_array_equal(o["assigned"], base["assigned"])
        assert rel_err(o["relevance"], base["relevance"]) < tol, isa
        assert rel_err(o["logit"], base["logit"]) < tol, isa


@pytest.mark.parametrize("isa", ISAS)
def test_bitwise_identical_across_threads_and_chunks(isa):
    X, C = blobs(3000, 13, 6, seed=5, dtype=np.float32)
    m = nx.NeuralizedKMeans(C)
    one = run(m, X, isa, n_threads=1)
    for threads in (2, 3):
        other = run(m, X, isa, n_threads=threads)
        for key in one:
            np.testing.assert_array_equal(one[key], other[key])
    # a row's result does not depend on its position (sub-block, lane)
    part = run(m, X[7:50], isa)
    np.testing.assert_array_equal(part["relevance"], one["relevance"][7:50])


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_ties_stay_exact(isa, dtype):
    # Golden point 4 (NEON_SPEC.md, section 4): a three-way tie goes to
    # cluster 0 with logit 0 and relevance 0, in every lane of a group.
    C = np.array([[0, 0], [4, 0], [0, 3]], dtype=float)
    X = np.tile(np.array([[1, 0.5], [2, 1.5], [3, 1], [2, 1.5], [-0.5, 2.5]], dtype=dtype), (3, 1))
    m = nx.NeuralizedKMeans(C)
    o = run(m, X, isa)
    tie = np.all(X == np.array([2, 1.5], dtype=dtype), axis=1)
    np.testing.assert_array_equal(o["assigned"][tie], 0)
    np.testing.assert_array_equal(o["logit"][tie], 0)
    np.testing.assert_array_equal(o["relevance"][tie], 0)
    np.testing.assert_array_equal(o["logits_all"][tie], 0)
    np.testing.assert_array_equal(o["assigned"][~tie], ref.kmeans_assign(X[~tie], C))


@pytest.mark.parametrize("isa", ISAS)
def test_duplicate_centroids(isa):
    C = np.array([[0.0, 0.0], [3.0, 1.0], [0.0, 0.0], [3.0, 1.0], [1.0, 4.0]])
    X, _ = blobs(40, 2, 3, seed=8, spread=2.0)
    m = nx.NeuralizedKMeans(C)
    for dtype in (np.float64, np.float32):
        o = run(m, X.astype(dtype), isa, beta=0.4, target=np.arange(40) % 5)
        assert np.all(np.isfinite(o["relevance"]))
        assert set(np.unique(o["assigned"])) <= {0, 1, 4}  # twins never win a tie
        # a twin of the target is a competitor at h = 0 for every x: f <= 0
        assert np.all(o["logit"][np.isin(np.arange(40) % 5, [0, 1, 2, 3])] <= 0)


@pytest.mark.parametrize("isa", ISAS)
def test_large_beta_skips_underflowed_shares(isa):
    # beta large: every share but the nearest competitor's underflows to 0,
    # and the kernel skips those competitors; same result as the reference.
    X, C = blobs(90, 20, 12, seed=6, spread=3.0)
    m = nx.NeuralizedKMeans(C)
    for target in (None, 5):
        t = ref.kmeans_assign(X, C) if target is None else np.full(90, 5)
        R, f = ref.kmeans_explain(X, C, t, 50.0, m.epsilon)
        o = run(m, X, isa, beta=50.0, target=target)
        assert rel_err(o["relevance"], R) < 1e-9
        o32 = run(m, X.astype(np.float32), isa, beta=50.0, target=target)
        R32, _ = ref.kmeans_explain(X.astype(np.float32).astype(float), C, t, 50.0, m.epsilon)
        assert rel_err(o32["relevance"], R32) < 1e-4


@pytest.mark.parametrize("isa", ISAS)
def test_strided_input(isa):
    X, C = blobs(80, 9, 4, seed=3, dtype=np.float32)
    m = nx.NeuralizedKMeans(C)
    base = run(m, X, isa)
    for view in (np.asfortranarray(X), X[::-1][::-1], np.hstack([X, X])[:, :9]):
        o = run(m, view, isa)
        np.testing.assert_array_equal(o["relevance"], base["relevance"])
    o = run(m, X[::-2], isa)
    np.testing.assert_array_equal(o["relevance"], base["relevance"][::-2])


@pytest.mark.parametrize("isa", ISAS)
def test_float32_input_at_extreme_scales(isa):
    rng = np.random.default_rng(2)
    for spread in (1e15, 1e20):
        C = rng.normal(size=(4, 5)) * spread
        X = (C[rng.integers(4, size=30)] + rng.normal(size=(30, 5)) * spread / 10).astype(np.float32)
        m = nx.NeuralizedKMeans(C)
        beta = 1.0 / spread**2
        o64 = run(m, X.astype(np.float64), isa, beta=beta)
        if spread == 1e15:  # computed in float32
            o32 = run(m, X, isa, beta=beta)
            np.testing.assert_array_equal(o32["assigned"], o64["assigned"])
            assert rel_err(o32["logit"], o64["logit"]) < 1e-5
            assert rel_err(o32["relevance"], o64["relevance"]) < 1e-5
        else:
            # Squared distances beyond float32: the float32 input is computed
            # in float64; results that do not fit float32 are an error naming
            # the row (docs/reliability.md), never inf or NaN.
            with pytest.raises(ValueError, match="not finite in float32 .* explain float64 data instead"):
                run(m, X, isa, beta=beta)
            fits = (np.abs(o64["relevance"]).max(1) < 3e38) & (np.abs(o64["logits_all"]).max(1) < 3e38)
            if fits.any():
                o32 = run(m, X[fits], isa, beta=beta)
                for key in ("logit", "relevance"):
                    np.testing.assert_array_equal(o32[key], o64[key][fits].astype(np.float32))


@pytest.mark.parametrize("isa", ISAS)
def test_huge_finite_float32_rows(isa):
    # Rows so far out that their squared norm overflows float32 are valid
    # input: settled in float64 (centred), as the float64 path computes them.
    C = np.random.default_rng(0).normal(size=(5, 8))
    X = np.random.default_rng(1).normal(size=(12, 8)).astype(np.float32)
    X[3] *= 1e19
    X[4] = 3e38
    X[5, 2] = -3e38
    m = nx.NeuralizedKMeans(C)
    o64 = run(m, X.astype(np.float64), isa)
    for r in range(12):
        fits = max(np.abs(o64[key][r]).max() for key in ("logits_all", "relevance")) < 3e38
        if not fits:  # results beyond float32: an error naming the row, never inf or NaN
            with pytest.raises(ValueError, match="X row 0 is not finite in float32"):
                run(m, X[r : r + 1], isa)
            continue
        o32 = run(m, X[r : r + 1], isa)
        assert o32["assigned"][0] == o64["assigned"][r]
        assert rel_err(o32["logit"][0], o64["logit"][r]) < 1e-5, r
        assert rel_err(o32["relevance"][0], o64["relevance"][r]) < 1e-5, r


@pytest.mark.parametrize("isa", ISAS)
def test_nan_and_inf_rows_reported(isa):
    X, C = blobs(100, 6, 3, seed=2, dtype=np.float32)
    m = nx.NeuralizedKMeans(C)
    for bad in (np.nan, np.inf, -np.inf):
        Y = X.copy()
        Y[71, 4] = bad
        Y[90, 0] = bad
        with pytest.raises(ValueError, match="row 71"):
            run(m, Y, isa)


def test_exp_matches_numpy_through_the_shares():
    # beta spans the whole range of exponents: shares (hence relevance)
    # agree with numpy's exp in the reference to float64 rounding.
    X, C = blobs(60, 4, 6, seed=12, spread=3.0)
    m = nx.NeuralizedKMeans(C)
    for beta in (1e-3, 0.1, 1.0, 10.0, 300.0):
        t = ref.kmeans_assign(X, C)
        R, _ = ref.kmeans_explain(X, C, t, beta, m.epsilon)
        for isa in ISAS:
            assert rel_err(run(m, X, isa, beta=beta)["relevance"], R) < 1e-11, (beta, isa)


def test_float32_exp_within_float32_rounding_through_the_shares():
    # The float32 kernels' exp is a degree-6 polynomial (relative error
    # < 2.6e-9, exp_nonpositive in kmeans_kernel.hpp): over the same range of
    # exponents, float32 relevance stays within a few float32 roundings of
    # an exact evaluation on the same float32 values (measured 2.8e-7).
    X, C = blobs(60, 4, 6, seed=12, spread=3.0)
    X = X.astype(np.float32)
    m = nx.NeuralizedKMeans(C)
    for beta in (1e-3, 0.1, 1.0, 10.0, 300.0):
        t = ref.kmeans_assign(X.astype(float), C)
        R, _ = ref.kmeans_explain(X.astype(float), C, t, beta, m.epsilon)
        for isa in ISAS:
            assert rel_err(run(m, X, isa, beta=beta)["relevance"], R) < 1e-6, (beta, isa)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relevance_written_at_every_output_alignment(isa, dtype):
    # The kernel computes a group's relevance into padded staging rows and
    # then copies each row out (write_row in kmeans_kernel.hpp): into an
    # output whose rows are d + 3 values apart and start `offset` values in
    # (D = 45: rows begin at every offset modulo the vector width), the same
    # bits as into a contiguous output, and nothing written outside the view.
    d, n = 45, 300
    X, C = blobs(n, d, 7, seed=11, dtype=dtype)
    m = nx.NeuralizedKMeans(C)
    whole = run(m, X, isa, n_threads=2)
    for offset in (1, 2, 3):
        wide = np.full((n, d + 3), np.nan, dtype)
        view = wide[:, offset : offset + d]
        m._core.evaluate(X, None, -1, 0.5, None, None, None, view, 2, 0, isa)
        np.testing.assert_array_equal(view, whole["relevance"])
        assert np.isnan(np.delete(wide, np.s_[offset : offset + d], axis=1)).all()


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streamed_relevance_equals_plain_stores(isa, dtype, tmp_path):
    # A call whose contiguous relevance output is at least 4 MiB writes it
    # past the caches (stream_span in kmeans_kernel.hpp: non-temporal stores
    # for the whole 64-byte lines of each group's rows, plain stores for the
    # lines shared with the rows around them, and the rows redone in float64
    # left out of the spans); smaller, strided or misaligned outputs are
    # stored plainly.  The same bits either way: calls of under 4 MiB, an
    # output starting one value past a 64-byte line, one starting one byte
    # past it (not aligned to its dtype: never streamed), and a memory-mapped
    # one.  D = 45: group spans start at every offset within a line; random
    # targets put ill-conditioned rows (redone) among the streamed ones.
    d = 45
    itemsize = np.dtype(dtype).itemsize
    n = (4 << 20) // (itemsize * d) + 37
    X, C = blobs(n, d, 7, seed=11, dtype=dtype)
    m = nx.NeuralizedKMeans(C)
    targets = np.random.default_rng(3).integers(7, size=n)
    whole = run(m, X, isa, target=targets, n_threads=2)["relevance"]

    step = 5000  # at most 1.8 MiB per call: stored plainly
    for lo in range(0, n, step):
        part = run(m, X[lo : lo + step], isa, target=targets[lo : lo + step])
        np.testing.assert_array_equal(part["relevance"], whole[lo : lo + step])

    def evaluate_into(out):
        m._core.evaluate(X, targets, -1, 0.5, None, None, None, out, 2, 0, isa)
        np.testing.assert_array_equal(out, whole)

    wide = np.full(n * d + 64, np.nan, dtype)
    first = (-wide.ctypes.data % 64) // itemsize + 1  # one value past a 64-byte line
    evaluate_into(wide[first : first + n * d].reshape(n, d))
    assert np.isnan(wide[:first]).all() and np.isnan(wide[first + n * d :]).all()
    raw = bytearray(n * d * itemsize + 1)
    evaluate_into(np.ndarray((n, d), dtype, buffer=memoryview(raw)[1:]))
    mapped = np.lib.format.open_memmap(tmp_path / "relevance.npy", mode="w+", dtype=dtype, shape=(n, d))
    evaluate_into(mapped)
    del mapped


@pytest.mark.skipif(not {"avx2", "avx512"} <= set(ISAS), reason="needs the avx2 and avx512 kernels")
@pytest.mark.parametrize("eps", [None, 0.0])
def test_float32_reciprocal_gives_the_divisions_coefficients(eps):
    # The float32 AVX-512 kernel takes 1 / h from vrcp14pd and two Newton
    # steps (reciprocal_f32_range in kmeans_kernel.hpp), AVX2 divides; the
    # coefficients, rounded to float32, agree but for rare double roundings.
    # Rows at three scales (|h| over twelve orders of magnitude), assigned
    # and random targets (ill-conditioned rows redone in float64 included);
    # eps = 0 (lanes of any |h|) takes the division on both.
    X, C = blobs(4000, 20, 9, seed=21, dtype=np.float32, spread=3.0)
    rng = np.random.default_rng(0)
    X = (X * rng.choice([1e-3, 1.0, 1e3], size=(len(X), 1))).astype(np.float32)
    m = nx.NeuralizedKMeans(C) if eps is None else nx.NeuralizedKMeans(C, eps=eps)
    for target in (None, rng.integers(9, size=len(X))):
        a = run(m, X, "avx2", beta=0.7, target=target)["relevance"]
        b = run(m, X, "avx512", beta=0.7, target=target)["relevance"]
        scale = np.maximum(np.abs(a).max(1, keepdims=True), 1e-300)
        assert (np.abs(a - b) / scale).max() <= 1e-6
        assert (a != b).any(1).mean() <= 1e-3
