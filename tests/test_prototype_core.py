"""One prototype model for both neuralized clusterings (issue 12, item 1).

k-means is kernel k-means with one support vector per cluster: both models
are one compiled ``_core.PrototypeCore``, which runs the fused k-means kernel
whenever every cluster has one prototype -- also for a kernel k-means model
with singleton clusters -- and the pooled evaluator otherwise (and for the
soft-min distances and leave-one-out). These tests pin that the two
evaluators agree where both apply, that the fused one serves singleton
kernel models with their own prototype order, and that the Python formulas
(gradients, competitor breakdowns) are one set.
"""

from types import SimpleNamespace

import numpy as np
import pytest

import neon_ext as nx
from neon_ext import _core
from neon_ext.models._ops import model_ops
from test_kmeans_kernels import run as run_core

GOLDEN_C = np.array([[0, 0], [4, 0], [0, 3]], dtype=float)
GOLDEN_X = np.array([[1, 0.5], [3, 1], [-0.5, 2.5], [2, 1.5]])
GOLDEN_LOGITS = [[6, -8, -6], [-8, 8, -11], [-6, -26, 6], [0, 0, 0]]
GOLDEN_R_ASSIGNED = [
    [1.613648528220, 4.386351471779],
    [7.601980675331, 0.398019324668],
    [0.000209528625, 5.999790471374],
    [0, 0],
]


def singleton_problem(seed, K=9, D=6, n=400):
    """Prototypes given in a shuffled cluster order, rows around them."""
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(K, D)) * 3.0
    perm = rng.permutation(K)  # prototype j belongs to cluster perm[j]
    U = np.empty_like(C)
    U[np.argsort(perm)] = C  # so that U[j] = C[perm[j]]
    assert np.array_equal(U, C[perm])
    X = C[rng.integers(K, size=n)] + rng.normal(size=(n, D)) * 2.0
    return C, U, perm, X


def core_outputs(core, X, targets, beta):
    """All outputs of one call of a compiled core (test_kmeans_kernels' helper)."""
    return run_core(SimpleNamespace(_core=core, n_clusters=core.n_clusters), X, "auto", beta, targets)


def row_scale(R, logit):
    return np.maximum(np.abs(R).max(axis=1), np.abs(logit))[:, None]


def test_both_models_are_one_compiled_core():
    km = nx.NeuralizedKMeans(GOLDEN_C)
    pooled = nx.NeuralizedKernelKMeans(GOLDEN_C[[0, 0, 1, 2]] + [[0, 0], [0.5, 0], [0, 0], [0, 0]], [0, 0, 1, 2], 0.5)
    single = nx.NeuralizedKernelKMeans(GOLDEN_C, [2, 0, 1], 0.5)
    for model in (km, pooled, single):
        assert isinstance(model._core, _core.PrototypeCore)
    assert km._core.fused and single._core.fused and not pooled._core.fused
    assert km._core.gamma is None and single._core.gamma == 0.5
    assert km._core.n_prototypes == 3 and pooled._core.n_prototypes == 4
    # k-means keeps no second copy of its centroids: the core's, viewed read-only.
    assert not km.centroids.flags.writeable and km.centroids.base is not None
    np.testing.assert_array_equal(single._core.prototypes, GOLDEN_C)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1])
def test_fused_kernel_equals_pooled_evaluator_on_singleton_clusters(seed, dtype):
    """A kernel k-means model with one support vector per cluster runs the fused
    kernel; the pooled evaluator (fused=False) computes the same to rounding."""
    _, U, perm, X = singleton_problem(seed)
    X = X.astype(dtype)
    gamma, pool = 0.37, 1.9  # irrelevant for clusters of one: S_k is the distance itself
    fused = _core.PrototypeCore(U, perm, gamma=gamma, pool_stiffness=pool, eps=1e-12)
    pooled = _core.PrototypeCore(U, perm, gamma=gamma, pool_stiffness=pool, eps=1e-12, fused=False)
    assert fused.fused and not pooled.fused
    targets = np.random.default_rng(seed).integers(len(U), size=len(X))
    for t in (None, targets):
        a, b = core_outputs(fused, X, t, 0.4), core_outputs(pooled, X, t, 0.4)
        np.testing.assert_array_equal(a["assigned"], b["assigned"])
        tol = 1e-12 if dtype == np.float64 else 1e-5
        scale = row_scale(b["relevance"].astype(np.float64), b["logit"].astype(np.float64))
        assert np.all(np.abs(a["relevance"] - b["relevance"]) <= tol * scale)
        assert np.all(np.abs(a["logits_all"] - b["logits_all"]) <= tol * scale)


def test_singleton_kernel_model_gives_the_kmeans_golden_values():
    # The spec's k-means golden values (NEON_SPEC.md section 4) from a kernel
    # k-means model whose support vectors are the centroids, given out of order.
    perm = np.array([2, 0, 1])
    U = GOLDEN_C[perm]
    m = nx.NeuralizedKernelKMeans(U, perm, gamma=3.0, pool_stiffness=0.1)
    np.testing.assert_allclose(m.logits(GOLDEN_X), GOLDEN_LOGITS, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(m.predict(GOLDEN_X), [0, 1, 2, 0])
    assert m.beta_heuristic(GOLDEN_X) == pytest.approx(0.2, abs=1e-12)
    e = m.explain(GOLDEN_X, beta=0.5)
    np.testing.assert_allclose(e.relevance, GOLDEN_R_ASSIGNED, atol=1e-11, rtol=0)
    e32 = m.explain(GOLDEN_X.astype(np.float32), beta=0.5)
    np.testing.assert_allclose(e32.relevance, GOLDEN_R_ASSIGNED, atol=1e-5, rtol=0)


def test_twin_rule_is_the_same_for_both_models():
    # The duplicated-centroid case of issue 12: the target's twin is absorbed,
    # so the relevance sums to the logit -0.4 (was -0.239), for k-means and for
    # the same prototypes as a kernel k-means model (one twin detection).
    C = np.array([[0.0, 0], [0, 0], [1, 1]])
    X = np.array([[0.6, 0.6]])
    km = nx.NeuralizedKMeans(C).explain(X, target=1, beta=1.0)
    for fused in (True, False):
        core = _core.PrototypeCore(C[[2, 1, 0]], [2, 1, 0], gamma=1.0, eps=1e-12, fused=fused)
        out = core_outputs(core, X, np.array([1]), 1.0)
        np.testing.assert_allclose(out["relevance"], km.relevance, atol=1e-15, rtol=1e-13)
        assert out["relevance"].sum() == pytest.approx(-0.4, abs=1e-15)


def test_pipeline_coefficients_follow_the_callers_prototype_order():
    # Through an affine map the core exports midpoint-rule coefficients in the
    # caller's prototype order; a singleton kernel model given out of order
    # must explain exactly as k-means on the ordered centroids.
    C, U, perm, X = singleton_problem(3, K=6, D=4, n=200)
    rng = np.random.default_rng(3)
    A = rng.normal(size=(4, 5))
    X_in = rng.normal(size=(200, 5)) * 2.0
    km = nx.NeuralizedPipeline(nx.NeuralizedKMeans(C), A, np.zeros(4))
    kk = nx.NeuralizedPipeline(nx.NeuralizedKernelKMeans(U, perm, gamma=0.7), A, np.zeros(4))
    t = rng.integers(6, size=200)
    a, b = km.explain(X_in, target=t, beta=0.3), kk.explain(X_in, target=t, beta=0.3)
    np.testing.assert_array_equal(a.assigned, b.assigned)
    np.testing.assert_allclose(b.relevance, a.relevance, rtol=0, atol=1e-12 * np.abs(a.relevance).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_singleton_model_distances_and_leave_one_out_run_on_the_pooled_evaluator(dtype):
    C, U, perm, X = singleton_problem(4, K=5, D=3, n=50)
    m = nx.NeuralizedKernelKMeans(U, perm, gamma=2.0)
    X = X.astype(dtype)
    S = m.soft_min_distances(X)  # S_k = ||x - c_k||^2 for one member
    expected = ((X.astype(np.float64)[:, None, :] - C[None]) ** 2).sum(-1)
    np.testing.assert_allclose(S, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
    # Leaving out the only member of a cluster: +inf, and the row goes elsewhere.
    exclude = np.full(len(X), -1)
    exclude[:5] = np.arange(5)  # caller's order: support vector j is cluster perm[j]
    assigned, dist = m._leave_one_out(X, exclude)
    assert np.all(np.isinf(dist[np.arange(5), perm]))
    assert np.all(assigned[:5] != perm)
    # distances together with the fused outputs in one call: each from its evaluator.
    n = len(X)
    logit, rel, dist2 = np.empty(n, dtype), np.empty(X.shape, dtype), np.empty((n, 5), dtype)
    m._core.evaluate(X, None, -1, 0.5, None, logit, None, rel, 1, distances=dist2)
    np.testing.assert_array_equal(dist2, S)
    np.testing.assert_array_equal(rel, m.explain(X, beta=0.5).relevance)


def test_one_python_formula_set_for_both_models():
    C, U, perm, X = singleton_problem(5, K=7, D=4, n=60)
    km, kk = nx.NeuralizedKMeans(C), nx.NeuralizedKernelKMeans(U, perm, gamma=0.8, pool_stiffness=3.0)
    t = np.random.default_rng(5).integers(7, size=len(X))
    a, b = km.explain_competitors(X, target=t, beta=0.2), kk.explain_competitors(X, target=t, beta=0.2)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-12 * np.abs(a).max())
    np.testing.assert_allclose(a.sum(axis=1), km.explain(X, target=t, beta=0.2).relevance, atol=1e-10)
    ga, gb = model_ops(km).geometry(X, t), model_ops(kk).geometry(X, t)
    for x, y in zip(ga, gb):
        np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-12)
    # A cluster of one prototype is its own competitor point, bit for bit.
    _, _, point = model_ops(km).geometry(X, t)
    assert all((point[r] == C).all(axis=1).any() for r in range(len(X)))


def test_bad_arguments_are_refused_clearly():
    U = np.array([[0.0, 0], [1, 0], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match="gamma .* is needed when a cluster has several"):
        _core.PrototypeCore(U, [0, 0, 1, 1], eps=1e-12)
    with pytest.raises(ValueError, match="labels must be 1-D with one entry per prototype"):
        _core.PrototypeCore(U, [0, 1], gamma=1.0, eps=1e-12)
    with pytest.raises(ValueError, match="gamma must be finite and > 0"):
        _core.PrototypeCore(U, [0, 1, 2, 3], gamma=-1.0, eps=1e-12)
    with pytest.raises(ValueError, match="k-means needs at least 2 clusters"):
        _core.PrototypeCore(U[:1], eps=1e-12)
    with pytest.raises(ValueError, match="cluster 1 has no support vector"):
        _core.PrototypeCore(U, [0, 2, 2, 0], gamma=1.0, eps=1e-12)
    core = _core.PrototypeCore(U, eps=1e-12)
    X = np.zeros((2, 2))
    with pytest.raises(ValueError, match="relevance is not defined with left-out"):
        core.evaluate(X, None, -1, 1.0, None, None, None, np.empty((2, 2)), 1, exclude=np.array([0, -1]))
    with pytest.raises(ValueError, match="X has the wrong number of features"):
        core.evaluate(np.zeros((2, 3)), None, -1, 1.0, None, None, None, None, 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_singleton_kernel_model_is_bitwise_identical_across_thread_counts(dtype):
    C, U, perm, _ = singleton_problem(6, K=5, D=7)
    m = nx.NeuralizedKernelKMeans(U, perm, gamma=1.3)
    rng = np.random.default_rng(6)
    X = (C[rng.integers(5, size=5000)] + rng.normal(size=(5000, 7))).astype(dtype)
    assert m._core.block_rows(7) < len(X) / 2  # several blocks
    pipe = nx.NeuralizedPipeline(m, rng.normal(size=(7, 9)), np.zeros(7))
    X_in = rng.normal(size=(5000, 9)).astype(dtype)
    for model, rows in ((m, X), (pipe, X_in)):
        a, b = model.explain(rows, beta=0.3, n_threads=1), model.explain(rows, beta=0.3, n_threads=2)
        np.testing.assert_array_equal(a.relevance, b.relevance)
        np.testing.assert_array_equal(a.logit, b.logit)
