"""The compiled k-means fitting kernels, instruction set by instruction set.

The fit passes (Lloyd iteration, k-means++ distances, moments, final
labelling with its inertia) run on the kernel table chosen once for the
whole core (cpp/neon/isa.hpp). Every instruction set this machine runs is
checked here against float64 numpy references written from the
definitions, in-process through the private ``isa`` argument; subprocesses
check that ``NEON_EXT_ISA`` reaches the fit kernels, that build_info
reports what ran, and that a bad value is the core's ValueError (the core
parses the variable, once per process). No timing here: bench/ measures speed.
"""

import numpy as np
import pytest

import neon_ext as nx
from isa_child import run_with_isa_setting
from neon_ext import _core

ISAS = nx.build_info()["kernel_isas"]

# D and K around the kernels' widths: rows and centres padded to 64 bytes
# (16 float32 / 8 float64), column tiles of 1-2 vectors, 8-row groups and
# 32-row sub-blocks.
SHAPES = [(1, 1, 1), (37, 3, 2), (70, 16, 7), (301, 17, 16), (64, 33, 17), (150, 65, 40), (40, 100, 33)]


def data(n, d, k, seed, dtype):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, d)) * 3 + 50).astype(dtype)  # off the origin: centring matters
    C = X[rng.choice(n, k, replace=False)].astype(np.float64) + rng.standard_normal((k, d)) * 0.1
    w = rng.uniform(0.5, 2.0, n)
    w[::7] = 0.0
    return X, C, w


def sq_distances(X, C):
    X = X.astype(np.float64)
    return ((X[:, None, :] - C[None]) ** 2).sum(-1)


def lloyd(X, C, w, isa, labels=None, threads=1):
    labels = np.full(len(X), -1, np.int64) if labels is None else labels.copy()
    dist, new = np.empty(len(X)), np.empty_like(C)
    step = _core.lloyd_step(X, w, C, new, labels, dist, threads, isa)
    return step, labels, dist, new


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("n,d,k", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lloyd_pass_matches_reference(isa, n, d, k, dtype):
    X, C, w = data(n, d, k, n + d + k, dtype)
    step, labels, dist, new = lloyd(X, C, w, isa)
    D2 = sq_distances(X, C)
    part = np.sort(D2, axis=1)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    # The nearest centre wherever the two nearest are not within rounding.
    clear = (part[:, 1] - part[:, 0] > rtol * part[:, 1]) if k > 1 else np.ones(n, bool)
    assert np.array_equal(labels[clear], D2.argmin(1)[clear])
    chosen = D2[np.arange(n), labels]
    np.testing.assert_allclose(chosen, D2.min(1), rtol=rtol, atol=1e-9)
    np.testing.assert_allclose(dist, chosen, rtol=rtol, atol=rtol * np.abs(X).max() ** 2 * d)
    np.testing.assert_allclose(step["inertia"], (w * dist).sum(), rtol=1e-12)
    assert step["n_changed"] == np.count_nonzero(w)
    # New centres: weighted means of the clusters (none is empty here, or
    # relocation moved a row: then n_relocated says so).
    if step["n_relocated"] == 0:
        for j in range(k):
            m = labels == j
            if w[m].sum() > 0:
                np.testing.assert_allclose(
                    new[j], np.average(X[m].astype(float), axis=0, weights=w[m]), rtol=1e-12, atol=1e-10
                )
            else:
                np.testing.assert_array_equal(new[j], C[j])
    # A second pass from the same centres changes no label.
    assert lloyd(X, C, w, isa, labels=labels)[0]["n_changed"] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_instruction_sets_agree(dtype):
    X, C, w = data(3000, 24, 11, 4, dtype)
    base = lloyd(X, C, w, "portable")
    for isa in ISAS[1:]:
        other = lloyd(X, C, w, isa)
        assert np.array_equal(other[1], base[1]), isa
        np.testing.assert_allclose(other[3], base[3], rtol=1e-12)
        np.testing.assert_allclose(other[2], base[2], rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-3)


@pytest.mark.parametrize("isa", ISAS)
def test_strided_rows(isa):
    X, C, w = data(500, 9, 5, 2, np.float64)
    base = lloyd(np.ascontiguousarray(X), C, w, isa)
    for view in (np.asfortranarray(X), np.repeat(X, 2, axis=1)[:, ::2], X[::-1][::-1]):
        other = lloyd(view, C, w, isa)
        assert np.array_equal(other[1], base[1])
        np.testing.assert_array_equal(other[3], base[3])
        mean, var = _core.kmeans_moments(view, w, 1, isa)
        np.testing.assert_allclose(mean, np.average(X, axis=0, weights=w), rtol=1e-12)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_across_threads(isa, dtype):
    # D = 64: 256-row blocks; 12000 rows make 47 blocks and enough work for
    # several threads.
    X, C, w = data(12000, 64, 9, 3, dtype)
    one = lloyd(X, C, w, isa, threads=1)
    for threads in (2, 3):
        other = lloyd(X, C, w, isa, threads=threads)
        assert one[0] == other[0]
        for a, b in zip(one[1:], other[1:]):
            np.testing.assert_array_equal(a, b)
    m1 = _core.kmeans_moments(X, w, 1, isa)
    m2 = _core.kmeans_moments(X, w, 3, isa)
    np.testing.assert_array_equal(m1[0], m2[0])
    labels = np.empty(len(X), np.int64)
    assert _core.kmeans_labels(X, w, C, labels, 1, isa) == _core.kmeans_labels(X, w, C, labels, 3, isa)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moments_match_reference(isa, dtype):
    X, _, w = data(1000, 13, 2, 5, dtype)
    mean, var = _core.kmeans_moments(X, w, 1, isa)
    X64 = X.astype(np.float64)
    ref_mean = np.average(X64, axis=0, weights=w)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-13)
    np.testing.assert_allclose(var, np.average((X64 - ref_mean) ** 2, axis=0, weights=w), rtol=1e-9)
    bad = X.copy()
    bad[700, 3] = np.nan
    bad[900, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity \\(first at row 700\\)"):
        _core.kmeans_moments(bad, w, 2, isa)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_final_labels_are_predict_with_float64_inertia(isa, dtype):
    # Integer grid: many rows exactly halfway between centres, where the fast
    # pass may pick either; the final pass is predict's exact assignment.
    g = np.arange(-3, 4, dtype=float)
    X = np.array(np.meshgrid(g, g, g)).reshape(3, -1).T.astype(dtype)
    C = np.array([[0.0, 0, 0], [2, 0, 0], [0, 2, 0], [1, 1, 2]])
    w = np.linspace(0.5, 1.5, len(X))
    labels = np.empty(len(X), np.int64)
    out = _core.kmeans_labels(X, w, C, labels, 1, isa)
    np.testing.assert_array_equal(labels, nx.NeuralizedKMeans(C).predict(X))
    D2 = sq_distances(X, C)
    assert np.array_equal(labels, D2.argmin(1))  # exact ties to the lowest index
    np.testing.assert_allclose(out["inertia"], (w * D2.min(1)).sum(), rtol=1e-14)
    part = np.sort(D2, axis=1)
    np.testing.assert_allclose(out["logit_sum"], (w * (part[:, 1] - part[:, 0])).sum(), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seeding_distances_agree_across_instruction_sets(dtype):
    # k-means++ draws from sums of the dispatched distances: on separated
    # blobs every instruction set picks the same rows from the same seed.
    rng = np.random.default_rng(6)
    centres = rng.uniform(-20, 20, (12, 7))
    X = (centres[rng.integers(0, 12, 4000)] + rng.standard_normal((4000, 7))).astype(dtype)
    w = np.ones(len(X))
    picks = {}
    for isa in ISAS:
        s = _core.KMeansPlusPlus(len(X), 7, 12, 4, 123, isa)
        while not s.done:
            s.step(X, w, 1)
        picks[isa] = s.indices
    for isa in ISAS[1:]:
        np.testing.assert_array_equal(picks[isa], picks["portable"])
    assert len(np.unique(picks["portable"])) == 12


def test_unknown_instruction_set():
    X, C, w = data(10, 2, 2, 0, np.float64)
    with pytest.raises(ValueError, match="unknown instruction set 'sse9'"):
        lloyd(X, C, w, "sse9")
    for isa in {"avx2", "avx512"} - set(ISAS):
        with pytest.raises(ValueError, match=isa):
            lloyd(X, C, w, isa)


_CHILD = """
import json, sys
import numpy as np
import neon_ext as nx
from neon_ext import _core
X = np.load(sys.argv[1]); C = np.load(sys.argv[2])
w = np.ones(len(X)); labels = np.full(len(X), -1, np.int64); dist = np.empty(len(X)); new = np.empty_like(C)
_core.lloyd_step(X, w, C, new, labels, dist, 1)
np.save(sys.argv[3], dist)
info = nx.build_info()
print(json.dumps({"isa": info["kernel_isa"], "families": info["kernel_families"]}))
"""


@pytest.mark.parametrize("isa", ISAS)
def test_environment_variable_reaches_the_fit_kernels(isa, tmp_path):
    # NEON_EXT_ISA is read once per process: a child process per setting.
    X, C, _ = data(2000, 21, 13, 8, np.float32)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "C.npy", C)
    info = run_with_isa_setting(isa, _CHILD, tmp_path / "X.npy", tmp_path / "C.npy", tmp_path / "d.npy")
    assert info["isa"] == isa
    assert set(info["families"].values()) == {isa}
    # The child's automatic pass is bit for bit this process's pass with `isa`.
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), lloyd(X, C, np.ones(len(X)), isa)[2])


# A bad NEON_EXT_ISA: the import works (nothing is parsed then), and
# build_info() and each compiled call raise the core's ValueError.
_BAD_SETTING_CHILD = """
import json
import neon_ext as nx

calls = {
    "build_info": nx.build_info,
    "predict": lambda: nx.NeuralizedKMeans([[0.0], [1.0]]).predict([[0.5]]),
    "fit": lambda: nx.KMeans(2, n_init=1, random_state=0).fit([[0.0], [1.0], [2.0], [3.0]]),
}
out = {}
for name, call in calls.items():
    try:
        call()
        out[name] = None
    except ValueError as e:
        out[name] = str(e)
print(json.dumps(out))
"""


@pytest.mark.parametrize("value", ["bogus", "AVX2", "avx2 ", "sse2"])
def test_bad_isa_setting_is_a_value_error_from_the_core(value):
    out = run_with_isa_setting(value, _BAD_SETTING_CHILD)
    expected = (
        f"NEON_EXT_ISA={value!r} is not an instruction set of neon_ext; use one of portable, avx2, avx512 or unset it"
    )
    assert out == {"build_info": expected, "predict": expected, "fit": expected}


def test_isa_setting_this_cpu_cannot_run_is_refused():
    missing = [isa for isa in ("portable", "avx2", "avx512") if isa not in ISAS]
    if not missing:
        pytest.skip("this build and CPU run every instruction set: nothing to refuse")
    out = run_with_isa_setting(missing[0], _BAD_SETTING_CHILD)
    message = out["build_info"]
    assert message.startswith(f"NEON_EXT_ISA='{missing[0]}': ")
    assert message.endswith(f"kernels; use one of {', '.join(ISAS)} or unset it")
    assert out["predict"] == out["fit"] == message


def test_empty_isa_setting_means_automatic():
    code = "import json, neon_ext as nx; print(json.dumps(nx.build_info()['kernel_isa']))"
    assert run_with_isa_setting("", code) == ISAS[-1]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relocation_without_distances(isa, dtype):
    # A centre far from every row empties its cluster: relocation needs the
    # rows' distances, which a pass without `dist` computes in a second pass.
    X, C, w = data(800, 6, 5, 9, dtype)
    C[2] = 1e4
    labels = np.full(len(X), -1, np.int64)
    new = np.empty_like(C)
    step = _core.lloyd_step(X, w, C, new, labels, None, 2, isa)
    ref_step, ref_labels, dist, ref_new = lloyd(X, C, w, isa, threads=2)
    assert step["n_relocated"] == ref_step["n_relocated"] == 1
    assert step["inertia"] == ref_step["inertia"]
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(new, ref_new)
    far = int(np.argmax(np.where(w > 0, dist, -1)))
    np.testing.assert_allclose(new[2], X[far], rtol=1e-6)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_center_distances_match_reference(isa, dtype):
    # KMeans.transform: float64 products for either input precision.
    X, C, _ = data(300, 19, 9, 12, dtype)
    out = np.empty((len(X), 9), dtype)
    _core.center_distances(X, C, out, True, 2, isa)
    D2 = sq_distances(X, C)
    np.testing.assert_allclose(out, D2, rtol=1e-6 if dtype == np.float32 else 1e-10, atol=1e-8)
    _core.center_distances(X, C, out, False, 1, isa)
    np.testing.assert_allclose(out, np.sqrt(D2), rtol=1e-6 if dtype == np.float32 else 1e-10, atol=1e-8)
    bad = X.copy()
    bad[123, 4] = np.inf
    bad[200, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity \\(first at row 123\\)"):
        _core.center_distances(bad, C, out, True, 2, isa)
