"""Explanation summaries, subsets, competitor breakdown, exports, plots and progress bars."""

import sys
import warnings

import numpy as np
import pytest

import neon_ext as nx
from conftest import blobs
from neon_ext import _chunks, explanation as explanation_module
from neon_ext.competitors import kernel_competitor_relevance

GOLDEN_C = np.array([[0, 0], [4, 0], [0, 3]], dtype=float)
GOLDEN_X = np.array([[1, 0.5], [3, 1], [-0.5, 2.5], [2, 1.5]])


@pytest.fixture(scope="module")
def case():
    X, C = blobs(300, 5, 4, seed=3)
    m = nx.NeuralizedKMeans(C)
    return X, m, m.explain(X)


def direct_means(R, groups, K, absolute=False):
    R = np.abs(R) if absolute else R
    out = np.full((K, R.shape[1]), np.nan)
    for c in range(K):
        if np.any(groups == c):
            out[c] = R[groups == c].mean(0)
    return out


# --- summaries against direct numpy ------------------------------------------------


@pytest.mark.parametrize("absolute", [False, True])
def test_mean_relevance_matches_numpy(case, absolute, monkeypatch):
    X, m, e = case
    monkeypatch.setattr(explanation_module, "_SUMMARY_CHUNK", 7 * X.shape[1])  # many chunks
    R = e.relevance
    np.testing.assert_allclose(
        e.mean_relevance(absolute=absolute), (np.abs(R) if absolute else R).mean(0), rtol=1e-12, atol=1e-12
    )
    for by in ("target", "assigned"):
        np.testing.assert_allclose(
            e.mean_relevance(by, absolute=absolute),
            direct_means(R, getattr(e, by), 4, absolute),
            rtol=1e-12,
            atol=1e-12,
        )
    np.testing.assert_array_equal(e.mean_abs_relevance("target"), e.mean_relevance("target", absolute=True))
    np.testing.assert_array_equal(e.cluster_sizes(), np.bincount(e.target, minlength=4))


def test_empty_cluster_rows_are_nan(case):
    X, m, _ = case
    e = m.explain(X, target=2)
    M = e.mean_relevance("target")
    assert np.isnan(M[[0, 1, 3]]).all() and np.isfinite(M[2]).all()
    np.testing.assert_allclose(
        e.mean_relevance("assigned"), direct_means(e.relevance, e.assigned, 4), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_array_equal(e.cluster_sizes("target"), [0, 0, 300, 0])
    ml = e.mean_logit("target")
    assert np.isnan(ml[[0, 1, 3]]).all() and ml[2] == pytest.approx(e.logit.mean())


def test_top_k_share_matches_numpy(case):
    X, m, e = case
    for ex in (e, m.explain(X, target=1)):  # positive and negative logits
        for k in (1, 3, 5):
            expected = []
            for r, f in zip(ex.relevance, ex.logit):
                strongest = np.sort(r)[::-1][:k] if f >= 0 else np.sort(r)[:k]
                expected.append(strongest.sum() / f)
            np.testing.assert_allclose(ex.top_k_share(k), expected, rtol=1e-12)
        np.testing.assert_allclose(ex.top_k_share(5), 1.0, rtol=1e-9)  # all features: the logit


def test_top_k_share_nan_on_boundary():
    e = nx.NeuralizedKMeans(GOLDEN_C).explain(GOLDEN_X, beta=0.5)  # row 3: a three-way tie, logit 0
    share = e.top_k_share(1)
    assert np.isnan(share[3]) and np.isfinite(share[:3]).all()
    assert share[0] == pytest.approx(4.386351471779 / 6)


def test_summary_matches_numpy(case):
    X, m, e = case
    s = e.summary(2)
    M = direct_means(e.relevance, e.target, 4)
    for c in range(4):
        rows = e.target == c
        assert s.sizes[c] == rows.sum()
        assert s.mean_logit[c] == pytest.approx(e.logit[rows].mean(), rel=1e-12)
        top = np.argsort(-M[c], kind="stable")[:2]
        np.testing.assert_array_equal(s.top_features[c], top)
        np.testing.assert_allclose(s.top_relevance[c], M[c, top], rtol=1e-12)
        assert s.top_share[c] == pytest.approx(M[c, top].sum() / e.logit[rows].mean(), rel=1e-9)
    assert s.sizes[-1] == 300 and s.mean_logit[-1] == pytest.approx(e.logit.mean())
    np.testing.assert_allclose(e.summary(5).top_share, 1.0, rtol=1e-9)  # every feature: all of it
    text = str(s)
    assert "all" in text and "x" in text and len(text.splitlines()) == 6


def test_summary_names_and_pandas(case):
    pd = pytest.importorskip("pandas")
    X, m, _ = case
    names = ["alpha", "beta", "gamma", "delta", "eps"]
    e = m.explain(pd.DataFrame(X, columns=names))
    assert e.feature_labels == names
    df = e.to_pandas()
    assert list(df.columns) == names
    np.testing.assert_array_equal(df.to_numpy(), e.relevance)
    full = e.to_pandas(outputs=True)
    assert list(full.columns[-3:]) == ["logit", "target", "assigned"]
    np.testing.assert_allclose(full[names].sum(axis=1), full["logit"], rtol=1e-9, atol=1e-9)
    table = e.summary(2).to_pandas()
    assert list(table.index) == ["0", "1", "2", "3", "all"]
    assert set(table["top_1"]) <= set(names)
    assert any(name in str(e.summary(2)) for name in names)


def test_summaries_of_memmapped_result(tmp_path):
    X, C = blobs(500, 3, 3, seed=1, dtype=np.float32)
    m = nx.NeuralizedKMeans(C)
    out = np.lib.format.open_memmap(tmp_path / "R.npy", mode="w+", dtype=np.float32, shape=X.shape)
    e = m.explain(X, out=out)
    np.testing.assert_allclose(
        e.mean_relevance("target"), direct_means(np.asarray(out, np.float64), e.target, 3), rtol=1e-6
    )


def test_subsets_and_labels(case):
    X, m, e = case
    sub = e[10:20]
    np.testing.assert_array_equal(sub.relevance, e.relevance[10:20])
    np.testing.assert_array_equal(sub.data, X[10:20])
    assert sub.n_clusters == 4 and sub.beta == e.beta
    one = e[-1]
    assert len(one) == 1 and one.logit[0] == e.logit[-1]
    mask = e.assigned == 1
    np.testing.assert_array_equal(e[mask].target, e.target[mask])
    assert list(e.cluster_labels()[:3]) == [f"cluster {c}" for c in e.assigned[:3]]
    with pytest.raises(IndexError, match="out of range"):
        e[300]
    with pytest.raises(IndexError, match="rows must be"):
        e[np.zeros((2, 2), dtype=int)]


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda e: e.mean_relevance("cluster"), ValueError, "by must be"),
        (lambda e: e.summary(by=None), ValueError, "by must be"),
        (lambda e: e.top_k_share(0), ValueError, "k=0 must be between 1"),
        (lambda e: e.top_k_share(6), ValueError, "k=6 must be between 1"),
        (lambda e: e.summary(True), TypeError, "k must be an int"),
        (lambda e: e.to_shap(np.zeros((2, 2))), ValueError, "data must have shape"),
    ],
)
def test_bad_summary_arguments(case, call, exc, match):
    with pytest.raises(exc, match=match):
        call(case[2])


# --- per-competitor breakdown ----------------------------------------------------------


def test_competitors_golden_values():
    m = nx.NeuralizedKMeans(GOLDEN_C)
    parts = m.explain_competitors(GOLDEN_X, beta=0.5)
    np.testing.assert_allclose(
        parts.sum(1),
        [[1.613648528220, 4.386351471779], [7.601980675331, 0.398019324668], [0.000209528625, 5.999790471374], [0, 0]],
        atol=1e-9,
    )
    parts1 = m.explain_competitors(GOLDEN_X, target=1, beta=0.5)
    np.testing.assert_allclose(
        parts1.sum(1),
        [
            [-9.13822095626, 1.138220956261],
            [7.601980675331, 0.398019324668],
            [-20.284555239065, -5.715444760934],
            [0, 0],
        ],
        atol=1e-9,
    )
    # Point 0 (cluster 0): R_k = f * softmin_beta(h) over k = 1, 2 with h = (8, 6), f = 6.
    w = np.exp(-0.5 * np.array([8.0, 6.0]))
    np.testing.assert_allclose(parts[0, 1:].sum(1), 6 * w / w.sum(), rtol=1e-10)  # eps-stabilizer
    assert not parts[np.arange(4), [0, 1, 2, 0]].any()


@pytest.mark.parametrize("beta", [0.05, 1.0, 20.0])
def test_competitors_sum_to_relevance(beta):
    X, C = blobs(40, 6, 5, seed=7)
    m = nx.NeuralizedKMeans(C)
    for target in (None, 3, np.arange(40) % 5):
        e = m.explain(X, target, beta=beta)
        parts = m.explain_competitors(X, target, beta=beta)
        assert parts.shape == (40, 5, 6)
        np.testing.assert_allclose(parts.sum(1), e.relevance, rtol=1e-9, atol=1e-9 * np.abs(e.logit).max())
        np.testing.assert_allclose(parts.sum((1, 2)), e.logit, rtol=1e-9, atol=1e-9)
        assert not parts[np.arange(40), e.target].any()  # nothing argues against the target itself


def test_competitors_default_beta_and_rows_of_an_explanation():
    X, C = blobs(60, 3, 3, seed=2)
    m = nx.NeuralizedKMeans(C)
    e = m.explain(X)
    rows = [3, 17, 42]
    parts = m.explain_competitors(X[rows], e.target[rows], beta=e.beta)
    np.testing.assert_allclose(parts.sum(1), e.relevance[rows], rtol=1e-9, atol=1e-9)
    fixed = nx.NeuralizedKMeans(C, beta=0.7)
    np.testing.assert_allclose(
        fixed.explain_competitors(X[:5]).sum(1), fixed.explain(X[:5]).relevance, rtol=1e-9, atol=1e-9
    )


def test_competitors_duplicate_centroids_finite():
    C = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 1.0]])
    X = np.array([[0.5, 0.2], [2.0, 1.0], [-1.0, 0.3]])
    m = nx.NeuralizedKMeans(C)
    for target in (None, 1, 2):
        parts = m.explain_competitors(X, target, beta=1.0)
        assert np.isfinite(parts).all()
        np.testing.assert_allclose(parts.sum(1), m.explain(X, target, beta=1.0).relevance, atol=1e-9)


def test_competitors_refuse_huge_requests():
    m = nx.NeuralizedKMeans(np.eye(64))
    with pytest.raises(ValueError, match="pass a subset of the rows"):
        m.explain_competitors(np.zeros((20_000, 64)), beta=1.0)


@pytest.mark.parametrize(
    "pool,expected",
    [
        (
            0.5,
            [
                [1.468699930312, 5.093159676927],
                [5.959882165255, -1.276472303442],
                [0.578772722534, 4.533779626355],
                [0.582761315237, 0.914110019675],
            ],
        ),
        (
            2.0,
            [
                [1.618117122619, 4.94374248462],
                [5.36039481927, -0.676984957457],
                [0.811727375604, 4.300824973285],
                [0.471221132826, 1.025650202087],
            ],
        ),
    ],
)
def test_kernel_competitors_golden_values(pool, expected):
    U = np.array([[0, 0], [0.5, 0.5], [4, 0], [4.5, -0.5], [0, 3]], dtype=float)
    X = np.array([[1, 0.5], [3, 1], [-0.5, 2.5], [2.2, 1.3]])
    parts = kernel_competitor_relevance(U, [0, 0, 1, 1, 2], 0.5, pool, X, [0, 1, 2, 0], 0.5, 1e-12)
    np.testing.assert_allclose(parts.sum(1), expected, atol=1e-9)
    np.testing.assert_allclose(
        parts.sum((1, 2)), [6.56185960724, 4.683409861815, 5.11255234889, 1.496871334913], atol=1e-9
    )


# --- shap ----------------------------------------------------------------------------------


@pytest.fixture
def shap():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's import warns about matplotlib/numba deprecations
        return pytest.importorskip("shap")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::PendingDeprecationWarning")
def test_to_shap_round_trip(case, shap):
    X, m, e = case
    s = e.to_shap()
    assert isinstance(s, shap.Explanation)
    np.testing.assert_array_equal(s.values, e.relevance)
    np.testing.assert_array_equal(s.data, X)
    assert list(s.feature_names) == e.feature_labels
    np.testing.assert_allclose(s.values.sum(1) + s.base_values, e.logit, rtol=1e-9, atol=1e-9)
    cohorts = s.cohorts(e.cluster_labels())
    assert sorted(len(c.values) for c in cohorts.cohorts.values()) == sorted(np.bincount(e.assigned))
    raw = np.asarray(X) * 2
    np.testing.assert_array_equal(e.to_shap(raw).data, raw)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::PendingDeprecationWarning")
def test_shap_plots_render(case, shap, agg):
    X, m, e = case
    s = e[:40].to_shap()
    shap.plots.waterfall(s[0], show=False)
    shap.plots.beeswarm(s, show=False)
    shap.plots.bar(s.cohorts(e[:40].cluster_labels()), show=False)
    agg.close("all")


# --- plots -----------------------------------------------------------------------------------


@pytest.fixture
def agg():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_plot_relevance_bars_add_up_to_logit(case, agg, tmp_path):
    X, m, e = case
    ax = nx.plotting.plot_relevance(e, 5)
    widths = [p.get_width() for p in ax.patches]
    assert len(widths) == 5 and sum(widths) == pytest.approx(e.logit[5], rel=1e-9)
    ax = nx.plotting.plot_relevance(e, 5, max_features=2, data=X * 10)
    widths = [p.get_width() for p in ax.patches]
    assert len(widths) == 3 and sum(widths) == pytest.approx(e.logit[5], rel=1e-9)
    assert "3 other features" in [t.get_text() for t in ax.get_yticklabels()]
    ax.figure.savefig(tmp_path / "point.png")
    assert (tmp_path / "point.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(IndexError, match="out of range"):
        nx.plotting.plot_relevance(e, 300)
    with pytest.raises(ValueError, match="max_features"):
        nx.plotting.plot_relevance(e, 0, max_features=0)


def test_plot_cluster_heatmap(case, agg, tmp_path):
    X, m, e = case
    ax = nx.plotting.plot_cluster_heatmap(e)
    image = ax.get_images()[0].get_array()
    np.testing.assert_allclose(image, e.mean_relevance("target"))
    assert len(ax.texts) == 4 * 5
    ax2 = nx.plotting.plot_cluster_heatmap(m.explain(X, target=0), by="target", absolute=True, annotate=False)
    assert len(ax2.texts) == 0
    ax2.figure.savefig(tmp_path / "heat.png")
    assert (tmp_path / "heat.png").stat().st_size > 1000


# --- progress bars ----------------------------------------------------------------------------


def test_progress_bar_between_chunks(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    X, C = blobs(3000, 4, 3, seed=0)
    m = nx.NeuralizedKMeans(C)
    quiet = m.explain(X)
    monkeypatch.setattr(_chunks, "_TARGET_ELEMENTS", 4 * 256)  # several chunks
    e = m.explain(X, progress=True)
    err = capsys.readouterr().err
    # issue 13, item 13: two passes (beta heuristic, explain), each counting the 3000 rows once
    assert "NEON beta" in err and "NEON explain" in err and "3.00k/3.00k" in err and "6.00k" not in err
    np.testing.assert_array_equal(e.relevance, quiet.relevance)
    m.explain(X, beta=1.0, progress=True)
    assert "3.00k/3.00k" in capsys.readouterr().err
    m.beta_heuristic(X, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_without_tqdm_warns(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # makes `import tqdm.auto` fail
    m = nx.NeuralizedKMeans(GOLDEN_C)
    with pytest.warns(UserWarning, match="needs tqdm"):
        e = m.explain(GOLDEN_X, beta=0.5, progress=True)
    assert e.relevance.shape == (4, 2)
    with pytest.raises(TypeError, match="progress must be True or False"):
        m.explain(GOLDEN_X, progress="yes")


@pytest.mark.parametrize("pool", [None, 3.0])
def test_kernel_model_competitors_sum_to_relevance(pool):
    X, C = blobs(60, 3, 3, seed=4)
    labels = nx.NeuralizedKMeans(C).predict(X)
    m = nx.NeuralizedKernelKMeans.from_labels(X, labels, gamma=0.2, pool_stiffness=pool)
    Y = X[::7]
    for target in (None, 1):
        e = m.explain(Y, target, beta=0.3)
        parts = m.explain_competitors(Y, target, beta=0.3)
        assert parts.shape == (len(Y), 3, 3)
        np.testing.assert_allclose(parts.sum(1), e.relevance, rtol=1e-8, atol=1e-8 * np.abs(e.logit).max())
        assert not parts[np.arange(len(Y)), e.target].any()
    e = m.explain(X, progress=False)
    assert e.n_clusters == 3 and e.data is not None
