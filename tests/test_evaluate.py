"""Feature-removal evaluation and baseline attributions (neon_ext.evaluate, neon_ext.baselines).

Every baseline is checked against its definition, recomputed here slowly in
float64 from the model's equations (NEON_SPEC.md): gradients against central
finite differences, occlusion by direct recomputation, Shapley sampling
against exact Shapley values from all D! orders.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import neon_ext as nx
from neon_ext import baselines as bl
from neon_ext import evaluate as ev

# -- slow float64 references ---------------------------------------------------------------


def kmeans_logit(C, x, c):
    """f_c(x) = min_{k != c} ||x - mu_k||^2 - ||x - mu_c||^2, one point, plain loops."""
    d = [float(np.sum((np.asarray(x, float) - C[k]) ** 2)) for k in range(len(C))]
    return min(d[k] - d[c] for k in range(len(C)) if k != c)


def kmeans_logits(C, X, targets):
    return np.array([kmeans_logit(C, x, c) for x, c in zip(X, targets)])


def exact_shapley(v, d):
    """Shapley values of the set function v (on boolean masks) from all d! orders."""
    phi = np.zeros(d)
    perms = list(itertools.permutations(range(d)))
    for order in perms:
        mask = np.zeros(d, dtype=bool)
        before = v(mask)
        for i in order:
            mask[i] = True
            after = v(mask)
            phi[i] += after - before
            before = after
    return phi / len(perms)


@pytest.fixture
def blobs():
    rng = np.random.default_rng(3)
    C = rng.normal(size=(4, 5)) * 3.0
    X = C[rng.integers(4, size=60)] + rng.normal(size=(60, 5))
    return nx.NeuralizedKMeans(C), C, X


# -- the synthetic case whose answer is known ------------------------------------------------


@pytest.fixture
def one_feature():
    """Three clusters that differ only in feature 2 of 5."""
    C = np.zeros((3, 5))
    C[:, 2] = [-4.0, 0.0, 4.0]
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    X = C[labels] + rng.normal(scale=[2.0, 2.0, 0.5, 2.0, 2.0], size=(30, 5))
    return nx.NeuralizedKMeans(C), X, labels


def test_one_feature_carries_all_relevance(one_feature):
    model, X, labels = one_feature
    assert np.array_equal(model.predict(X), labels)
    f = model.explain(X).logit
    for method in ("neon", "sensitivity", "gradient_x_input", "occlusion", "shapley"):
        R = (
            bl.attribute(model, X, method, reference="competitor")
            if method in ("occlusion", "shapley")
            else bl.attribute(model, X, method)
        )
        others = np.delete(R, 2, axis=1)
        np.testing.assert_allclose(others, 0.0, atol=1e-9, err_msg=method)
        if method != "gradient_x_input":  # x * grad has the sign of x_2 here (origin-dependent)
            assert np.all(R[:, 2] > 0), method
    np.testing.assert_allclose(bl.neon(model, X)[:, 2], f, rtol=1e-10)


def test_one_feature_removal_flips_assignment(one_feature):
    model, X, _ = one_feature
    R = bl.neon(model, X)
    curves = ev.removal_curves(model, X, R, order="morf", reference="competitor")
    f = model.logits(X).max(1)
    np.testing.assert_allclose(curves[:, 0], f, rtol=1e-12)
    # one removal replaces feature 2 by the competitor's value: the point now sits on
    # the competitor's side (f_c = -||mu_c - mu_k*||^2 = -16) and nothing else matters
    assert np.all(curves[:, 1:] < 0)
    np.testing.assert_allclose(curves[:, 1:], -16.0, rtol=1e-9)
    # least relevant first: the logit stays put until the relevant feature goes last
    lerf = ev.removal_curves(model, X, R, order="lerf", reference="competitor")
    np.testing.assert_allclose(lerf[:, :5], np.tile(f[:, None], 5), rtol=1e-9)
    assert np.all(lerf[:, 5] < 0)
    result = ev.compare(model, X, reference="competitor", n_permutations=4)
    assert result.areas["neon"]["morf"] < result.areas["random"]["random"] < result.areas["neon"]["lerf"]
    assert result.kept["neon"]["morf"][1] == 0.0 and result.kept["neon"]["morf"][0] == 1.0


# -- gradients ------------------------------------------------------------------------------


def test_kmeans_gradient_is_exact(blobs):
    model, C, X = blobs
    rng = np.random.default_rng(1)
    targets = rng.integers(4, size=len(X))
    for target in (None, targets):
        logit, grad = bl.logit_gradient(model, X, target)
        t = model.predict(X) if target is None else targets
        np.testing.assert_allclose(logit, kmeans_logits(C, X, t), rtol=1e-10, atol=1e-10)
        h = 1e-6
        for i in range(X.shape[1]):
            e = np.zeros(X.shape[1])
            e[i] = h
            fd = (kmeans_logits(C, X + e, t) - kmeans_logits(C, X - e, t)) / (2 * h)
            np.testing.assert_allclose(grad[:, i], fd, rtol=1e-6, atol=1e-6)
        # the gradient is 2 (mu_c - mu_k*) of the active competitor
        k_star = np.array(
            [min((k for k in range(4) if k != c), key=lambda k: np.sum((x - C[k]) ** 2)) for x, c in zip(X, t)]
        )
        np.testing.assert_allclose(grad, 2 * (C[t] - C[k_star]), rtol=1e-12)


def kernel_logit(U, labels, gamma, x, c):
    """f_c(x) = min_{k != c} S_k - S_c with S_k = LME^{-gamma}_{j in C_k} ||x - u_j||^2 (loops)."""
    S = []
    for k in range(labels.max() + 1):
        d = [float(np.sum((x - u) ** 2)) for u, lab in zip(U, labels) if lab == k]
        S.append(-np.log(np.mean(np.exp(-gamma * np.array(d)))) / gamma)
    return min(S[k] - S[c] for k in range(len(S)) if k != c)


class LoopKernelKMeans:
    """Kernel k-means logits from the spec's equations in plain loops: a model that
    ``model_ops`` recognises by its attributes, to test the gradient derivation."""

    def __init__(self, U, labels, gamma):
        self.support_vectors, self.labels, self.gamma = U, labels, gamma
        self.n_clusters, self.n_features_in_ = labels.max() + 1, U.shape[1]

    def neuralize(self):
        return self

    def logits(self, X):
        return np.array(
            [
                [kernel_logit(self.support_vectors, self.labels, self.gamma, x, c) for c in range(self.n_clusters)]
                for x in X
            ]
        )

    def predict(self, X):
        return self.logits(X).argmax(1)


@pytest.mark.parametrize("gamma", [0.05, 0.5, 3.0])
def test_kernel_kmeans_gradient_is_exact(gamma):
    rng = np.random.default_rng(11)
    U = rng.normal(size=(9, 3)) * 2
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    model = LoopKernelKMeans(U, labels, gamma)
    X = rng.normal(size=(15, 3)) * 2
    t = np.arange(15) % 3
    for target in (None, t):
        logit, grad = bl.logit_gradient(model, X, target)
        tt = model.predict(X) if target is None else t
        f = np.array([kernel_logit(U, labels, gamma, x, c) for x, c in zip(X, tt)])
        np.testing.assert_allclose(logit, f, rtol=1e-10, atol=1e-10)
        h = 1e-6
        for i in range(3):
            e = np.zeros(3)
            e[i] = h
            fd = np.array(
                [
                    (kernel_logit(U, labels, gamma, x + e, c) - kernel_logit(U, labels, gamma, x - e, c)) / (2 * h)
                    for x, c in zip(X, tt)
                ]
            )
            np.testing.assert_allclose(grad[:, i], fd, rtol=1e-5, atol=1e-5)


def test_kernel_kmeans_competitor_prototype():
    # the competitor's prototype ubar_k*(x) is the kernel-weighted mean of its support vectors:
    # the plain mean as gamma -> 0, the nearest support vector as gamma grows
    U = np.array([[0.0, 0.0], [0.5, 0.0], [4.0, 0.0], [6.0, 0.0]])
    labels = np.array([0, 0, 1, 1])
    x = np.array([[0.2, 0.3]])
    near = bl.reference_points(LoopKernelKMeans(U, labels, 50.0), x, "competitor")
    np.testing.assert_allclose(near, [[4.0, 0.0]], atol=1e-12)
    far = bl.reference_points(LoopKernelKMeans(U, labels, 1e-6), x, "competitor")
    np.testing.assert_allclose(far, [[5.0, 0.0]], atol=1e-4)
    p = np.exp(-0.1 * np.array([np.sum((x[0] - u) ** 2) for u in U[2:]]))
    mid = bl.reference_points(LoopKernelKMeans(U, labels, 0.1), x, "competitor")
    np.testing.assert_allclose(mid[0], (p / p.sum()) @ U[2:], rtol=1e-12)


def test_neuralized_kernel_kmeans_geometry():
    rng = np.random.default_rng(12)
    U = rng.normal(size=(12, 4)) * 2
    labels = np.repeat([0, 1, 2], 4)
    model = nx.NeuralizedKernelKMeans(U, labels, 0.3)
    loop = LoopKernelKMeans(U, labels, 0.3)
    X = rng.normal(size=(20, 4)) * 2
    t = np.arange(20) % 3
    logit, grad = bl.logit_gradient(model, X, t)
    np.testing.assert_allclose(logit, model.logits(X)[np.arange(20), t], rtol=1e-10, atol=1e-10)
    loop_logit, loop_grad = bl.logit_gradient(loop, X, t)
    np.testing.assert_allclose(logit, loop_logit, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grad, loop_grad, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(model.predict(X), loop.predict(X))
    # curves start at the compiled logit and end at the logit of the reference
    curves = ev.removal_curves(model, X, bl.neon(model, X), reference="competitor")
    f = model.logits(X)
    np.testing.assert_allclose(curves[:, 0], f.max(1), rtol=1e-12)
    ref = bl.reference_points(model, X, "competitor")
    np.testing.assert_allclose(curves[:, -1], model.logits(ref)[np.arange(20), f.argmax(1)], rtol=1e-12)
    result = ev.compare(model, X, n_permutations=2)
    assert result.areas["neon"]["morf"] < result.areas["random"]["random"]


def test_kernel_kmeans_with_one_support_vector_per_cluster_is_kmeans(blobs):
    kmeans, C, X = blobs
    kernel = nx.NeuralizedKernelKMeans(C, np.arange(len(C)), 0.7)
    for fn in (bl.logit_gradient, lambda m, Z: bl.reference_points(m, Z, "competitor")):
        a, b = fn(kmeans, X), fn(kernel, X)
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-9)


def test_sensitivity_and_gradient_x_input(blobs):
    model, _, X = blobs
    _, grad = bl.logit_gradient(model, X)
    np.testing.assert_array_equal(bl.sensitivity(model, X), grad**2)
    np.testing.assert_array_equal(bl.gradient_x_input(model, X), grad * X)


# -- occlusion ------------------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["mean", "competitor", "array", "rows"])
def test_occlusion_by_recomputation(blobs, reference):
    model, C, X = blobs
    X = X[:12]
    t = model.predict(X)
    if reference == "array":
        ref = np.linspace(-1, 1, X.shape[1])
        arg = ref
    elif reference == "rows":
        ref = np.random.default_rng(2).normal(size=X.shape)
        arg = ref
    else:
        arg = reference
        ref = bl.reference_points(model, X, reference)
    R = bl.occlusion(model, X, reference=arg)
    refs = np.broadcast_to(ref, X.shape)
    for n in range(len(X)):
        for i in range(X.shape[1]):
            z = X[n].copy()
            z[i] = refs[n, i]
            expect = kmeans_logit(C, X[n], t[n]) - kmeans_logit(C, z, t[n])
            assert R[n, i] == pytest.approx(expect, rel=1e-9, abs=1e-9)


def test_competitor_reference_is_nearest_competitor_centroid(blobs):
    model, C, X = blobs
    t = np.full(len(X), 2)
    ref = bl.reference_points(model, X, "competitor", target=2)
    for n, x in enumerate(X):
        k_star = min((k for k in range(4) if k != t[n]), key=lambda k: np.sum((x - C[k]) ** 2))
        np.testing.assert_array_equal(ref[n], C[k_star])


# -- Shapley sampling -------------------------------------------------------------------------


def _value_function(C, x, r, c):
    return lambda mask: kmeans_logit(C, np.where(mask, x, r), c)


def test_shapley_exact_when_all_orders_are_sampled_and_converges():
    rng = np.random.default_rng(5)
    C = rng.normal(size=(5, 4)) * 2
    model = nx.NeuralizedKMeans(C)
    X = C[[0, 1, 2]] * 0.5 + rng.normal(size=(3, 4))
    t = model.predict(X)
    ref = X.mean(0)
    exact = np.array([exact_shapley(_value_function(C, X[n], ref, t[n]), 4) for n in range(3)])
    approx = bl.shapley_sampling(model, X, reference="mean", n_permutations=4000, seed=1)
    np.testing.assert_allclose(approx, exact, atol=0.05 * np.abs(exact).max())
    # efficiency holds for every budget: sum phi = f(x) - f(reference)
    few = bl.shapley_sampling(model, X, reference="mean", n_permutations=2, seed=1)
    f_x = kmeans_logits(C, X, t)
    f_r = kmeans_logits(C, np.tile(ref, (3, 1)), t)
    np.testing.assert_allclose(few.sum(1), f_x - f_r, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(exact.sum(1), f_x - f_r, rtol=1e-10, atol=1e-10)


def test_shapley_two_features_is_exact_with_an_antithetic_pair():
    # D = 2 has two orders, each the reverse of the other: one antithetic pair is all of them
    rng = np.random.default_rng(6)
    C = rng.normal(size=(3, 2)) * 2
    model = nx.NeuralizedKMeans(C)
    X = rng.normal(size=(5, 2)) * 2
    t = model.predict(X)
    ref = np.zeros(2)
    exact = np.array([exact_shapley(_value_function(C, X[n], ref, t[n]), 2) for n in range(5)])
    np.testing.assert_allclose(
        bl.shapley_sampling(model, X, reference=ref, n_permutations=2), exact, rtol=1e-10, atol=1e-10
    )


def test_shapley_sampling_is_deterministic_and_independent_of_blocking(blobs, monkeypatch):
    model, _, X = blobs
    a = bl.shapley_sampling(model, X, n_permutations=6, seed=7)
    np.testing.assert_array_equal(a, bl.shapley_sampling(model, X, n_permutations=6, seed=7))
    assert not np.array_equal(a, bl.shapley_sampling(model, X, n_permutations=6, seed=8))
    # the orders drawn depend on the row index and the seed only, not on the blocking
    # (the compiled logits may differ in the last bit with the size of a block)
    monkeypatch.setattr(bl, "_BLOCK_ELEMENTS", 200)
    np.testing.assert_allclose(a, bl.shapley_sampling(model, X, n_permutations=6, seed=7), rtol=1e-12, atol=1e-12)
    part = bl.shapley_sampling(model, X[:5], n_permutations=6, seed=7, reference=X.mean(0))
    np.testing.assert_allclose(a[:5], part, rtol=1e-12, atol=1e-12)


def test_shapley_single_feature():
    model = nx.NeuralizedKMeans([[0.0], [2.0], [5.0]])
    X = np.array([[0.3], [4.0]])
    phi = bl.shapley_sampling(model, X, reference=np.array([1.5]), n_permutations=2)
    f = model.logits(X).max(1)
    f_r = model.logits(np.array([[1.5]]))[0, model.predict(X)]
    np.testing.assert_allclose(phi[:, 0], f - f_r)


def test_kernel_shap_matches_exact_shapley():
    pytest.importorskip("shap")
    rng = np.random.default_rng(8)
    C = rng.normal(size=(3, 3)) * 2
    model = nx.NeuralizedKMeans(C)
    X = C[:2] + 0.3 * rng.normal(size=(2, 3))
    t = model.predict(X)
    ref = X.mean(0) + 1.0
    exact = np.array([exact_shapley(_value_function(C, X[n], ref, t[n]), 3) for n in range(2)])
    state = np.random.get_state()
    phi = bl.kernel_shap(model, X, reference=ref, nsamples=64)
    assert np.all(np.random.get_state()[1] == state[1])  # the caller's global RNG is untouched
    np.testing.assert_allclose(phi, exact, rtol=1e-6, atol=1e-6)


# -- removal curves ----------------------------------------------------------------------------


def test_removal_curves_by_recomputation(blobs, monkeypatch):
    model, C, X = blobs
    X = X[:10]
    R = np.random.default_rng(4).normal(size=X.shape)
    t = np.arange(10) % 4
    ref = X.mean(0)
    for order in ("morf", "lerf"):
        curves = ev.removal_curves(model, X, R, order=order, target=t, reference="mean")
        for n in range(len(X)):
            seq = np.argsort(-R[n] if order == "morf" else R[n])
            z = X[n].copy()
            expect = [kmeans_logit(C, z, t[n])]
            for i in seq:
                z[i] = ref[i]
                expect.append(kmeans_logit(C, z, t[n]))
            np.testing.assert_allclose(curves[n], expect, rtol=1e-9, atol=1e-9)
        monkeypatch.setattr(bl, "_BLOCK_ELEMENTS", 100)
        np.testing.assert_allclose(
            curves, ev.removal_curves(model, X, R, order=order, target=t, reference="mean"), rtol=1e-12
        )
        monkeypatch.undo()


def test_random_curves_are_seeded():
    rng = np.random.default_rng(9)
    C = rng.normal(size=(3, 6))
    model = nx.NeuralizedKMeans(C)
    X = rng.normal(size=(8, 6))
    a = ev.removal_curves(model, X, order="random", n_repeats=3, seed=1)
    np.testing.assert_array_equal(a, ev.removal_curves(model, X, order="random", n_repeats=3, seed=1))
    assert not np.array_equal(a, ev.removal_curves(model, X, order="random", n_repeats=3, seed=2))
    f_ref = model.logits(np.tile(X.mean(0), (8, 1)))[np.arange(8), model.predict(X)]
    np.testing.assert_allclose(a[:, -1], f_ref, rtol=1e-12)


def test_curve_area():
    assert ev.curve_area([1.0, 1.0, 1.0]) == pytest.approx(1.0)
    assert ev.curve_area(np.linspace(1, 0, 11)) == pytest.approx(0.5)
    assert ev.curve_area([1.0, 0.0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least 2"):
        ev.curve_area([1.0])


def test_compare_result(blobs):
    model, _, X = blobs
    own = np.random.default_rng(0).normal(size=(20, X.shape[1]))
    methods = {
        "neon": "neon",
        "occlusion": "occlusion",
        "mine": own,
        "grad": lambda m, Z, t: bl.logit_gradient(m, Z, t)[1],
    }
    result = ev.compare(model, X, methods=methods, n_samples=20, seed=3)
    assert result.methods == ("neon", "occlusion", "mine", "grad")
    assert result.n_samples == 20 and result.n_features == X.shape[1]
    assert [r["method"] for r in result.table()] == ["neon", "occlusion", "mine", "grad", "random"]
    for m in result.methods:
        assert result.times[m] >= 0
        for o in ("morf", "lerf"):
            c = result.curves[m][o]
            assert c.shape == (X.shape[1] + 1,) and c[0] == pytest.approx(1.0)
            # every order ends at the same point: all features replaced by the reference
            assert c[-1] == pytest.approx(result.curves["random"]["random"][-1])
    np.testing.assert_array_equal(result.attributions["mine"], own)
    assert result.best("morf") in result.methods
    text = result.to_markdown()
    assert text.count("\n") == 6 and "| neon |" in text and "| random |" in text
    # reproducible
    again = ev.compare(model, X, methods=methods, n_samples=20, seed=3)
    assert again.areas == result.areas


def test_compare_accepts_a_scikit_learn_model():
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    X, _, _ = nx.load_wine()
    X = (X - X.mean(0)) / X.std(0)
    km = sklearn_cluster.KMeans(3, n_init=2, random_state=0).fit(X)
    result = ev.compare(km, X, n_samples=30, n_permutations=4)
    # on real data NEON beats the random order by a wide margin
    assert result.areas["neon"]["morf"] < result.areas["random"]["random"] - 0.2
    assert result.areas["neon"]["lerf"] > result.areas["random"]["random"] + 0.2


def test_plot(blobs):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, _, X = blobs
    result = ev.compare(model, X, methods=("neon", "sensitivity"))
    fig, ax = plt.subplots()
    assert result.plot(ax, title="t") is ax
    assert len(ax.lines) == 2 * 2 + 1 + 1
    plt.close(fig)


# -- bad input ---------------------------------------------------------------------------------


def test_bad_input(blobs):
    model, _, X = blobs
    with pytest.raises(ValueError, match="unknown attribution method 'lime'"):
        ev.compare(model, X, methods=("neon", "lime"))
    with pytest.raises(ValueError, match="unknown attribution method"):
        bl.attribute(model, X, "lime")
    with pytest.raises(ValueError, match="reserved"):
        ev.compare(model, X, methods={"random": "neon"})
    with pytest.raises(ValueError, match="methods is empty"):
        ev.compare(model, X, methods=())
    with pytest.raises(ValueError, match="reference='median'"):
        bl.occlusion(model, X, reference="median")
    with pytest.raises(ValueError, match="reference has 3 features"):
        bl.occlusion(model, X, reference=np.zeros(3))
    with pytest.raises(ValueError, match="reference must have shape"):
        bl.occlusion(model, X, reference=np.zeros((3, X.shape[1])))
    with pytest.raises(ValueError, match="NaN"):
        bl.occlusion(model, X, reference=np.full(X.shape[1], np.nan))
    with pytest.raises(ValueError, match="must be even"):
        bl.shapley_sampling(model, X, n_permutations=3)
    with pytest.raises(ValueError, match="n_permutations=0"):
        bl.shapley_sampling(model, X, n_permutations=0, antithetic=False)
    with pytest.raises(TypeError, match="seed"):
        bl.shapley_sampling(model, X, seed=1.5)
    with pytest.raises(ValueError, match="relevance must have shape"):
        ev.removal_curves(model, X, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="needs the relevance"):
        ev.removal_curves(model, X)
    with pytest.raises(ValueError, match="order='best'"):
        ev.removal_curves(model, X, np.zeros(X.shape), order="best")
    with pytest.raises(ValueError, match="relevance contains NaN"):
        ev.removal_curves(model, X, np.full(X.shape, np.nan))
    with pytest.raises(ValueError, match="attributions of 'mine' have shape"):
        ev.compare(model, X, methods={"mine": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="X has 3 features"):
        bl.sensitivity(model, np.zeros((4, 3)))
    with pytest.raises(TypeError, match="cannot neuralize"):
        bl.sensitivity(object(), X)


# -- the example scripts run end to end (small settings) ------------------------------------


def _load_example(name):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore::neon_ext.ConvergenceWarning")  # the sharper-kernel fits
def test_example_scripts(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    _load_example("evaluate_removal").main(
        ["--points", "12", "--permutations", "2", "--kernel-shap", "0", "--datasets", "wine", "--out", str(tmp_path)]
    )
    text = (tmp_path / "evaluation_results.md").read_text(encoding="utf-8")
    assert "| neon |" in text and "wine · k-means" in text and "wine · kernel k-means" in text
    assert (tmp_path / "figures" / "removal_curves.png").stat().st_size > 10_000
    _load_example("digits_showcase").main(["--out", str(tmp_path / "figures")])
    assert (tmp_path / "figures" / "digits_neon_kmeans.png").stat().st_size > 10_000


def test_compare_for_a_fixed_target_normalizes_by_the_mean_absolute_logit(blobs):
    model, _, X = blobs
    result = ev.compare(model, X, methods=("neon", "occlusion"), target=1, n_permutations=2)
    f = model.logits(X)[:, 1]
    assert result.scale == pytest.approx(np.abs(f).mean())
    assert result.curves["neon"]["morf"][0] == pytest.approx(f.mean() / np.abs(f).mean())
    # removing the evidence for cluster 1 first lowers its logit faster than a random order
    assert result.areas["neon"]["morf"] < result.areas["random"]["random"]
