"""The kernel k-means row kernels (cpp/neon/kernel_rows_kernel.hpp) on every
instruction set: distance products (float64 for explanations, float32 for
predict/logits of float32 rows), pool weights (one expm1 polynomial per lane)
and the relevance product, against the long-double reference of
tests/model_factories.py. NEON_EXT_ISA is read once per process, so each
instruction set runs in a child process."""

from __future__ import annotations


import numpy as np
import pytest

import neon_ext as nx
from isa_child import run_with_isa_setting
from model_factories import KERNEL_KMEANS, LD

ISAS = nx.build_info()["kernel_isas"]
EPS32 = float(np.finfo(np.float32).eps)

_CHILD = """
import json, sys
import numpy as np
import neon_ext as nx
d = dict(np.load(sys.argv[1]))
out = {}
out["dyadic_S64"] = nx.NeuralizedKernelKMeans(d["dyadic_U"], d["dyadic_L"], 0.5).soft_min_distances(d["dyadic_X"])
for name in ("main", "pool"):
    m = nx.NeuralizedKernelKMeans(d[name + "_U"], d[name + "_L"], float(d[name + "_gamma"]))
    X = d[name + "_X"]
    out[name + "_S64"] = m.soft_min_distances(X)
    out[name + "_S32"] = m.soft_min_distances(X.astype(np.float32))
    out[name + "_P32"] = m.predict(X.astype(np.float32))
    out[name + "_F32"] = m.logits(X.astype(np.float32))
    out[name + "_F64"] = m.logits(X)
m = nx.NeuralizedKernelKMeans(d["main_U"], d["main_L"], float(d["main_gamma"]))
X = d["main_X"]
for kind, t in (("assigned", None), ("random", d["targets"])):
    e = m.explain(X, target=t, beta=0.7)
    out["R64_" + kind] = e.relevance
    out["f64_" + kind] = e.logit
    out["R32_" + kind] = m.explain(X.astype(np.float32), target=t, beta=0.7).relevance
tie = nx.NeuralizedKernelKMeans(d["tie_U"], d["tie_L"], 0.3)
out["tie_P32"] = tie.predict(d["tie_X"])
far = nx.NeuralizedKernelKMeans(d["far_U"], d["far_L"], float(d["far_gamma"]))
out["far_P32"] = far.predict(d["far_X"])
np.savez(sys.argv[2], **out)
print(json.dumps(nx.build_info()["kernel_families"]))
"""


def _cases():
    rng = np.random.default_rng(12)
    # 3 clusters of 50, 11 features, 23 rows: no tile of any instruction set
    # is whole (M not a multiple of 32, D not of 8, rows not of 4).
    centers = 2.0 * rng.normal(size=(3, 11))
    L = np.repeat(np.arange(3), 50)
    U = centers[L] + rng.normal(size=(150, 11))
    X = centers[rng.integers(3, size=23)] + 1.3 * rng.normal(size=(23, 11))
    cases = {"main_U": U, "main_L": L, "main_gamma": 0.15, "main_X": X, "targets": rng.integers(3, size=23)}
    # Pool weights across the expm1 / exp switch (gamma (e - lo) = ln 2 / 2) and
    # the 700 cut: 1-D support vectors spread so that gamma (e - lo) runs
    # from 0 to ~2000 within each cluster.
    Up = np.concatenate([np.linspace(-3.0, 0.5, 40), np.linspace(-0.5, 3.0, 37)])[:, None]
    Lp = np.repeat([0, 1], [40, 37])
    Xp = np.linspace(-4.0, 4.0, 29)[:, None]
    cases.update(pool_U=Up, pool_L=Lp, pool_gamma=60.0, pool_X=Xp)
    # Exactly representable distances: dyadic 1-D support vectors symmetric
    # about 0 (so the centre is 0 exactly) and dyadic rows, gamma = 1/2:
    # gamma (e - lo) exact from 0 to ~4.5, across the expm1 / exp switch.
    k = np.arange(-96, 97)
    cases.update(dyadic_U=(k / 32.0)[:, None], dyadic_L=(k >= 0).astype(np.int64))
    cases.update(dyadic_X=(np.arange(-24, 25) / 8.0)[:, None])
    # Exact ties in float32 rows: mirror-symmetric clusters, rows on the mirror.
    Ut = np.array([[-1.0, 0.0], [-2.0, 1.0], [1.0, 0.0], [2.0, 1.0]])
    # Rows from y = -5 to 5 are settled term by term; y = 1000 .. 1e6 are far
    # (|z| > 7 max |u|), settled in the centred float64 form.
    ys = [*range(-5, 6), 1000.0, -3000.0, 1e6]
    cases.update(tie_U=Ut, tie_L=np.array([0, 0, 1, 1]), tie_X=np.array([[0.0, y] for y in ys], np.float32))
    # Far float32 rows: z . u beyond the float32 range (the product
    # overflows; those rows are evaluated in float64; their logits are
    # beyond float32 too, so only the assignment is asked for).
    Uf = np.array([[0.0, 0.0], [1e20, 0.0], [0.0, 1e20], [1e20, 1e20]])
    Xf = np.array([[3e19, 1e19], [-3e19, 2e37], [2e38, 1e38]], np.float32)
    cases.update(far_U=Uf, far_L=np.array([0, 0, 1, 1]), far_gamma=1e-40, far_X=Xf)
    return cases


@pytest.fixture(scope="module")
def cases():
    return _cases()


@pytest.fixture(scope="module")
def child(cases, tmp_path_factory):
    """Outputs of one child process per instruction set, run once."""
    runs = {}

    def get(isa):
        if isa not in runs:
            runs[isa] = run_child(isa, cases, tmp_path_factory.mktemp(isa))
        return runs[isa]

    return get


def run_child(isa, cases, tmp_path):
    np.savez(tmp_path / "in.npz", **cases)
    families = run_with_isa_setting(isa, _CHILD, tmp_path / "in.npz", tmp_path / "out.npz", timeout=300)
    return families, dict(np.load(tmp_path / "out.npz"))


def ld_soft_min_distances(U, L, gamma, X):
    """S_k(x) in long double: -(1/gamma) log mean exp(-gamma d), shifted by the minimum."""
    U, X = U.astype(LD), np.asarray(X, dtype=LD)
    d = ((X[:, None, :] - U[None, :, :]) ** 2).sum(-1)
    S = np.empty((len(X), L.max() + 1), dtype=LD)
    for k in range(L.max() + 1):
        dk = d[:, L == k]
        lo = dk.min(1, keepdims=True)
        S[:, k] = lo[:, 0] - np.log1p(np.expm1(-LD(gamma) * (dk - lo)).mean(1)) / LD(gamma)
    return S


def row_relative(actual, expected):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return (np.abs(actual - expected).max(1) / np.abs(expected).max(1)).max()


@pytest.mark.parametrize("isa", ISAS)
def test_kernel_rows_every_isa_matches_the_long_double_reference(isa, cases, child):
    families, out = child(isa)
    assert families["kernel_kmeans_rows"] == isa  # NEON_EXT_ISA reaches this family too
    U, L, X, gamma = cases["main_U"], cases["main_L"], cases["main_X"], cases["main_gamma"]
    m = nx.NeuralizedKernelKMeans(U, L, gamma)
    for kind, t in (("assigned", None), ("random", cases["targets"])):
        ref = KERNEL_KMEANS.reference(m, X, t, 0.7)
        # float64: within 1e-10 of the row's largest relevance; conservation.
        assert row_relative(out["R64_" + kind], ref.relevance) <= 1e-10
        np.testing.assert_allclose(out["f64_" + kind], ref.logit.astype(np.float64), rtol=1e-12, atol=1e-12)
        R = out["R64_" + kind]
        assert (np.abs(R.sum(1) - out["f64_" + kind]) <= 1e-12 * np.abs(R).sum(1)).all()
        # float32 rows with relevance run in float64: the float32 rounding of the output only.
        ref32 = KERNEL_KMEANS.reference(m, X.astype(np.float32).astype(np.float64), t, 0.7)
        assert row_relative(out["R32_" + kind], ref32.relevance) <= 1e-6
    S = ld_soft_min_distances(U, L, gamma, X)
    assert np.abs(out["main_S64"] - S.astype(np.float64)).max() <= 1e-12 * np.abs(S).max()


@pytest.mark.parametrize("isa", ISAS)
def test_float32_product_for_predict_gives_the_float64_assignment(isa, cases, child):
    # predict of float32 rows uses the float32 distance product; rows whose
    # two nearest clusters are within its rounding are settled in float64,
    # so the assignment is the float64 one on the same values (the contract
    # test_fuzz checks against explain). Logits and soft-min distances of
    # float32 rows run in float64: the float64 values rounded once.
    _, out = child(isa)
    for name in ("main", "pool"):
        U, L, X, gamma = (cases[name + k] for k in ("_U", "_L", "_X", "_gamma"))
        X32 = X.astype(np.float32).astype(np.float64)
        m = nx.NeuralizedKernelKMeans(U, L, gamma)
        np.testing.assert_array_equal(out[name + "_P32"], m.predict(X32))
        S = ld_soft_min_distances(U, L, gamma, X32).astype(np.float64)
        ordered = np.sort(S, 1)
        assert (ordered[:, 1] - ordered[:, 0] > 1e-9 * np.abs(S).max()).all()  # no tie: argmin is exact
        np.testing.assert_array_equal(out[name + "_P32"], S.argmin(1))
        np.testing.assert_array_equal(out[name + "_F32"], m.logits(X32).astype(np.float32))
        np.testing.assert_array_equal(out[name + "_S32"], m.soft_min_distances(X32).astype(np.float32))


@pytest.mark.parametrize("isa", ISAS)
def test_pool_weights_across_the_expm1_switch_and_the_700_cut_float64(isa, cases, child):
    # gamma (e - lo) from 0 to ~2000 in every pool: the expm1 branch (<= ln 2 / 2),
    # 2^n (1 + expm1(r)) above, 0 from 700 on: the soft-min distances of the
    # float64 path stay within 1e-12 of long double.
    _, out = child(isa)
    U, L, X, gamma = (cases["pool" + k] for k in ("_U", "_L", "_X", "_gamma"))
    S = ld_soft_min_distances(U, L, gamma, X)
    assert np.abs(out["pool_S64"] - S.astype(np.float64)).max() <= 1e-12 * np.abs(S).max()


@pytest.mark.parametrize("isa", ISAS)
def test_exp_terms_keep_soft_min_distances_at_float64_rounding(isa, cases, child):
    # The pool weights' expm1 polynomial has kExpTermsFloat64 = 13 terms on
    # |r| <= ln 2 / 2 (isa_simd.hpp; left-out term 1.5e-17 relative). On
    # exactly representable distances the only errors are the polynomial's
    # and the sums' rounding: every soft-min distance within 2e-15 of long
    # double, entry by entry (10 terms, the same algorithm in numpy: 1.5e-14).
    _, out = child(isa)
    S = ld_soft_min_distances(cases["dyadic_U"], cases["dyadic_L"], 0.5, cases["dyadic_X"])
    assert (S > 0).all()
    assert (np.abs(out["dyadic_S64"] - S.astype(np.float64)) <= 2e-15 * S.astype(np.float64)).all()


@pytest.mark.parametrize("isa", ISAS)
def test_float32_product_exact_ties_go_to_the_lowest_index(isa, child):
    # Rows on the mirror between two mirror-image clusters: an exact tie,
    # which the float32 product's rounding must not break (settled with
    # exact float64 distances within the float32 tolerance).
    _, out = child(isa)
    np.testing.assert_array_equal(out["tie_P32"], 0)


@pytest.mark.parametrize("isa", ISAS)
def test_float32_product_overflow_falls_back_to_float64(isa, cases, child):
    _, out = child(isa)
    far = nx.NeuralizedKernelKMeans(cases["far_U"], cases["far_L"], cases["far_gamma"])
    X64 = cases["far_X"].astype(np.float64)
    np.testing.assert_array_equal(out["far_P32"], far.predict(X64))


def test_float32_predict_and_logits_identical_across_thread_counts():
    rng = np.random.default_rng(3)
    U = rng.normal(size=(700, 9))
    m = nx.NeuralizedKernelKMeans(U, np.arange(700) % 5, gamma=0.2)
    X = rng.normal(size=(5 * m._block_rows(9) + 3, 9)).astype(np.float32)
    one, f_one = m.predict(X, n_threads=1), m.logits(X, n_threads=1)
    for threads in (2, 3):
        np.testing.assert_array_equal(m.predict(X, n_threads=threads), one)
        np.testing.assert_array_equal(m.logits(X, n_threads=threads), f_one)


def test_blocks_hold_enough_rows_for_the_products():
    # The products stream the support vectors once per block: the block
    # rule no longer charges the quadratic pair loop (the tree code replaced
    # it), so a model like the benchmark's (M = 2000, D = 64, K = 8) gets
    # blocks of at least 32 rows (was 8).
    rng = np.random.default_rng(0)
    m = nx.NeuralizedKernelKMeans(rng.normal(size=(2000, 64)), np.arange(2000) % 8, gamma=0.01)
    assert m._block_rows(64) >= 32
    big = nx.NeuralizedKernelKMeans(rng.normal(size=(40000, 2)), np.arange(40000) % 2, gamma=0.1)
    assert big._block_rows(2) >= 8


def test_target_members_sorted_only_where_the_order_is_needed():
    # relevance_coefficients sorts the target's members by distance only when
    # a competitor member lies within eps of their range or the tree code's
    # root expansion does not serve every source. Assigned targets of
    # clusters apart take the unsorted path (nearest first, farthest last);
    # neighbouring targets with overlapping distances, and a competitor member
    # placed inside the target's range, take the sorted one. Both against the
    # long-double reference, with conservation.
    rng = np.random.default_rng(5)
    centers = np.array([[0.0] * 4, [6.0] * 4, [-6.0] * 4])
    L = np.repeat(np.arange(3), 40)
    U = centers[L] + 0.7 * rng.normal(size=(120, 4))
    U[40] = U[0] + 0.3  # a member of cluster 1 among cluster 0's distances
    X = centers[rng.integers(3, size=15)] + 0.7 * rng.normal(size=(15, 4))
    m = nx.NeuralizedKernelKMeans(U, L, 0.2)
    for t in (None, rng.integers(3, size=15), np.ones(15, np.int64)):
        ref = KERNEL_KMEANS.reference(m, X, t, 0.7)
        e = m.explain(X, target=t, beta=0.7)
        assert row_relative(e.relevance, ref.relevance) <= 1e-10
        R = e.relevance
        assert (np.abs(R.sum(1) - e.logit) <= 1e-12 * np.abs(R).sum(1)).all()
