"""NeuralizedKernelKMeans and KernelKMeans against the spec's golden values and
a slow float64 reference written in this file from NEON_SPEC.md, section 2."""

import pickle

import numpy as np
import pytest

import neon_ext as nx
from conftest import blobs, sklearn_dataset

GOLDEN_U = np.array([[0, 0], [0.5, 0.5], [4, 0], [4.5, -0.5], [0, 3]], dtype=float)
GOLDEN_L = np.array([0, 0, 1, 1, 2])
GOLDEN_X = np.array([[1, 0.5], [3, 1], [-0.5, 2.5], [2.2, 1.3]])
GOLDEN_LOGITS = [[6.56185960724, -9.694297946274, -6.56185960724],
                 [-4.683409861815, 4.683409861815, -10.117563801571],
                 [-5.11255234889, -27.339803432375, 5.11255234889],
                 [1.496871334913, -1.496871334913, -3.216532194846]]
GOLDEN_R = {0.5: [[1.468699930312, 5.093159676927], [5.959882165255, -1.276472303442],
                  [0.578772722534, 4.533779626355], [0.582761315237, 0.914110019675]],
            2.0: [[1.618117122619, 4.94374248462], [5.36039481927, -0.676984957457],
                  [0.811727375604, 4.300824973285], [0.471221132826, 1.025650202087]]}


# --- the slow reference: the four layers and their rules, literally ------------------

def lme(values, s):
    """LME^s v = (1/s) log(mean exp(s v)), with the max of s v subtracted."""
    t = s * np.asarray(values, dtype=float)
    top = t.max()
    return (top + np.log(np.mean(np.exp(t - top)))) / s


def ref_soft_min_distances(x, U, L, gamma):
    return np.array([lme([np.sum((x - U[j]) ** 2) for j in np.flatnonzero(L == k)], -gamma)
                     for k in range(L.max() + 1)])


def ref_layers(x, U, L, gamma, c):
    """h_ijk (layer 1), h_jk (layer 2) and h_k (layer 3) for target c."""
    K = L.max() + 1
    Cc = np.flatnonzero(L == c)
    h1, h2, h3 = {}, {}, {}
    for k in range(K):
        if k == c:
            continue
        for j in np.flatnonzero(L == k):
            for i in Cc:
                w = 2.0 * (U[i] - U[j])
                b = U[j] @ U[j] - U[i] @ U[i]
                h1[i, j] = w @ x + b
            h2[j] = lme([h1[i, j] for i in Cc], gamma)
        h3[k] = lme([h2[j] for j in np.flatnonzero(L == k)], -gamma)
    return h1, h2, h3


def ref_logit(x, U, L, gamma, c):
    return min(ref_layers(x, U, L, gamma, c)[2].values())


def ref_relevance(x, U, L, gamma, pool, c, beta, eps):
    """The propagation rules of section 2, as the triple sum over k, j, i and
    features (float64 loops)."""
    x = np.asarray(x, dtype=float)
    h1, h2, h3 = ref_layers(x, U, L, gamma, c)
    f = min(h3.values())
    Cc = np.flatnonzero(L == c)
    top = {k: np.exp(-beta * (h - f)) for k, h in h3.items()}
    R = np.zeros(len(x))
    for k, hk in h3.items():
        Rk = f * top[k] / sum(top.values())
        Ck = np.flatnonzero(L == k)
        lo = min(h2[j] for j in Ck)
        w3 = {j: np.exp(-pool * (h2[j] - lo)) for j in Ck}
        for j in Ck:
            Rjk = Rk * w3[j] / sum(w3.values())
            hi = max(h1[i, j] for i in Cc)
            w2 = {i: np.exp(pool * (h1[i, j] - hi)) for i in Cc}
            for i in Cc:
                Rijk = Rjk * w2[i] / sum(w2.values())
                denom = h1[i, j] + eps * (1.0 if h1[i, j] >= 0 else -1.0)
                for d in range(len(x)):
                    R[d] += Rijk * ((x[d] - U[j, d]) ** 2 - (x[d] - U[i, d]) ** 2) / denom
    return R, f


def ref_explain(X, U, L, gamma, pool, targets, beta, eps):
    X = np.asarray(X, dtype=float)
    out = [ref_relevance(x, U, L, gamma, pool, int(c), beta, eps) for x, c in zip(X, targets)]
    return np.array([r for r, _ in out]), np.array([f for _, f in out])


def ref_assign(X, U, L, gamma):
    return np.array([int(np.argmin(ref_soft_min_distances(x, U, L, gamma))) for x in np.asarray(X, float)])


def ref_beta_heuristic(X, U, L, gamma):
    a = ref_assign(X, U, L, gamma)
    return 1.0 / np.mean([ref_logit(x, U, L, gamma, c) for x, c in zip(np.asarray(X, float), a)])


def relative_error(actual, expected):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    return np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-300)


def assert_conserves(e, rtol):
    R = e.relevance.astype(np.float64)
    logit = e.logit.astype(np.float64)
    scale = np.maximum(np.abs(R).sum(1), np.abs(logit))
    gap = np.abs(R.sum(1) - logit)
    assert np.all(gap <= rtol * np.maximum(scale, 1e-300)), gap.max()


def random_model(seed, n_support=14, d=5, k=3, spread=3.0):
    """Support vectors around k centres, labelled by centre, and test points."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread, size=(k, d))
    L = np.concatenate([np.arange(k), rng.integers(k, size=n_support - k)])
    U = centers[L] + rng.normal(size=(n_support, d))
    X = centers[rng.integers(k, size=12)] + 1.5 * rng.normal(size=(12, d))
    return U, L, X


# --- golden values (NEON_SPEC.md, section 4) -----------------------------------------

def test_golden_logits_assignment_and_beta():
    m = nx.NeuralizedKernelKMeans(GOLDEN_U, GOLDEN_L, 0.5)
    np.testing.assert_allclose(m.logits(GOLDEN_X), GOLDEN_LOGITS, atol=1e-9, rtol=0)
    np.testing.assert_array_equal(m.predict(GOLDEN_X), [0, 1, 2, 0])
    assert m.beta_heuristic(GOLDEN_X) == pytest.approx(0.224030733306646, abs=1e-12)


@pytest.mark.parametrize("pool", [None, 2.0])
def test_golden_relevance(pool):
    m = nx.NeuralizedKernelKMeans(GOLDEN_U, GOLDEN_L, 0.5, pool_stiffness=pool)
    assert m.pool_stiffness == (0.5 if pool is None else pool)
    e = m.explain(GOLDEN_X, beta=0.5)
    np.testing.assert_allclose(e.relevance, GOLDEN_R[m.pool_stiffness], atol=1e-9, rtol=0)
    np.testing.assert_allclose(e.logit, np.max(GOLDEN_LOGITS, axis=1), atol=1e-9)
    np.testing.assert_array_equal(e.target, [0, 1, 2, 0])
    assert isinstance(e, nx.Explanation) and e.beta == 0.5
    e32 = m.explain(GOLDEN_X.astype(np.float32), beta=0.5)
    assert e32.relevance.dtype == np.float32
    np.testing.assert_allclose(e32.relevance, GOLDEN_R[m.pool_stiffness], atol=1e-5, rtol=1e-5)


def test_golden_against_the_reference():
    # The reference reproduces the golden values too (it is checked, not trusted).
    for pool, expected in GOLDEN_R.items():
        R, f = ref_explain(GOLDEN_X, GOLDEN_U, GOLDEN_L, 0.5, pool, [0, 1, 2, 0], 0.5, 0.0)
        np.testing.assert_allclose(R, expected, atol=1e-9)


# --- against the slow reference ------------------------------------------------------

@pytest.mark.parametrize("seed,gamma,pool,beta", [
    (0, 0.5, None, 0.3), (1, 0.05, None, 2.0), (2, 2.0, 0.3, 0.05), (3, 0.2, 5.0, 1.0),
])
def test_matches_reference_assigned(seed, gamma, pool, beta):
    U, L, X = random_model(seed)
    m = nx.NeuralizedKernelKMeans(U, L, gamma, pool)
    e = m.explain(X, beta=beta)
    np.testing.assert_array_equal(e.assigned, ref_assign(X, U, L, gamma))
    R, f = ref_explain(X, U, L, gamma, m.pool_stiffness, e.assigned, beta, m.epsilon)
    assert relative_error(e.logit, f) < 1e-9
    assert relative_error(e.relevance, R) < 1e-9
    assert_conserves(e, 1e-9)
    assert np.all(e.logit >= 0)


@pytest.mark.parametrize("seed,gamma,pool", [(4, 0.3, None), (5, 1.0, 0.1)])
def test_matches_reference_arbitrary_targets(seed, gamma, pool):
    U, L, X = random_model(seed, n_support=12, k=4)
    targets = np.random.default_rng(seed).integers(4, size=len(X))
    m = nx.NeuralizedKernelKMeans(U, L, gamma, pool)
    e = m.explain(X, target=targets, beta=0.7)
    R, f = ref_explain(X, U, L, gamma, m.pool_stiffness, targets, 0.7, m.epsilon)
    np.testing.assert_array_equal(e.target, targets)
    assert relative_error(e.logit, f) < 1e-9
    assert relative_error(e.relevance, R) < 1e-9
    assert_conserves(e, 1e-9)
    assert np.all(e.logit[targets != e.assigned] < 0)
    # one fixed target for all rows
    e2 = m.explain(X, target=2, beta=0.7)
    R2, _ = ref_explain(X, U, L, gamma, m.pool_stiffness, np.full(len(X), 2), 0.7, m.epsilon)
    assert relative_error(e2.relevance, R2) < 1e-9


def test_logits_distances_and_beta_heuristic_match_reference():
    U, L, X = random_model(6, k=4)
    m = nx.NeuralizedKernelKMeans(U, L, 0.4)
    S = np.array([ref_soft_min_distances(x, U, L, 0.4) for x in X])
    assert relative_error(m.soft_min_distances(X), S) < 1e-12
    F = np.array([[ref_logit(x, U, L, 0.4, c) for c in range(4)] for x in X])
    assert relative_error(m.logits(X), F) < 1e-10
    assert np.all((m.logits(X) > 0).sum(1) == 1)
    assert m.beta_heuristic(X) == pytest.approx(ref_beta_heuristic(X, U, L, 0.4), rel=1e-10)
    e = m.explain(X)
    assert e.beta == pytest.approx(ref_beta_heuristic(X, U, L, 0.4), rel=1e-10)


@pytest.mark.parametrize("name,k", [("wine", 3), ("breast_cancer", 2), ("digits", 5)])
def test_sklearn_datasets_against_reference(name, k):
    X = sklearn_dataset(name)
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    rng = np.random.default_rng(0)
    # support: a random subset labelled by a coarse partition along the first principal axis
    support = rng.choice(len(X), size=8 * k, replace=False)
    axis = np.linalg.svd(X - X.mean(0), full_matrices=False)[2][0]
    score = X[support] @ axis
    L = np.searchsorted(np.quantile(score, np.linspace(0, 1, k + 1)[1:-1]), score)
    U = X[support]
    gamma = nx.kernel_kmeans.median_heuristic_gamma(X)
    m = nx.NeuralizedKernelKMeans(U, L, gamma)
    Xs = X[rng.choice(len(X), size=6, replace=False)]
    beta = m.beta_heuristic(X)
    for target in (None, k - 1):
        e = m.explain(Xs, target=target, beta=beta)
        targets = e.assigned if target is None else np.full(len(Xs), target)
        R, f = ref_explain(Xs, U, L, gamma, gamma, targets, beta, m.epsilon)
        assert relative_error(e.logit, f) < 1e-9
        assert relative_error(e.relevance, R) < 1e-9
        assert_conserves(e, 1e-9)
        e32 = m.explain(Xs.astype(np.float32), target=target, beta=beta)
        assert relative_error(e32.relevance, R) < 1e-4
        assert_conserves(e32, 1e-4)


# --- invariants and limits -------------------------------------------------------------

def test_conservation_many_points_both_dtypes():
    X, centers = blobs(3000, 6, 4, seed=1)
    rng = np.random.default_rng(1)
    L = np.repeat(np.arange(4), 25)
    U = centers[L] + rng.normal(size=(100, 6))
    m = nx.NeuralizedKernelKMeans(U, L, 0.1)
    t = rng.integers(4, size=len(X))
    for dtype, tol in ((np.float64, 1e-9), (np.float32, 1e-4)):
        for target in (None, t):
            assert_conserves(m.explain(X.astype(dtype), target=target), tol)


def test_large_gamma_tends_to_nearest_neighbour():
    U, L, X = random_model(7, n_support=30, k=4)
    X = np.vstack([X, np.random.default_rng(7).normal(scale=3, size=(200, 5))])
    nearest = L[np.argmin(((X[:, None, :] - U[None]) ** 2).sum(-1), axis=1)]
    m = nx.NeuralizedKernelKMeans(U, L, 1e4)
    np.testing.assert_array_equal(m.predict(X), nearest)
    # S_k tends to the squared distance to the nearest member of k
    d_min = np.array([[((x - U[L == k]) ** 2).sum(1).min() for k in range(4)] for x in X])
    np.testing.assert_allclose(m.soft_min_distances(X), d_min, atol=1e-3)
    assert_conserves(m.explain(X, beta=1.0), 1e-9)


def test_one_support_vector_per_cluster_is_kmeans():
    X, C = blobs(500, 7, 5, seed=3)
    C = C + np.random.default_rng(3).normal(size=C.shape)
    km = nx.NeuralizedKMeans(C)
    t = np.random.default_rng(4).integers(5, size=len(X))
    for gamma in (0.01, 1.0, 50.0):
        kk = nx.NeuralizedKernelKMeans(C, np.arange(5), gamma, pool_stiffness=3.0)
        np.testing.assert_array_equal(kk.predict(X), km.predict(X))
        np.testing.assert_allclose(kk.logits(X), km.logits(X), rtol=1e-12, atol=1e-12)
        assert kk.beta_heuristic(X) == pytest.approx(km.beta_heuristic(X), rel=1e-12)
        for target in (None, t):
            a, b = kk.explain(X, target=target, beta=0.3), km.explain(X, target=target, beta=0.3)
            np.testing.assert_allclose(a.relevance, b.relevance, rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(a.assigned, b.assigned)


def test_permuting_support_vectors_changes_nothing():
    U, L, X = random_model(8, n_support=20)
    m = nx.NeuralizedKernelKMeans(U, L, 0.3)
    p = np.random.default_rng(8).permutation(len(U))
    mp = nx.NeuralizedKernelKMeans(U[p], L[p], 0.3)
    np.testing.assert_allclose(mp.explain(X, beta=0.5).relevance, m.explain(X, beta=0.5).relevance,
                               rtol=1e-11, atol=1e-11)


def test_translation_invariance_float32_far_from_origin():
    U, L, X = random_model(9)
    m = nx.NeuralizedKernelKMeans(U, L, 0.3)
    R, f = ref_explain(X, U, L, 0.3, 0.3, m.predict(X), 0.5, m.epsilon)
    offset = 1e4
    Xf = (X + offset).astype(np.float32)
    mf = nx.NeuralizedKernelKMeans(U + offset, L, 0.3)
    Rf, _ = ref_explain(Xf.astype(np.float64), U + offset, L, 0.3, 0.3, mf.predict(Xf), 0.5, mf.epsilon)
    e = mf.explain(Xf, beta=0.5)
    assert relative_error(e.relevance, Rf) < 1e-4
    assert relative_error(e.relevance, R) < 1e-2  # the float32 rounding of X itself


def test_duplicate_support_vectors_across_clusters_contribute_nothing():
    U, L, X = random_model(10, n_support=10)
    U = np.vstack([U, U[L == 0][:1]])  # a copy of a member of cluster 0 in cluster 1
    L = np.append(L, 1)
    m = nx.NeuralizedKernelKMeans(U, L, 0.3)
    e = m.explain(X, beta=0.5)
    R, f = ref_explain(X, U, L, 0.3, 0.3, e.assigned, 0.5, m.epsilon)
    assert np.isfinite(e.relevance).all()
    assert relative_error(e.relevance, R) < 1e-9


def test_symmetric_tie_goes_to_lowest_index():
    U = np.array([[-1.0, 0.0], [-1.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    L = np.array([0, 0, 1, 1])
    m = nx.NeuralizedKernelKMeans(U, L, 0.7)
    X = np.array([[0.0, 0.3], [0.0, -2.0]])
    np.testing.assert_array_equal(m.predict(X), [0, 0])
    e = m.explain(X, beta=1.0)
    np.testing.assert_array_equal(e.logit, 0.0)
    np.testing.assert_array_equal(e.relevance, 0.0)


def test_identical_across_thread_counts():
    X, centers = blobs(3000, 5, 4, seed=2)  # several blocks of rows
    L = np.repeat(np.arange(4), 10)
    U = centers[L] + np.random.default_rng(2).normal(size=(40, 5))
    m = nx.NeuralizedKernelKMeans(U, L, 0.2, 0.5)
    assert nx.kernel_kmeans._core.KernelKMeansCore.block_rows(5, 40) < len(X) / 2
    t = np.random.default_rng(0).integers(4, size=len(X))
    a = m.explain(X, target=t, beta=0.3, n_threads=1)
    b = m.explain(X, target=t, beta=0.3, n_threads=2)
    np.testing.assert_array_equal(a.relevance, b.relevance)
    np.testing.assert_array_equal(a.logit, b.logit)
    np.testing.assert_array_equal(m.logits(X, n_threads=1), m.logits(X, n_threads=2))


def test_leave_one_out_distances():
    U, L, X = random_model(11, n_support=9)
    m = nx.NeuralizedKernelKMeans(U, L, 0.5)
    exclude = np.array([0, 5, -1, 8] + [-1] * (len(X) - 4))
    assigned, S = m._leave_one_out(X, exclude)
    for x, j, s, a in zip(X, exclude, S, assigned):
        keep = np.arange(len(U)) != j
        expected = ref_soft_min_distances(x, U[keep], L[keep], 0.5)
        np.testing.assert_allclose(s, expected, rtol=1e-12)
        assert a == np.argmin(expected)
    # a cluster left without members is at infinite distance
    m2 = nx.NeuralizedKernelKMeans(U[:3], [0, 1, 2], 0.5)
    _, S2 = m2._leave_one_out(U[:3], np.arange(3))
    assert np.all(np.isinf(np.diag(S2))) and np.isfinite(S2[~np.eye(3, dtype=bool)]).all()


# --- API -------------------------------------------------------------------------------

def test_out_pickle_repr_and_dataframe_names():
    U, L, X = random_model(12)
    m = nx.NeuralizedKernelKMeans(U, L, 0.3, eps=1e-10)
    out = np.empty_like(X)
    e = m.explain(X, beta=0.4, out=out)
    assert e.relevance is out
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.eps == 1e-10 and m2.gamma == 0.3
    np.testing.assert_array_equal(m2.explain(X, beta=0.4).relevance, out)
    assert "n_support=14" in repr(m) and m.n_clusters == 3 and m.cluster_sizes.sum() == 14
    assert nx.neuralize(m) is m
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    assert list(m.explain(df, beta=0.4).feature_names) == list(df.columns)


def test_empty_input():
    m = nx.NeuralizedKernelKMeans(GOLDEN_U, GOLDEN_L, 0.5)
    e = m.explain(np.empty((0, 2)))
    assert e.relevance.shape == (0, 2) and e.logit.shape == (0,)
    assert m.logits(np.empty((0, 2), np.float32)).shape == (0, 3)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(labels=[0, 0, 1, 1]), ValueError, "labels has 4 entries, but there are 5 support vectors"),
    (dict(labels=[[0, 0, 1, 1, 2]]), ValueError, "labels must be 1-D"),
    (dict(labels=[0, 0, 2, 2, 3]), ValueError, "cluster 1 has no support vector"),
    (dict(labels=[0, 0, 0, 0, 0]), ValueError, "at least 2 clusters"),
    (dict(labels=[0, 0, 1, -1, 2]), ValueError, r"labels\[3\]=-1 is not a cluster index"),
    (dict(labels=[0.0, 0, 1, 1, 2]), TypeError, "labels must hold integers"),
    (dict(gamma=0.0), ValueError, "gamma=0.0 must be a finite number > 0"),
    (dict(gamma=-1), ValueError, "gamma=-1 must be"),
    (dict(gamma=np.inf), ValueError, "gamma=inf must be"),
    (dict(gamma=np.nan), ValueError, "gamma=nan must be"),
    (dict(gamma="auto"), TypeError, "gamma must be a real number"),
    (dict(pool_stiffness=0), ValueError, "pool_stiffness=0 must be"),
    (dict(pool_stiffness=np.inf), ValueError, "pool_stiffness=inf must be"),
    (dict(pool_stiffness=-np.nan), ValueError, "pool_stiffness=nan must be"),
    (dict(support_vectors=[[0, 0], [1, np.nan], [4, 0], [4, 1], [0, 3]]), ValueError, "NaN or infinity"),
    (dict(support_vectors=[[0, 0]], labels=[0]), ValueError, "at least 2 rows"),
    (dict(eps=-1.0), ValueError, "eps=-1.0 must be"),
])
def test_bad_model_arguments(kwargs, exc, match):
    args = dict(support_vectors=GOLDEN_U, labels=GOLDEN_L, gamma=0.5, pool_stiffness=None)
    eps = kwargs.pop("eps", 1e-12)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        nx.NeuralizedKernelKMeans(**args, eps=eps)


def test_bad_explain_arguments():
    m = nx.NeuralizedKernelKMeans(GOLDEN_U, GOLDEN_L, 0.5)
    with pytest.raises(ValueError, match="X has 3 features, but the model has 2"):
        m.explain(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"NaN or infinity \(first at row 1\)"):
        m.explain(np.array([[0.0, 0.0], [np.inf, 0.0]]), beta=1.0)
    with pytest.raises(ValueError, match="target=3 is out of range for 3 clusters"):
        m.explain(GOLDEN_X, target=3)
    with pytest.raises(ValueError, match="beta=0 must be"):
        m.explain(GOLDEN_X, beta=0)
    with pytest.raises(ValueError, match="out must have shape"):
        m.explain(GOLDEN_X, out=np.empty((3, 2)))
    with pytest.raises(ValueError, match="n_threads=0 must be >= 1"):
        m.predict(GOLDEN_X, n_threads=0)
