"""Regression tests for the numerical edge cases the fuzz tests found.

Policy (docs/reliability.md): every model output is a difference of squared
distances, homogeneous of degree 2 in the data scale. Prototypes whose spread
lies outside [1e-140, 1e140] are refused up front; points far from them work
as long as their results are representable; anything else is a ValueError
naming the row, never NaN or inf.
"""

from __future__ import annotations

import numpy as np
import pytest

import neon_ext as nx

C = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 3.0]])
X = np.array([[1.0, 0.5], [3.0, 1.0], [-0.5, 2.5], [2.0, 1.5]])
ASSIGNED = [0, 1, 2, 0]


@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e30), (np.float64, 1e160), (np.float64, 1e300)])
def test_points_far_from_the_centroids_keep_their_cluster_and_logit(dtype, scale):
    # Was: the tie check used |z|^2, so far points were "settled" with
    # term-by-term distances that round to equal values (float32 1e30: every
    # logit 0, every point in cluster 0) or overflow (1e160: NaN).
    model = nx.NeuralizedKMeans(C)
    Xf = (X * scale).astype(dtype)
    e = model.explain(Xf, beta=1.0 / scale)
    # Far away, h_k = 2 x.(mu_c - mu_k) + O(1): exact up to rounding of x.
    x = Xf.astype(np.float64)
    h = 2 * x @ C.T
    expected_assigned = np.argmax(h, axis=1)
    np.testing.assert_array_equal(e.assigned, expected_assigned)
    srt = np.sort(h, axis=1)
    np.testing.assert_allclose(e.logit, srt[:, -1] - srt[:, -2], rtol=1e-6)
    assert np.isfinite(e.relevance).all()
    np.testing.assert_allclose(e.relevance.sum(1), e.logit, rtol=1e-5)


@pytest.mark.parametrize("scale", [1e141, 1e200, 1e-141, 1e-200])
def test_centroids_outside_the_supported_scale_are_refused_by_name(scale):
    with pytest.raises(ValueError, match=r"centroids span .* outside the supported range \[1e-140, 1e\+140\]"):
        nx.NeuralizedKMeans(C * scale)


@pytest.mark.parametrize("scale", [1e135, 1e-135])
def test_centroids_inside_the_scale_limits_work_and_scale_as_s_squared(scale):
    s = 2.0 ** round(np.log2(scale))  # a power of two: scaling is exact
    e = nx.NeuralizedKMeans(C).explain(X, beta=0.5)
    es = nx.NeuralizedKMeans(C * s).explain(X * s, beta=0.5 / s**2)
    np.testing.assert_array_equal(es.assigned, e.assigned)
    np.testing.assert_allclose(es.logit / s**2, e.logit, rtol=1e-12)
    np.testing.assert_allclose(es.relevance / s**2, e.relevance, rtol=1e-9, atol=1e-12)


def test_centroids_near_the_float64_limit_with_a_small_spread():
    # Was: their mean overflowed to inf, and every result was NaN.
    big = 1.5e308
    model = nx.NeuralizedKMeans(np.array([[big, 0.0], [big, 1.0]]))
    e = model.explain(np.array([[big, 0.2], [big, 0.9]]), beta=1.0)
    np.testing.assert_array_equal(e.assigned, [0, 1])
    np.testing.assert_allclose(e.logit, [0.6, 0.8], rtol=1e-12)
    np.testing.assert_allclose(e.relevance, [[0.0, 0.6], [0.0, 0.8]], rtol=1e-10)  # eps absorbs 1e-12


def test_a_row_too_far_from_the_centroids_is_named():
    model = nx.NeuralizedKMeans(np.array([[-1e308, 0.0], [-1e308, 1.0]]))
    Xf = np.array([[-1e308, 0.5], [-1e308, 0.2], [1.7e308, 0.0]])  # x - center overflows
    with pytest.raises(ValueError, match="X row 2 is too far from the centroids"):
        model.predict(Xf)
    # ...and a finite value is never reported as NaN, even next to a NaN row.
    Xf[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinity \(first at row 1\)"):
        model.predict(Xf)


def test_results_beyond_float32_are_an_error_for_float32_and_fine_in_float64():
    model = nx.NeuralizedKMeans(C * 1e19)
    Xf = X * 1e19  # logits and relevance ~ 1e38 .. 1e39
    with pytest.raises(ValueError, match="not finite in float32 .* explain float64 data instead"):
        model.explain(Xf.astype(np.float32), beta=1e-38)
    e = model.explain(Xf, beta=1e-38)
    assert np.isfinite(e.relevance).all()
    np.testing.assert_allclose(e.relevance.sum(1), e.logit, rtol=1e-9)


def test_logits_beyond_float64_are_an_error_naming_the_row():
    model = nx.NeuralizedKMeans(np.array([[-1e139, 0.0], [1e139, 0.0]]))
    Xf = np.array([[0.0, 1.0], [5e168, 0.0]])  # distances ~ 1e308, logit 2e308
    with pytest.raises(ValueError, match=r"X row 1 is not finite in float64 \(beyond 1.8e308\)"):
        model.logits(Xf)


def test_eps_zero_at_an_exact_tie_gives_zero_relevance_not_nan():
    # Was: R_k / (h_k + 0) = 0 / 0 for the three-way tie of the golden data.
    e = nx.NeuralizedKMeans(C, eps=0.0).explain(X, beta=0.5)
    np.testing.assert_array_equal(e.relevance[3], [0.0, 0.0])
    np.testing.assert_allclose(e.relevance[:3].sum(1), e.logit[:3], rtol=1e-12)


@pytest.mark.parametrize("x", [0.0, 1e-320, 1e-200, 1e-12])
def test_eps_zero_on_and_next_to_a_boundary_stays_finite(x):
    # On the boundary between target 1 and competitor 2 (h = 0, or h below
    # rounding) the pair's relevance is absorbed (|h| <= eps); off it, R / h
    # is bounded by the spread limits.  Never inf or NaN.
    model = nx.NeuralizedKMeans(np.array([[0.0, 0.0], [1.0, 0.5], [-1.0, 0.5]]), eps=0.0)
    e = model.explain(np.array([[x, 0.25]]), target=1, beta=0.5)
    assert np.isfinite(e.relevance).all() and np.isfinite(e.logit).all()


def test_centroids_equal_after_centring_are_twins():
    # Was: centroid 2 differs from centroid 0 by less than the rounding of
    # the centring, got a coefficient R/eps ~ 1e11, and the factorized sum
    # lost 5 digits: -0.73105494 instead of -0.73105858.
    model = nx.NeuralizedKMeans(np.array([[0.0], [1.0], [3.5e-159]]))
    e = model.explain(np.array([[1.0]]), target=0, beta=1.0)
    # The twin is absorbed (it leaves the soft-min): all of f = -1 goes to
    # competitor 1 (before the revised rule the twin's share was lost).
    np.testing.assert_allclose(e.relevance, [[-1.0]], rtol=1e-14)


@pytest.mark.parametrize(
    "model",
    [nx.NeuralizedKMeans(np.zeros((2, 3))), nx.NeuralizedKernelKMeans(np.zeros((2, 3)), [0, 1], 1.0)],
    ids=["kmeans", "kernel"],
)
def test_huge_rows_with_zero_coefficients_give_zero_not_nan(model):
    # Was: (2 z) g with z = 1.7e308 and g = 0 gave inf * 0 = NaN.  Twins
    # everywhere: every logit is 0, but |x|^2 is beyond float64, which a
    # kernel may also report as such.
    try:
        e = model.explain(np.array([[1.7e308, -1.7e308, 0.0]]), beta=1.0)
    except ValueError as exc:
        assert "X row 0 is too far from the" in str(exc)
        return
    np.testing.assert_array_equal(e.relevance, np.zeros((1, 3)))
    np.testing.assert_array_equal(e.logit, [0.0])


def test_an_empty_target_list_for_zero_rows():
    e = nx.NeuralizedKMeans(C).explain(np.zeros((0, 2)), target=[], beta=1.0)
    assert e.relevance.shape == (0, 2) and e.target.dtype == np.int64


# --------------------------------------------------------------- kernel k-means --
U = np.array([[0.0, 0.0], [0.5, 0.5], [4.0, 0.0], [4.5, -0.5], [0.0, 3.0]])
LABELS = np.array([0, 0, 1, 1, 2])


@pytest.mark.parametrize("gamma", [1e-300, 1e-30, 1e-12])
def test_kernel_soft_min_tends_to_the_mean_distance_as_gamma_vanishes(gamma):
    # Was: log(total / members) / gamma rounds total to |C| for tiny gamma,
    # so S_k came out as the minimum distance (the gamma -> inf limit) or was
    # off by eps / gamma (5e-10 at gamma = 1e-8).  gamma -> 0: S_k is the mean
    # squared distance to the members, ||x - mean_k||^2 + their variance.
    model = nx.NeuralizedKernelKMeans(U, LABELS, gamma)
    Xk = np.array([[1.0, 0.5], [3.0, 1.0], [-0.5, 2.5], [2.2, 1.3]])
    mean_d = np.stack([((Xk[:, None, :] - U[LABELS == k][None]) ** 2).sum(-1).mean(1) for k in range(3)], 1)
    L = model.logits(Xk)
    expected = np.stack([np.delete(mean_d, c, 1).min(1) - mean_d[:, c] for c in range(3)], 1)
    np.testing.assert_allclose(L, expected, rtol=1e-12, atol=1e-12)


def test_kernel_logits_are_exact_at_small_gamma():
    from model_factories import KERNEL_KMEANS

    model = nx.NeuralizedKernelKMeans(U, LABELS, 1e-8)
    Xk = np.random.default_rng(3).normal(size=(20, 2)) * 2
    ref = KERNEL_KMEANS.reference(model, Xk, None, 1.0)
    np.testing.assert_allclose(model.logits(Xk), ref.logits_all.astype(np.float64), rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e30), (np.float64, 1e160)])
def test_kernel_points_far_from_the_support_vectors_keep_their_cluster(dtype, scale):
    # Was: as for k-means, the tie check's |z|^2 term sent far points to the
    # term-by-term distances, which round to ties (all assigned to cluster 0).
    model = nx.NeuralizedKernelKMeans(U, LABELS, 0.5)
    Xf = (np.array([[1.0, 0.1], [1.0, -0.01], [-0.2, 1.0]]) * scale).astype(dtype)
    np.testing.assert_array_equal(model.predict(Xf), [1, 1, 2])
    e = model.explain(Xf, beta=1.0 / scale)
    assert np.isfinite(e.relevance).all()
    np.testing.assert_allclose(e.relevance.sum(1), e.logit, rtol=1e-5)


@pytest.mark.parametrize("scale", [1e141, 1e-141])
def test_support_vectors_outside_the_supported_scale_are_refused_by_name(scale):
    with pytest.raises(ValueError, match=r"support vectors span .* outside the supported range"):
        nx.NeuralizedKernelKMeans(U * scale, LABELS, 0.5)
