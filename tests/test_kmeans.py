"""NeuralizedKMeans against the spec's golden values and a slow float64 reference."""

import logging
import pickle

import numpy as np
import pytest

import neon_ext as nx
from conftest import blobs, sklearn_dataset
import reference as ref

GOLDEN_C = np.array([[0, 0], [4, 0], [0, 3]], dtype=float)
GOLDEN_X = np.array([[1, 0.5], [3, 1], [-0.5, 2.5], [2, 1.5]])


def relative_error(actual, expected):
    actual = np.asarray(actual, float)
    expected = np.asarray(expected, float)
    scale = max(np.abs(expected).max(), 1e-300)
    return np.abs(actual - expected).max() / scale


def assert_conserves(e, rtol):
    """Each row's relevance sums to its logit, relative to the row's scale."""
    R = e.relevance.astype(np.float64)
    scale = np.maximum(np.abs(R).sum(1), np.abs(e.logit.astype(np.float64)))
    gap = np.abs(R.sum(1) - e.logit.astype(np.float64))
    assert np.all(gap <= rtol * np.maximum(scale, 1e-300)), gap.max()


# --- golden values (NEON_SPEC.md, section 4) -----------------------------------


def test_golden_logits_and_assignment():
    m = nx.NeuralizedKMeans(GOLDEN_C)
    expected = [[6, -8, -6], [-8, 8, -11], [-6, -26, 6], [0, 0, 0]]
    np.testing.assert_allclose(m.logits(GOLDEN_X), expected, atol=1e-9, rtol=0)
    np.testing.assert_array_equal(m.predict(GOLDEN_X), [0, 1, 2, 0])  # point 4: three-way tie -> 0


def test_golden_beta_heuristic():
    assert nx.NeuralizedKMeans(GOLDEN_C).beta_heuristic(GOLDEN_X) == pytest.approx(0.2, abs=1e-12)


def test_golden_relevance_assigned():
    e = nx.NeuralizedKMeans(GOLDEN_C).explain(GOLDEN_X, beta=0.5)
    expected = [
        [1.613648528220, 4.386351471779],
        [7.601980675331, 0.398019324668],
        [0.000209528625, 5.999790471374],
        [0, 0],
    ]
    np.testing.assert_allclose(e.relevance, expected, atol=1e-9, rtol=0)
    np.testing.assert_allclose(e.logit, [6, 8, 6, 0], atol=1e-12)
    np.testing.assert_array_equal(e.target, [0, 1, 2, 0])
    np.testing.assert_array_equal(e.assigned, [0, 1, 2, 0])
    assert e.beta == 0.5


def test_golden_relevance_target_1():
    e = nx.NeuralizedKMeans(GOLDEN_C).explain(GOLDEN_X, target=1, beta=0.5)
    expected = [
        [-9.13822095626, 1.138220956261],
        [7.601980675331, 0.398019324668],
        [-20.284555239065, -5.715444760934],
        [0, 0],
    ]
    np.testing.assert_allclose(e.relevance, expected, atol=1e-9, rtol=0)
    np.testing.assert_array_equal(e.target, [1, 1, 1, 1])
    np.testing.assert_array_equal(e.assigned, [0, 1, 2, 0])


def test_golden_float32():
    e = nx.NeuralizedKMeans(GOLDEN_C).explain(GOLDEN_X.astype(np.float32), beta=0.5)
    assert e.relevance.dtype == np.float32 and e.logit.dtype == np.float32
    expected = [
        [1.613648528220, 4.386351471779],
        [7.601980675331, 0.398019324668],
        [0.000209528625, 5.999790471374],
        [0, 0],
    ]
    np.testing.assert_allclose(e.relevance, expected, atol=1e-5, rtol=1e-5)


# --- against the slow reference ----------------------------------------------------


def _random_case(seed, n=60, d=7, k=5):
    X, C = blobs(n, d, k, seed=seed)
    return X, C + np.random.default_rng(seed + 1).normal(scale=0.3, size=C.shape)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("beta", [0.01, 0.3, 5.0])
def test_matches_reference_assigned(seed, beta):
    X, C = _random_case(seed)
    m = nx.NeuralizedKMeans(C)
    e = m.explain(X, beta=beta)
    assigned = ref.kmeans_assign(X, C)
    R, f = ref.kmeans_explain(X, C, assigned, beta, m.epsilon)
    np.testing.assert_array_equal(e.assigned, assigned)
    assert relative_error(e.logit, f) < 1e-9
    assert relative_error(e.relevance, R) < 1e-9
    assert_conserves(e, 1e-10)


@pytest.mark.parametrize("seed", [3, 4])
def test_matches_reference_arbitrary_targets(seed):
    X, C = _random_case(seed)
    targets = np.random.default_rng(seed).integers(len(C), size=len(X))
    m = nx.NeuralizedKMeans(C)
    e = m.explain(X, target=targets, beta=0.7)
    R, f = ref.kmeans_explain(X, C, targets, 0.7, m.epsilon)
    np.testing.assert_array_equal(e.target, targets)
    assert relative_error(e.logit, f) < 1e-9
    assert relative_error(e.relevance, R) < 1e-9
    assert_conserves(e, 1e-10)
    assert np.all(e.logit[targets != e.assigned] < 0)


def test_logits_match_reference():
    X, C = _random_case(7, n=40, k=6)
    L = nx.NeuralizedKMeans(C).logits(X)
    expected = ref.kmeans_logits(X, C)
    assert relative_error(L, expected) < 1e-10
    assert np.all((L > 0).sum(1) == 1)
    np.testing.assert_array_equal(np.argmax(L, 1), ref.kmeans_assign(X, C))


@pytest.mark.parametrize("name,k", [("wine", 3), ("breast_cancer", 2), ("digits", 10)])
def test_sklearn_datasets_against_reference(name, k):
    cluster = pytest.importorskip("sklearn.cluster")
    X = sklearn_dataset(name)
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    km = cluster.KMeans(n_clusters=k, n_init=3, random_state=0).fit(X)
    m = nx.neuralize(km)
    rows = np.random.default_rng(0).choice(len(X), size=min(len(X), 80), replace=False)
    Xs = X[rows]
    beta = m.beta_heuristic(X)
    assert beta == pytest.approx(ref.kmeans_beta_heuristic(X, km.cluster_centers_), rel=1e-9)
    for target in (None, k - 1):
        e = m.explain(Xs, target=target, beta=beta)
        targets = e.assigned if target is None else np.full(len(Xs), target)
        R, f = ref.kmeans_explain(Xs, km.cluster_centers_, targets, beta, m.epsilon)
        assert relative_error(e.relevance, R) < 1e-9
        assert relative_error(e.logit, f) < 1e-9
        assert_conserves(e, 1e-9)
        # float32 input: float32 results within 1e-4 relative of the float64 reference
        e32 = m.explain(Xs.astype(np.float32), target=target, beta=beta)
        assert e32.relevance.dtype == np.float32
        assert relative_error(e32.relevance, R) < 1e-4
        assert_conserves(e32, 1e-4)


def test_float32_far_from_origin_keeps_precision():
    # Large offsets (raw pixel values, uncentred embeddings) must not cost
    # precision: the core works in coordinates centred on the centroids.
    X, C = _random_case(11, n=50, d=6, k=4)
    offset = 1e4
    Xf, Cf = (X + offset).astype(np.float32), C + offset
    m = nx.NeuralizedKMeans(Cf)
    e = m.explain(Xf, beta=0.5)
    R, f = ref.kmeans_explain(Xf.astype(np.float64), Cf, e.assigned, 0.5, m.epsilon)
    assert relative_error(e.relevance, R) < 1e-4


def test_beta_large_gives_all_relevance_to_nearest_competitor():
    X, C = _random_case(5)
    m = nx.NeuralizedKMeans(C)
    e = m.explain(X, beta=1e6)
    for x, c, r in zip(X, e.assigned, e.relevance):
        d = ((C - x) ** 2).sum(1)
        h = d - d[c]
        h[c] = np.inf
        k = int(np.argmin(h))
        w = 2 * (C[c] - C[k])
        expected = (x - (C[c] + C[k]) / 2) * w  # R_k = f = h_k: ratio 1
        np.testing.assert_allclose(r, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())


def test_beta_small_spreads_evenly():
    X, C = _random_case(6, n=10)
    m = nx.NeuralizedKMeans(C)
    e = m.explain(X, beta=1e-12)
    R, _ = ref.kmeans_explain(X, C, e.assigned, 0.0, m.epsilon)  # beta = 0: uniform over competitors
    assert relative_error(e.relevance, R) < 1e-9


def test_beta_heuristic_default_used():
    X, C = _random_case(8)
    m = nx.NeuralizedKMeans(C)
    e = m.explain(X)
    assert e.beta == pytest.approx(ref.kmeans_beta_heuristic(X, C), rel=1e-12)


def test_beta_heuristic_fallback_is_finite():
    C = np.array([[0.0, 0.0], [2.0, 0.0]])
    X = np.array([[1.0, 0.0], [1.0, 5.0]])  # both on the boundary: mean logit 0
    beta = nx.NeuralizedKMeans(C).beta_heuristic(X)
    assert beta == pytest.approx(1 / 4.0)
    assert nx.NeuralizedKMeans(C).beta_heuristic(np.empty((0, 2))) == pytest.approx(1 / 4.0)


# --- threads, layouts, dtypes ---------------------------------------------------------


def test_identical_across_thread_counts():
    X, C = blobs(5000, 20, 7, seed=3)  # several blocks of rows
    m = nx.NeuralizedKMeans(C)
    t = np.random.default_rng(0).integers(7, size=len(X))
    a = m.explain(X, target=t, beta=0.3, n_threads=1)
    b = m.explain(X, target=t, beta=0.3, n_threads=2)
    c = m.explain(X, target=t, beta=0.3, n_threads=3)
    for other in (b, c):
        np.testing.assert_array_equal(a.relevance, other.relevance)
        np.testing.assert_array_equal(a.logit, other.logit)
    np.testing.assert_array_equal(m.logits(X, n_threads=1), m.logits(X, n_threads=2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layouts_give_same_results(dtype):
    X, C = blobs(300, 9, 4, seed=9, dtype=dtype)
    m = nx.NeuralizedKMeans(C)
    base = m.explain(X, beta=0.4)
    views = {
        "fortran": np.asfortranarray(X),
        "reversed": X[::-1][::-1],
        "negative_strides": X[::-1],
        "every_other_row": X[::2],
        "column_slice": np.hstack([X, X])[:, :9],
    }
    for name, V in views.items():
        e = m.explain(V, beta=0.4)
        assert e.relevance.dtype == dtype, name
        expected = (
            base.relevance[::-1]
            if name == "negative_strides"
            else (base.relevance[::2] if name == "every_other_row" else base.relevance)
        )
        np.testing.assert_allclose(
            e.relevance,
            expected,
            rtol=1e-5 if dtype == np.float32 else 1e-12,
            atol=1e-5 if dtype == np.float32 else 1e-12,
            err_msg=name,
        )


def test_read_only_and_non_native_byte_order():
    X, C = blobs(100, 5, 3, seed=1)
    m = nx.NeuralizedKMeans(C)
    base = m.explain(X, beta=0.5)
    ro = X.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(m.explain(ro, beta=0.5).relevance, base.relevance)
    swapped = X.astype(X.dtype.newbyteorder(">" if np.little_endian else "<"))
    np.testing.assert_allclose(m.explain(swapped, beta=0.5).relevance, base.relevance, rtol=0, atol=0)


def test_integer_and_bool_input_become_float64():
    C = np.array([[0.0, 0.0], [3.0, 3.0]])
    m = nx.NeuralizedKMeans(C)
    Xi = np.array([[0, 1], [3, 2], [1, 1]], dtype=np.int32)
    e = m.explain(Xi, beta=1.0)
    assert e.relevance.dtype == np.float64
    np.testing.assert_array_equal(e.relevance, m.explain(Xi.astype(float), beta=1.0).relevance)
    assert m.predict(np.array([[True, False]])).tolist() == [0]
    assert m.explain(np.array([[1, 0]], dtype=np.float16), beta=1.0).relevance.dtype == np.float32


def test_out_and_memmap(tmp_path):
    X, C = blobs(2000, 8, 4, seed=2, dtype=np.float32)
    path = tmp_path / "x.npy"
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")
    out = np.lib.format.open_memmap(tmp_path / "r.npy", mode="w+", dtype=np.float32, shape=X.shape)
    m = nx.NeuralizedKMeans(C)
    e = m.explain(Xm, beta=0.2, out=out)
    assert e.relevance is out
    out.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy"), m.explain(X, beta=0.2).relevance)
    L = np.empty((len(X), 4), np.float32)
    assert m.logits(X, out=L) is L


def test_empty_input():
    m = nx.NeuralizedKMeans(GOLDEN_C)
    e = m.explain(np.empty((0, 2)))
    assert e.relevance.shape == (0, 2) and e.logit.shape == (0,) and e.assigned.shape == (0,)
    assert m.predict(np.empty((0, 2))).shape == (0,)
    assert m.logits(np.empty((0, 2), np.float32)).shape == (0, 3)


def test_duplicate_centroids_give_finite_results():
    C = np.array([[0.0, 0.0], [0.0, 0.0], [4.0, 1.0], [4.0, 1.0]])
    X, _ = blobs(50, 2, 2, seed=4)
    m = nx.NeuralizedKMeans(C)
    assert set(m.predict(X)) <= {0, 2}  # ties go to the lowest index
    for target in (None, 1, 3):
        e = m.explain(X, target=target, beta=0.5)
        assert np.isfinite(e.relevance).all() and np.isfinite(e.logit).all()
    # The twin of a cluster is always at h = 0: logit of cluster 1 is never positive.
    assert np.all(m.logits(X)[:, 1] <= 0)
    # Twins contribute exactly nothing; the rest matches the reference over distinct centroids.
    e = m.explain(X, beta=0.5)
    distinct = C[[0, 2]]
    R, _ = ref.kmeans_explain(X, distinct, e.assigned // 2, 0.5)
    # with the twin at h = 0 the assigned logit is 0 and nothing is redistributed
    np.testing.assert_array_equal(e.logit, 0.0)
    np.testing.assert_array_equal(e.relevance, 0.0)
    assert R.shape == e.relevance.shape


# --- API conveniences --------------------------------------------------------------


def test_pickle_round_trip():
    X, C = _random_case(12)
    m = nx.NeuralizedKMeans(C, eps=1e-10)
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.eps == 1e-10
    np.testing.assert_array_equal(m2.explain(X, beta=0.3).relevance, m.explain(X, beta=0.3).relevance)


@pytest.mark.parametrize("cls", ["KMeans", "MiniBatchKMeans"])  # BisectingKMeans: test_data_safety.py
def test_neuralize_sklearn_models(cls):
    cluster = pytest.importorskip("sklearn.cluster")
    X, _ = blobs(200, 4, 3, seed=0)
    model = getattr(cluster, cls)(n_clusters=3, random_state=0, n_init=3)
    model.fit(X)
    m = nx.neuralize(model)
    assert isinstance(m, nx.NeuralizedKMeans)
    np.testing.assert_array_equal(m.predict(X), model.predict(X))


def test_neuralize_rejects_unfitted_and_foreign():
    class Unfitted:
        pass

    with pytest.raises(TypeError, match="cannot neuralize Unfitted"):
        nx.neuralize(Unfitted())
    m = nx.NeuralizedKMeans(GOLDEN_C)
    assert nx.neuralize(m) is m


def test_package_logging_and_build_info():
    handlers = logging.getLogger("neon_ext").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
    info = nx.build_info()
    assert {"openmp", "openmp_default_threads", "eigen_version", "compiler", "version"} <= set(info)


def test_explanation_helpers():
    e = nx.NeuralizedKMeans(GOLDEN_C).explain(GOLDEN_X, beta=0.5)
    assert len(e) == 4 and "n_samples=4" in repr(e)
    assert np.abs(e.conservation_error()).max() < 1e-10  # eps-stabilizer: ~eps/h relative
    assert e.top_features(0, 1) == [(1, pytest.approx(4.386351471779))]


def test_demo_runs():
    import io

    buf = io.StringIO()
    from neon_ext.demo import run_demo

    run_demo(file=buf)
    text = buf.getvalue()
    assert "conservation" in text and "cluster" in text


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "X,exc,match",
    [
        (np.zeros(2), ValueError, "must be 2-D"),
        (np.zeros((2, 2, 2)), ValueError, "must be 2-D"),
        (np.zeros((3, 5)), ValueError, "has 5 features, but the model has 2"),
        (np.array([[0, 1], [np.nan, 0]]), ValueError, r"NaN or infinity \(first at row 1\)"),
        (np.array([[np.inf, 1]], np.float32), ValueError, "NaN or infinity"),
        (np.array([[1 + 1j, 0]]), TypeError, "real numbers"),
        (np.array([["a", "b"]]), TypeError, "real numbers"),
        (np.array([[object(), 1]], dtype=object), TypeError, "real numbers"),
    ],
)
def test_bad_X(X, exc, match):
    m = nx.NeuralizedKMeans(GOLDEN_C)
    with pytest.raises(exc, match=match):
        m.explain(X, beta=1.0)


def test_nan_row_reported_across_chunks():
    X = np.zeros((200_000, 2))
    X[150_001, 1] = np.nan
    with pytest.raises(ValueError, match="row 150001"):
        nx.NeuralizedKMeans(GOLDEN_C).predict(X)


@pytest.mark.parametrize(
    "C,exc,match",
    [
        (np.zeros((1, 2)), ValueError, "at least 2 rows"),
        (np.zeros(3), ValueError, "must be 2-D"),
        (np.array([[0, 0], [np.nan, 1]]), ValueError, "NaN or infinity"),
        (np.zeros((2, 0)), ValueError, "at least one feature"),
    ],
)
def test_bad_centroids(C, exc, match):
    with pytest.raises(exc, match=match):
        nx.NeuralizedKMeans(C)


@pytest.mark.parametrize(
    "beta,exc",
    [
        (0.0, ValueError),
        (-1.0, ValueError),
        (np.nan, ValueError),
        (np.inf, ValueError),
        (True, TypeError),
        ("1", TypeError),
    ],
)
def test_bad_beta(beta, exc):
    with pytest.raises(exc, match="beta"):
        nx.NeuralizedKMeans(GOLDEN_C).explain(GOLDEN_X, beta=beta)


@pytest.mark.parametrize(
    "target,exc,match",
    [
        (3, ValueError, "out of range"),
        (-1, ValueError, "out of range"),
        (np.array([0, 1, 2]), ValueError, r"shape \(4,\)"),
        (np.array([0, 1, 2, 5]), ValueError, r"target\[3\]=5 is out of range"),
        (np.array([0.0, 1, 2, 0]), TypeError, "integers"),
        (True, TypeError, "bool"),
    ],
)
def test_bad_target(target, exc, match):
    with pytest.raises(exc, match=match):
        nx.NeuralizedKMeans(GOLDEN_C).explain(GOLDEN_X, target=target, beta=1.0)


@pytest.mark.parametrize(
    "out,match",
    [
        (np.empty((4, 3)), r"shape \(4, 2\)"),
        (np.empty((4, 2), np.float32), "dtype float64"),
        (np.empty((2, 4)).T, "C-contiguous"),
        ("no", "numpy array"),
    ],
)
def test_bad_out(out, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nx.NeuralizedKMeans(GOLDEN_C).explain(GOLDEN_X, beta=1.0, out=out)


def test_out_read_only_or_overlapping():
    out = np.empty((4, 2))
    out.setflags(write=False)
    m = nx.NeuralizedKMeans(GOLDEN_C)
    with pytest.raises(ValueError, match="read-only"):
        m.explain(GOLDEN_X, beta=1.0, out=out)
    X = GOLDEN_X.copy()
    with pytest.raises(ValueError, match="share memory"):
        m.explain(X, beta=1.0, out=X)


@pytest.mark.parametrize("n_threads,exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError)])
def test_bad_n_threads(n_threads, exc):
    with pytest.raises(exc, match="n_threads"):
        nx.NeuralizedKMeans(GOLDEN_C).predict(GOLDEN_X, n_threads=n_threads)


@pytest.mark.parametrize("eps,exc", [(-1.0, ValueError), (np.nan, ValueError), ("x", TypeError)])
def test_bad_eps(eps, exc):
    with pytest.raises(exc, match="eps"):
        nx.NeuralizedKMeans(GOLDEN_C, eps=eps)
