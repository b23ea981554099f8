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
GOLDEN_LOGITS = [
    [6.56185960724, -9.694297946274, -6.56185960724],
    [-4.683409861815, 4.683409861815, -10.117563801571],
    [-5.11255234889, -27.339803432375, 5.11255234889],
    [1.496871334913, -1.496871334913, -3.216532194846],
]
GOLDEN_R = {
    0.5: [
        [1.468699930312, 5.093159676927],
        [5.959882165255, -1.276472303442],
        [0.578772722534, 4.533779626355],
        [0.582761315237, 0.914110019675],
    ],
    2.0: [
        [1.618117122619, 4.94374248462],
        [5.36039481927, -0.676984957457],
        [0.811727375604, 4.300824973285],
        [0.471221132826, 1.025650202087],
    ],
}


# --- the slow reference: the four layers and their rules, literally ------------------


def lme(values, s):
    """LME^s v = (1/s) log(mean exp(s v)), with the max of s v subtracted."""
    t = s * np.asarray(values, dtype=float)
    top = t.max()
    return (top + np.log(np.mean(np.exp(t - top)))) / s


def ref_soft_min_distances(x, U, L, gamma):
    return np.array(
        [lme([np.sum((x - U[j]) ** 2) for j in np.flatnonzero(L == k)], -gamma) for k in range(L.max() + 1)]
    )


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
    features (float64 loops), with the absorbing stabilizer pool by pool: a
    pair with |h_ijk| <= eps leaves the layer-2 pool of j (the other i take
    its share), a member j with no kept pair leaves the layer-3 pool of its
    cluster, a competitor with no kept member leaves the layer-4 soft-min."""
    x = np.asarray(x, dtype=float)
    h1, h2, h3 = ref_layers(x, U, L, gamma, c)
    f = min(h3.values())
    Cc = np.flatnonzero(L == c)
    kept_i = {j: [i for i in Cc if abs(h1[i, j]) > eps] for (_, j) in h1}
    kept_j = {k: [j for j in np.flatnonzero(L == k) if kept_i[j]] for k in h3}
    comps = [k for k in h3 if kept_j[k]]
    R = np.zeros(len(x))
    if not comps:
        return R, f
    lo = min(h3[k] for k in comps)
    top = {k: np.exp(-beta * (h3[k] - lo)) for k in comps}
    for k in comps:
        Rk = f * top[k] / sum(top.values())
        lo = min(h2[j] for j in kept_j[k])
        w3 = {j: np.exp(-pool * (h2[j] - lo)) for j in kept_j[k]}
        for j in kept_j[k]:
            Rjk = Rk * w3[j] / sum(w3.values())
            hi = max(h1[i, j] for i in kept_i[j])
            w2 = {i: np.exp(pool * (h1[i, j] - hi)) for i in kept_i[j]}
            for i in kept_i[j]:
                Rijk = Rjk * w2[i] / sum(w2.values())
                for d in range(len(x)):
                    R[d] += Rijk * ((x[d] - U[j, d]) ** 2 - (x[d] - U[i, d]) ** 2) / h1[i, j]
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


@pytest.mark.parametrize(
    "seed,gamma,pool,beta",
    [
        (0, 0.5, None, 0.3),
        (1, 0.05, None, 2.0),
        (2, 2.0, 0.3, 0.05),
        (3, 0.2, 5.0, 1.0),
    ],
)
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
    np.testing.assert_allclose(
        mp.explain(X, beta=0.5).relevance, m.explain(X, beta=0.5).relevance, rtol=1e-11, atol=1e-11
    )


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
    assert m._core.block_rows(5) < len(X) / 2
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


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
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
    ],
)
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


# --- from_labels: explaining any clustering ---------------------------------------------


def test_from_labels_dbscan_noise_and_fidelity():
    datasets = pytest.importorskip("sklearn.datasets")
    cluster = pytest.importorskip("sklearn.cluster")
    X, _ = datasets.make_moons(300, noise=0.06, random_state=1)
    X = np.vstack([X, [[3.0, 3.0], [-3.0, 2.5]]])  # two outliers DBSCAN calls noise
    labels = cluster.DBSCAN(eps=0.15, min_samples=5).fit_predict(X)
    assert (labels == -1).sum() >= 2 and labels.max() >= 1
    m = nx.NeuralizedKernelKMeans.from_labels(X, labels, gamma=10.0)
    assert m.n_noise_ == int((labels == -1).sum())
    np.testing.assert_array_equal(m.support_indices_, np.flatnonzero(labels >= 0))
    np.testing.assert_array_equal(m.labels, labels[labels >= 0])
    labelled = labels >= 0
    assert m.fidelity_ == pytest.approx(np.mean(m.predict(X[labelled]) == labels[labelled]))
    assert m.fidelity_ == 1.0 and m.loo_fidelity_ >= 0.99
    e = m.explain(X)  # noise points are explained too (as assigned by the model)
    assert_conserves(e, 1e-9)
    # "auto" is the median heuristic on the labelled points, here too wide for the moons
    auto = nx.NeuralizedKernelKMeans.from_labels(X, labels)
    assert auto.gamma == pytest.approx(nx.kernel_kmeans.median_heuristic_gamma(X[labelled]))
    assert 0.5 <= auto.loo_fidelity_ < 1.0


def test_from_labels_spectral_clustering():
    datasets = pytest.importorskip("sklearn.datasets")
    cluster = pytest.importorskip("sklearn.cluster")
    X, truth = datasets.make_circles(200, noise=0.03, factor=0.4, random_state=0)
    labels = cluster.SpectralClustering(2, affinity="rbf", gamma=30.0, random_state=0).fit_predict(X)
    assert same_partition(labels, truth)  # the two rings, which k-means cannot find
    m = nx.NeuralizedKernelKMeans.from_labels(X, labels, gamma=20.0, max_support_per_cluster=40, random_state=3)
    assert m.n_noise_ == 0 and m.n_support == 80 and np.all(m.cluster_sizes == 40)
    assert m.loo_fidelity_ >= 0.95 and m.fidelity_ >= 0.95
    again = nx.NeuralizedKernelKMeans.from_labels(X, labels, gamma=20.0, max_support_per_cluster=40, random_state=3)
    np.testing.assert_array_equal(again.support_indices_, m.support_indices_)
    e = m.explain(X[:20], target=1)
    assert_conserves(e, 1e-9)


def test_from_labels_loo_fidelity_against_reference():
    U, L, X = random_model(13, n_support=16)
    model_labels = nx.NeuralizedKernelKMeans(U, L, 0.2).predict(U)
    m = nx.NeuralizedKernelKMeans.from_labels(U, model_labels, gamma=0.2)
    loo = []
    for n in range(len(U)):
        keep = np.arange(len(U)) != n
        loo.append(np.argmin(ref_soft_min_distances(U[n], U[keep], model_labels[keep], 0.2)))
    assert m.loo_fidelity_ == pytest.approx(np.mean(np.array(loo) == model_labels))


@pytest.mark.parametrize(
    "labels,exc,match",
    [
        ([0, 1, 1], ValueError, "labels has 3 entries, but there are 4 points"),
        ([0, 1, -2, 1], ValueError, r"labels\[2\]=-2 is not a cluster index >= -1"),
        ([0, 2, 2, 0], ValueError, "cluster 1 has no point"),
        ([-1, -1, 0, 0], ValueError, "at least 2 clusters, got 1"),
        ([-1, -1, -1, -1], ValueError, "at least 2 clusters, got 0"),
        (["a", "b", "a", "b"], TypeError, "labels must hold integers"),
    ],
)
def test_from_labels_bad_labels(labels, exc, match):
    X = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [6.0, 5.0]])
    with pytest.raises(exc, match=match):
        nx.NeuralizedKernelKMeans.from_labels(X, labels)


def test_median_heuristic_gamma_definition():
    X, _ = blobs(300, 3, 3, seed=5)
    sq = ((X[:, None, :] - X[None]) ** 2).sum(-1)[np.triu_indices(300, 1)]
    assert nx.kernel_kmeans.median_heuristic_gamma(X) == pytest.approx(1 / np.median(sq), rel=1e-12)
    # mostly duplicates: the median over non-zero distances
    D = np.vstack([np.zeros((10, 2)), [[1.0, 0.0], [0.0, 2.0]]])
    # non-zero squared distances: 10 x 1, 10 x 4, 1 x 5 -> median 4
    assert nx.kernel_kmeans.median_heuristic_gamma(D) == pytest.approx(1 / 4.0)
    big, _ = blobs(5000, 2, 2, seed=6)
    g1 = nx.kernel_kmeans.median_heuristic_gamma(big, random_state=1)
    assert g1 == nx.kernel_kmeans.median_heuristic_gamma(big, random_state=1)  # sampled, reproducible
    with pytest.raises(ValueError, match="all points are identical"):
        nx.kernel_kmeans.median_heuristic_gamma(np.ones((5, 2)))
    with pytest.raises(ValueError, match="at least 2 points"):
        nx.kernel_kmeans.median_heuristic_gamma(np.ones((1, 2)))


# --- the KernelKMeans estimator ------------------------------------------------------------


def same_partition(a, b):
    """True when labelings a and b are equal up to renaming the clusters."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_fit_recovers_well_separated_blobs_and_is_reproducible():
    X, centers = blobs(600, 4, 5, seed=0, spread=8.0)
    truth = np.argmin(((X[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
    kk = nx.KernelKMeans(5, random_state=0).fit(X)
    assert same_partition(kk.labels_, truth)
    assert kk.converged_ and 1 <= kk.n_iter_ <= 100 and kk.fidelity_ == 1.0
    assert kk.gamma_ == pytest.approx(nx.kernel_kmeans.median_heuristic_gamma(X))  # n < 2000: no sampling
    again = nx.KernelKMeans(5, random_state=0, n_threads=1).fit(X)
    np.testing.assert_array_equal(again.labels_, kk.labels_)
    np.testing.assert_array_equal(again.support_vectors_, kk.support_vectors_)
    np.testing.assert_array_equal(kk.fit_predict(X), kk.labels_)
    np.testing.assert_array_equal(kk.predict(X), kk.labels_)


def test_fit_is_a_leave_one_out_fixed_point():
    datasets = pytest.importorskip("sklearn.datasets")
    X, _ = datasets.make_moons(120, noise=0.08, random_state=2)
    kk = nx.KernelKMeans(2, gamma=5.0, random_state=1).fit(X)
    assert kk.converged_ and kk.n_iter_ >= 2  # the sweeps moved points after k-means
    L = kk.labels_
    for n in range(len(X)):
        keep = np.arange(len(X)) != n
        S = ref_soft_min_distances(X[n], X[keep], L[keep], 5.0)
        if np.sum(L == L[n]) > 1:
            assert np.argmin(S) == L[n], n


def test_fit_with_support_subsample():
    X, _ = blobs(900, 3, 3, seed=4, spread=6.0)
    kk = nx.KernelKMeans(3, max_support_per_cluster=50, random_state=7).fit(X)
    sizes = np.bincount(kk.labels_)
    np.testing.assert_array_equal(np.bincount(kk.support_labels_), np.minimum(sizes, 50))
    np.testing.assert_array_equal(kk.support_vectors_, X[kk.support_indices_])
    np.testing.assert_array_equal(kk.support_labels_, kk.labels_[kk.support_indices_])
    assert kk.fidelity_ == pytest.approx(np.mean(kk.predict(X) == kk.labels_))
    assert kk.fidelity_ > 0.95
    other = nx.KernelKMeans(3, max_support_per_cluster=50, random_state=8).fit(X)
    assert not np.array_equal(other.support_indices_, kk.support_indices_)
    m = kk.neuralize()
    assert isinstance(m, nx.NeuralizedKernelKMeans) and nx.neuralize(kk) is m
    assert m.n_support == 150 and m.gamma == kk.gamma_
    e = kk.explain(X[:50])
    assert_conserves(e, 1e-9)
    assert e.beta == kk.beta_ == pytest.approx(m.beta_heuristic(X), rel=1e-12)  # fixed at fit time
    np.testing.assert_array_equal(e.relevance, m.explain(X[:50], beta=kk.beta_).relevance)
    np.testing.assert_array_equal(kk.transform(X[:5]), m.soft_min_distances(X[:5]))
    assert pickle.loads(pickle.dumps(kk)).predict(X[:30]).tolist() == kk.predict(X[:30]).tolist()


def test_fit_on_max_samples_labels_every_row():
    X, centers = blobs(3000, 4, 4, seed=11, spread=8.0)
    kk = nx.KernelKMeans(4, max_samples=400, max_support_per_cluster=60, random_state=3).fit(X)
    s = kk.sample_indices_
    assert s.shape == (400,) and np.all(np.diff(s) > 0) and s[-1] < len(X)
    assert np.isin(kk.support_indices_, s).all()
    np.testing.assert_array_equal(kk.support_vectors_, X[kk.support_indices_])
    # Rows outside the sample carry the fitted model's prediction; the
    # sample keeps its fitted labels.
    out = np.setdiff1d(np.arange(len(X)), s)
    np.testing.assert_array_equal(kk.labels_[out], kk.predict(X[out]))
    assert kk.fidelity_ == pytest.approx(np.mean(kk.predict(X[s]) == kk.labels_[s]))
    truth = np.argmin(((X[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
    assert same_partition(kk.labels_, truth)  # separated blobs: the subsample loses nothing
    # A fraction means the same; reproducible for a seed, another seed another sample.
    frac = nx.KernelKMeans(4, max_samples=400 / 3000, max_support_per_cluster=60, random_state=3).fit(X)
    np.testing.assert_array_equal(frac.labels_, kk.labels_)
    other = nx.KernelKMeans(4, max_samples=400, max_support_per_cluster=60, random_state=4).fit(X)
    assert not np.array_equal(other.sample_indices_, s)
    # max_samples >= n_samples, or None: every row, as before.
    full = nx.KernelKMeans(4, max_samples=5000, random_state=3).fit(X[:300])
    np.testing.assert_array_equal(full.labels_, nx.KernelKMeans(4, random_state=3).fit(X[:300]).labels_)
    np.testing.assert_array_equal(full.sample_indices_, np.arange(300))
    assert nx.KernelKMeans(4, max_samples=0.5).get_params()["max_samples"] == 0.5


def test_fit_float32_and_thread_counts():
    X, _ = blobs(1500, 5, 4, seed=5, dtype=np.float32)
    a = nx.KernelKMeans(4, gamma=0.05, random_state=0, n_threads=1).fit(X)
    b = nx.KernelKMeans(4, gamma=0.05, random_state=0, n_threads=2).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.support_vectors_.dtype == np.float64
    np.testing.assert_array_equal(a.explain(X[:100], n_threads=1).relevance, b.explain(X[:100], n_threads=2).relevance)


def test_reseed_empty_clusters():
    from neon_ext.kernel_kmeans_estimator import _reseed_empty_clusters

    labels = np.array([0, 0, 0, 2, 2, 4])
    badness = np.array([1.0, 5.0, 2.0, 7.0, 7.0, 9.0])  # point 5 is alone: not movable
    assert _reseed_empty_clusters(labels, badness, 5) == 2
    # cluster 1 takes the worst point of a cluster with >= 2 members (3, lowest of the tie);
    # then cluster 3 the worst remaining movable one (1)
    np.testing.assert_array_equal(labels, [0, 3, 0, 1, 2, 4])


def test_fit_with_fewer_distinct_points_than_clusters():
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 20, axis=0)
    kk = nx.KernelKMeans(3, gamma=1.0, random_state=0, max_iter=20).fit(X)
    assert set(kk.labels_) == {0, 1, 2}
    assert np.isfinite(kk.explain(X, beta=1.0).relevance).all()


def test_convergence_warning():
    datasets = pytest.importorskip("sklearn.datasets")
    X, _ = datasets.make_moons(120, noise=0.08, random_state=2)
    with pytest.warns(nx.ConvergenceWarning, match="did not converge in max_iter=1"):
        kk = nx.KernelKMeans(2, gamma=5.0, random_state=1, max_iter=1).fit(X)
    assert kk.n_iter_ == 1 and not kk.converged_


@pytest.mark.parametrize(
    "params,X,exc,match",
    [
        (dict(n_clusters=1), None, ValueError, "n_clusters=1 must be >= 2"),
        (dict(n_clusters=50), None, ValueError, "n_clusters=50 must be <= n_samples=40"),
        (dict(n_clusters=2.5), None, TypeError, "n_clusters must be an int"),
        (dict(max_iter=0), None, ValueError, "max_iter=0 must be >= 1"),
        (dict(gamma=0.0), None, ValueError, "gamma=0.0 must be a finite number > 0"),
        (dict(gamma="median"), None, ValueError, "gamma='median' must be a finite number > 0 or 'auto'"),
        (dict(gamma=np.inf), None, ValueError, "gamma=inf must be"),
        (dict(pool_stiffness=-1.0), None, ValueError, "pool_stiffness=-1.0 must be"),
        (dict(max_support_per_cluster=0), None, ValueError, "max_support_per_cluster=0 must be >= 1"),
        (dict(n_threads=0), None, ValueError, "n_threads=0 must be >= 1"),
        (dict(max_samples=1), None, ValueError, "max_samples=1 must be >= n_clusters=2"),
        (dict(max_samples=1.5), None, ValueError, r"max_samples=1.5 must be in \(0, 1\]"),
        (dict(max_samples=0.0), None, ValueError, r"max_samples=0.0 must be in \(0, 1\]"),
        (dict(max_samples="all"), None, TypeError, "max_samples must be None, an int or a float, got str"),
        (dict(max_samples=True), None, TypeError, "max_samples must be None, an int or a float, got bool"),
        (dict(), "nan", ValueError, r"X contains NaN or infinity \(first at row 3\)"),
        (dict(), "1d", ValueError, "X must be 2-D"),
    ],
)
def test_estimator_bad_input(params, X, exc, match):
    data, _ = blobs(40, 2, 2, seed=0)
    if X == "nan":
        data[3, 1] = np.nan
    elif X == "1d":
        data = data[:, 0]
    with pytest.raises(exc, match=match):
        nx.KernelKMeans(**{"n_clusters": 2, **params}).fit(data)


def test_not_fitted_and_estimator_protocol():
    kk = nx.KernelKMeans(3)
    for call in (kk.predict, kk.explain, kk.transform, kk.logits):
        with pytest.raises(nx.NotFittedError, match="KernelKMeans instance is not fitted"):
            call(np.zeros((2, 2)))
    with pytest.raises(AttributeError):
        kk.neuralize()
    assert repr(kk) == "KernelKMeans(n_clusters=3)"
    assert kk.get_params()["gamma"] == "auto"
    assert kk.set_params(gamma=0.5, max_support_per_cluster=10) is kk and kk.gamma == 0.5
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        kk.set_params(bogus=1)
    X, _ = blobs(60, 3, 3, seed=1, spread=6.0)
    kk.fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but KernelKMeans is expecting 3"):
        kk.predict(X[:, :2])
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    fitted = nx.KernelKMeans(3, random_state=0).fit(df)
    assert list(fitted.feature_names_in_) == ["a", "b", "c"]
    assert list(fitted.explain(df).feature_names) == ["a", "b", "c"]
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        fitted.predict(X)


def test_sklearn_clone_and_pipeline():
    base = pytest.importorskip("sklearn.base")
    kk = nx.KernelKMeans(4, gamma=0.2, max_support_per_cluster=7, random_state=3)
    clone = base.clone(kk)
    assert clone.get_params() == kk.get_params() and clone is not kk


def test_exact_ties_in_integer_data_are_absorbed_not_amplified():
    # Integer pixels give exact ties h_ijk = 0 between support vectors at equal
    # distance from x; the stabilizer must drop such pairs, not divide by eps.
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    X = digits.data[:90].astype(np.float64)
    U, L = X[:60], digits.target[:60] % 3
    m = nx.NeuralizedKernelKMeans(U, L, 1e-3)
    e = m.explain(X[60:], beta=0.05)
    ratio = np.abs(e.relevance).sum(1) / np.abs(e.logit)
    assert np.median(ratio) < 100, np.median(ratio)
    R, f = ref_explain(X[60:70], U, L, 1e-3, 1e-3, e.assigned[:10], 0.05, m.epsilon)
    np.testing.assert_allclose(e.relevance[:10], R, rtol=1e-7, atol=1e-7 * np.abs(R).max())


def test_large_models_spread_rows_over_threads_bitwise_identically():
    # Was: a compiled call held a single block of rows, so n_threads=2 ran on
    # one thread. A block is now bounded by work (few rows for large models)
    # and a call holds at least four blocks per thread.
    rng = np.random.default_rng(11)
    U = rng.normal(size=(2000, 16)).astype(np.float64)
    m = nx.NeuralizedKernelKMeans(U, np.arange(2000) % 8, gamma=0.05)
    block = m._block_rows(16)
    assert m._chunk_step(16, 2) >= 8 * block and block < 64
    X = rng.normal(size=(3 * block + 5, 16)).astype(np.float32)
    one = m.explain(X, beta=0.5, n_threads=1)
    for threads in (2, 3):
        other = m.explain(X, beta=0.5, n_threads=threads)
        np.testing.assert_array_equal(other.relevance, one.relevance)
        np.testing.assert_array_equal(other.logit, one.logit)
