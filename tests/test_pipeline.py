"""NEON through scikit-learn pipelines of affine steps (NEON_SPEC.md section 6).

The reference below is written from the formula with loops over points,
competitors and pairs, in float64; it reads the pipeline only through its own
``transform`` and ``inverse_transform`` (probed with unit vectors), so it
shares nothing with neon_ext.pipeline's reading of the steps' attributes.
Models are built with eps = 0 (a pure midpoint rule, no stabilizer), so the
comparison does not depend on how the cores stabilize.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
import neon_ext as nx
from neon_ext.models.pipeline import NeuralizedPipeline, affine_steps
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)


def _data(n=80, d=6, k=3, seed=0):
    """Blobs in columns of very different scales and offsets (raw units)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 3.0
    X = centers[rng.integers(0, k, n)] + rng.normal(size=(n, d))
    return X * np.geomspace(0.01, 300.0, d) + np.linspace(-50.0, 1000.0, d)


STEPS = {
    "standard": lambda: [StandardScaler()],
    "standard-nomean": lambda: [StandardScaler(with_mean=False)],
    "minmax": lambda: [MinMaxScaler()],
    "maxabs": lambda: [MaxAbsScaler()],
    "robust": lambda: [RobustScaler()],
    "pca": lambda: [PCA(4)],
    "pca-whiten": lambda: [PCA(4, whiten=True)],
    "svd": lambda: [TruncatedSVD(4, random_state=0)],
    "standard-pca": lambda: [StandardScaler(), PCA(3)],
    "standard-pca-whiten": lambda: [StandardScaler(), PCA(3, whiten=True)],
    "minmax-svd-standard": lambda: [MinMaxScaler(), TruncatedSVD(3, random_state=0), StandardScaler()],
}


# -- the reference ---------------------------------------------------------------------
def _probe_linear(f, dim):
    """Matrix M and offset o of an affine function f(v) = M v + o of row vectors."""
    o = np.asarray(f(np.zeros((1, dim))), dtype=np.float64)[0]
    cols = [np.asarray(f(np.eye(dim)[i : i + 1] * 1.0), dtype=np.float64)[0] - o for i in range(dim)]
    return np.array(cols).T, o


def reference_map(prep, d_in):
    """(A, B) of a fitted preprocessing pipeline: A from its transform, B (the
    linear part of its inverse_transform) from inverse_transform."""
    A, _ = _probe_linear(prep.transform, d_in)
    B, _ = _probe_linear(prep.inverse_transform, A.shape[0])
    return A, B


def _softmin(v, s):
    w = np.exp(-s * (v - np.min(v)))
    return w / w.sum()


def reference_explain(X, Z, A, B, U, labels, targets, beta, gamma=None):
    """R_d = sum over competitors k, members j of k, members i of c of
    R_ijk (B (z - m_ij))_d (A^T w_ij)_d / h_ij, m_ij = (u_i + u_j) / 2,
    w_ij = 2 (u_i - u_j); k-means when gamma is None (one member each)."""
    K = int(labels.max()) + 1
    R = np.zeros_like(X, dtype=np.float64)
    f_all = np.zeros(len(X))
    for n in range(len(X)):
        z, c = Z[n], int(targets[n])
        d = np.array([np.sum((z - u) ** 2) for u in U])
        members = [np.flatnonzero(labels == k) for k in range(K)]
        if gamma is None:
            S = np.array([d[m[0]] for m in members])
        else:
            S = np.array(
                [np.min(d[m]) - np.log(np.mean(np.exp(-gamma * (d[m] - np.min(d[m]))))) / gamma for m in members]
            )
        comps = [k for k in range(K) if k != c]
        h = np.array([S[k] - S[c] for k in comps])
        f = h.min()
        f_all[n] = f
        share = f * _softmin(h, beta)
        q = _softmin(d[members[c]], gamma) if gamma is not None else np.ones(1)
        for Rk, k in zip(share, comps):
            pj = _softmin(d[members[k]], gamma) if gamma is not None else np.ones(1)
            for j, wj in zip(members[k], pj):
                for i, qi in zip(members[c], q):
                    hij = d[j] - d[i]
                    if hij == 0.0:
                        continue
                    m = (U[i] + U[j]) / 2.0
                    w = 2.0 * (U[i] - U[j])
                    R[n] += Rk * wj * qi * (B @ (z - m)) * (A.T @ w) / hij
    return R, f_all


# -- helpers -----------------------------------------------------------------------------
def _fit_prep(steps, X):
    prep = make_pipeline(*steps).fit(X)
    return prep, prep.transform(X)


def _kmeans_pipeline(name, X, k=3):
    prep, Z = _fit_prep(STEPS[name](), X)
    km = KMeans(k, n_init=3, random_state=0).fit(Z)
    return prep, Z, km


def _check_against_reference(model, X, Z, prep, U, labels, targets, gamma=None):
    beta = 0.7 / np.mean(np.abs(model.model.logits(Z)).max(1))
    e = model.explain(X, targets, beta=beta)
    A, B = reference_map(prep, X.shape[1])
    t = e.target
    R_ref, f_ref = reference_explain(X, Z, A, B, U, labels, t, beta, gamma)
    np.testing.assert_allclose(e.logit, f_ref, rtol=1e-10, atol=1e-10 * np.abs(f_ref).max())
    scale = np.abs(R_ref).max(1, keepdims=True)
    assert np.all(np.abs(e.relevance - R_ref) <= 1e-9 * scale)
    # Conservation of the implementation itself.
    assert np.all(np.abs(e.relevance.sum(1) - e.logit) <= 1e-12 * np.abs(e.relevance).sum(1) + 1e-300)
    return e


# -- k-means -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(STEPS))
@pytest.mark.parametrize("arbitrary_targets", [False, True])
def test_kmeans_pipeline_matches_reference(name, arbitrary_targets):
    X = _data()
    prep, Z, km = _kmeans_pipeline(name, X)
    pipe = make_pipeline(*prep.named_steps.values(), km)
    model = nx.neuralize(pipe, eps=0.0)
    assert isinstance(model, NeuralizedPipeline)
    np.testing.assert_array_equal(model.predict(X), pipe.predict(X))
    np.testing.assert_allclose(model.logits(X), model.model.logits(Z), rtol=1e-10, atol=1e-9)
    targets = np.random.default_rng(1).integers(0, 3, len(X)) if arbitrary_targets else None
    C = km.cluster_centers_
    _check_against_reference(model, X, Z, prep, C, np.arange(len(C)), targets)


def test_scaler_only_pipeline_equals_neon_on_scaled_data():
    X = _data()
    prep, Z, km = _kmeans_pipeline("standard", X)
    pipe = make_pipeline(prep[0], km)
    e = nx.neuralize(pipe).explain(X, beta=0.3)
    ez = nx.neuralize(km).explain(Z, beta=0.3)
    np.testing.assert_allclose(e.relevance, ez.relevance, rtol=1e-9, atol=1e-12 * np.abs(ez.relevance).max())
    np.testing.assert_allclose(e.logit, ez.logit, rtol=1e-12)


# -- kernel k-means --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,pair_level",
    [("standard", False), ("pca", False), ("standard-pca", False), ("pca-whiten", True), ("standard-pca-whiten", True)],
)
@pytest.mark.parametrize("arbitrary_targets", [False, True])
def test_kernel_kmeans_pipeline_matches_reference(name, pair_level, arbitrary_targets):
    X = _data(n=40)
    prep, Z = _fit_prep(STEPS[name](), X)
    labels = KMeans(3, n_init=3, random_state=0).fit_predict(Z)
    gamma = 0.5 / np.var(Z, axis=0).sum()
    inner = nx.NeuralizedKernelKMeans(Z[::2], labels[::2], gamma, eps=0.0)
    A, xc, b, B = affine_steps(prep.steps)
    model = NeuralizedPipeline(inner, A, b, B, x_center=xc)
    assert model._core.pair_level == pair_level
    np.testing.assert_array_equal(model.predict(X), inner.predict(Z))
    targets = np.random.default_rng(2).integers(0, 3, len(X)) if arbitrary_targets else None
    _check_against_reference(model, X, Z, prep, Z[::2], labels[::2], targets, gamma=gamma)


def test_other_estimators_as_last_step():
    from sklearn.cluster import MiniBatchKMeans

    X = _data(n=60)
    lasts = (
        nx.KMeans(3, random_state=0),
        nx.KernelKMeans(3, random_state=0),
        MiniBatchKMeans(3, n_init=3, random_state=0),
    )
    for last in lasts:
        pipe = make_pipeline(StandardScaler(), PCA(3), last).fit(X)
        model = nx.neuralize(pipe)
        np.testing.assert_array_equal(model.predict(X), pipe.predict(X))
        e = model.explain(X)
        assert e.relevance.shape == X.shape
        assert np.allclose(e.relevance.sum(1), e.logit, rtol=1e-6, atol=1e-9 * np.abs(e.logit).max())


# -- names, dtypes, threads, outputs ------------------------------------------------------------
def test_feature_names_from_dataframe():
    pd = pytest.importorskip("pandas")
    X = _data(n=50)
    cols = [f"m{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=cols)
    pipe = make_pipeline(StandardScaler(), PCA(3), KMeans(3, n_init=2, random_state=0)).fit(df)
    model = nx.neuralize(pipe)
    assert list(model.explain(df, beta=1.0).feature_names) == cols
    with pytest.warns(UserWarning, match="feature names"):  # an ndarray: taken in the fitted order
        assert list(model.explain(X, beta=1.0).feature_names) == cols
    reordered = model.explain(df[cols[::-1]], beta=1.0)  # columns matched by name
    np.testing.assert_array_equal(reordered.relevance, model.explain(df, beta=1.0).relevance)
    with pytest.raises(ValueError, match="feature names"):
        model.explain(df.rename(columns={"m0": "other"}), beta=1.0)


def test_float32_close_to_float64_and_thread_invariant():
    X = np.tile(_data(n=100), (30, 1))  # several blocks of rows
    prep, _Z, km = _kmeans_pipeline("standard-pca", X)
    model = nx.neuralize(make_pipeline(*prep.named_steps.values(), km))
    X32 = X.astype(np.float32)
    e32 = model.explain(X32, beta=0.5)
    e64 = model.explain(X32.astype(np.float64), beta=0.5)  # the same values: float32 input loses nothing else
    assert e32.relevance.dtype == np.float32
    scale = np.abs(e64.relevance).max(1, keepdims=True)
    assert np.all(np.abs(e32.relevance - e64.relevance) <= 1e-6 * scale)
    one = model.explain(X, beta=0.5, n_threads=1).relevance
    two = model.explain(X, beta=0.5, n_threads=2).relevance
    np.testing.assert_array_equal(one, two)


def test_out_and_progress():
    X = _data(n=50)
    prep, _Z, km = _kmeans_pipeline("pca", X)
    model = nx.neuralize(make_pipeline(*prep.named_steps.values(), km))
    out = np.empty_like(X)
    with warnings.catch_warnings():
        # Without tqdm, progress=True warns and runs without a bar (CI's test extra has no tqdm).
        warnings.filterwarnings("ignore", "progress=True needs tqdm", UserWarning)
        e = model.explain(X, out=out, beta=0.5, progress=True)
    assert e.relevance is out
    assert np.isfinite(model.beta_heuristic(X))


# -- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "step,match",
    [
        (Normalizer(), "'normalizer' \\(Normalizer\\)"),
        (PolynomialFeatures(2), "PolynomialFeatures"),
        (FunctionTransformer(np.log1p), "FunctionTransformer"),
        (MinMaxScaler(clip=True), "clip=True"),
    ],
)
def test_non_affine_steps_are_refused(step, match):
    X = np.abs(_data(n=40))
    pipe = make_pipeline(step, KMeans(2, n_init=2, random_state=0)).fit(X)
    with pytest.raises(TypeError, match=match):
        nx.neuralize(pipe)


def test_encoder_is_refused():
    X = np.random.default_rng(0).integers(0, 3, (30, 2))
    pipe = make_pipeline(OneHotEncoder(sparse_output=False), KMeans(2, n_init=2, random_state=0)).fit(X)
    with pytest.raises(TypeError, match="OneHotEncoder"):
        nx.neuralize(pipe)


def test_rank_deficient_step_is_refused():
    X = _data(n=40)
    pca = PCA(3).fit(X)
    pca.components_[2] = pca.components_[1]  # two equal rows: no right inverse
    Z = pca.transform(X)
    pipe = make_pipeline(pca, KMeans(2, n_init=2, random_state=0).fit(Z))
    pipe.steps[-1][1].fit(Z)
    with pytest.raises(ValueError, match="rank-deficient"):
        nx.neuralize(pipe)


def test_unfitted_pipeline_is_refused():
    with pytest.raises((TypeError, ValueError)):
        nx.neuralize(make_pipeline(StandardScaler(), KMeans(2)))


# -- model files ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel", [False, True])
def test_save_load_roundtrip(tmp_path, kernel):
    X = _data(n=50)
    last = nx.KernelKMeans(3, random_state=0) if kernel else KMeans(3, n_init=2, random_state=0)
    model = nx.neuralize(make_pipeline(StandardScaler(), PCA(3, whiten=True), last).fit(X))
    model.beta = 0.25
    path = tmp_path / "pipe.npz"
    nx.save(model, path)
    back = nx.load(path)
    assert isinstance(back, NeuralizedPipeline) and back.beta == 0.25
    np.testing.assert_array_equal(back.explain(X).relevance, model.explain(X).relevance)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.explain(X).relevance, model.explain(X).relevance)


# -- command line: fit --standardize / --pca --------------------------------------------------------
@pytest.mark.parametrize("flags", [["--standardize"], ["--pca", "3"], ["--standardize", "--pca", "3"]])
def test_cli_fit_through_preprocessing(tmp_path, capsys, monkeypatch, flags):
    from neon_ext.cli import main

    X = _data(n=90)
    names = [f"c{i}" for i in range(X.shape[1])]
    (tmp_path / "data.csv").write_text(
        ",".join(names) + "\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in X) + "\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "data.csv", "--model", "kmeans", "-k", "3", "-o", "m.npz", *flags]) == 0
    assert "relevance will be reported on the raw columns" in capsys.readouterr().out
    model = nx.load("m.npz")
    assert isinstance(model, NeuralizedPipeline) and list(model.feature_names_in_) == names
    model.feature_names_in_ = None  # below: plain arrays, no name checks
    # The stored map is what scikit-learn fits for the same steps.
    steps = ([StandardScaler()] if "--standardize" in flags else []) + ([PCA(3)] if "--pca" in flags else [])
    prep = make_pipeline(*steps).fit(X)
    Zs, Zm = prep.transform(X), model.transform(X)
    if "--pca" in flags:  # components are defined up to sign
        Zm = Zm * np.sign(np.sum(Zm * Zs, axis=0))
    np.testing.assert_allclose(Zm, Zs, atol=1e-9 * np.abs(Zs).max())
    assert main(["explain", "data.csv", "--model", "m.npz", "-o", "r.csv"]) == 0
    out = capsys.readouterr().out
    assert "affine features of the raw columns" in out and "(+" in out.split("mean relevance per")[1]
    R = np.loadtxt("r.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(R, model.explain(X, beta=model.beta).relevance, rtol=1e-12, atol=1e-12)


def test_cli_pca_out_of_range(tmp_path, capsys, monkeypatch):
    from neon_ext.cli import main

    np.save(tmp_path / "d.npy", _data(n=30))
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "d.npy", "--model", "kmeans", "-k", "2", "-o", "m.npz", "--pca", "9"]) != 0
    assert "--pca 9" in capsys.readouterr().err


def test_explain_competitors_points_to_the_model_on_z():
    X = _data(n=30)
    prep, _Z, km = _kmeans_pipeline("pca", X)
    model = nx.neuralize(make_pipeline(*prep.named_steps.values(), km))
    with pytest.raises(NotImplementedError, match="transform"):
        model.explain_competitors(X[:3])


def test_float32_rows_near_a_boundary_match_float64():
    # Rows a hair on cluster 1's side of the 0|1 boundary (in z), explained
    # for target 0: logits down to ~1e-7 of the squared distances, where a
    # float32 evaluation loses digits (eps32 s / |h|) and the plain k-means
    # kernel redoes the row in float64.  Through a pipeline nothing needs
    # redoing: affine.hpp maps every row to z and runs the model's core in
    # float64 whatever the input dtype, so the coefficients it takes over
    # are float64 ones.  Same accuracy as float64 on the same float32 values.
    X = _data(n=300)
    pipe = make_pipeline(StandardScaler(), KMeans(3, n_init=1, random_state=0)).fit(X)
    scaler, U = pipe[0], pipe[1].cluster_centers_
    rng = np.random.default_rng(4)
    normal = U[1] - U[0]
    along = rng.normal(size=(40, U.shape[1])) * 0.3
    along -= np.outer(along @ normal / (normal @ normal), normal)
    Z = 0.5 * (U[0] + U[1]) + along + np.outer(np.geomspace(1e-7, 1e-3, 40), normal)
    X32 = scaler.inverse_transform(Z).astype(np.float32)
    model = nx.neuralize(pipe)
    e32 = model.explain(X32, beta=1.0, target=0)
    e64 = model.explain(X32.astype(np.float64), beta=1.0, target=0)
    near = (model.predict(X32) == 1) & (np.abs(e64.logit) < 1e-4 * (np.asarray(Z) ** 2).sum(1))
    assert near.sum() >= 10
    scale = np.abs(e64.relevance).max(1, keepdims=True)
    assert np.all(np.abs(e32.relevance - e64.relevance) <= 1e-6 * scale)
    gap = np.abs(e32.relevance.sum(1, dtype=np.float64) - e32.logit)
    assert np.all(gap <= 1e-6 * np.abs(e32.relevance).sum(1, dtype=np.float64))  # float32 rounding of R only
