"""The layer-1 pair sums of kernel k-means by the tree code (cpp/neon/cauchy_sums.hpp)
against the direct loop, on adversarial layouts of distances.

rho_j = sum_i q_i / (t_j - s_i) and sigma_i = sum_j R_j / (t_j - s_i) over the
pairs the absorbing stabilizer keeps (|t_j - s_i| > eps). The tree code must
agree with the direct loop to float64 rounding of the sums of absolute values
(it truncates its series at 2^-60), and leave out exactly the same pairs.
"""

import numpy as np
import pytest

from neon_ext import _core


def sums(s, q, t, R, eps, tree):
    order = np.argsort(s, kind="stable")
    rho, sigma = _core._cauchy_pair_sums(s[order], q[order], t, R, eps, tree)
    out = np.empty_like(sigma)
    out[order] = sigma
    return rho, out


def abs_sums(s, q, t, R, eps):
    """sum |q_i / (t_j - s_i)| per j and sum |R_j / (t_j - s_i)| per i over the kept pairs."""
    H = t[None, :] - s[:, None]
    inv = np.where(np.abs(H) > eps, 1.0 / np.where(np.abs(H) > eps, H, 1.0), 0.0)
    return (np.abs(q)[:, None] * np.abs(inv)).sum(0), (np.abs(R)[None, :] * np.abs(inv)).sum(1)


def layouts():
    rng = np.random.default_rng(0)
    n = 700
    yield "apart", rng.uniform(100, 200, n), rng.uniform(4000, 5000, 3 * n)
    yield "interleaved", rng.uniform(0, 1, n), rng.uniform(0, 1, 3 * n)
    a = np.sort(rng.uniform(0, 1, 2 * n))
    yield "alternating", a[0::2], a[1::2] + 1e-13  # every competitor between two own distances
    yield (
        "tight_clusters",
        (rng.integers(0, 4, n) + 1e-9 * rng.normal(size=n)),
        (rng.integers(0, 4, 3 * n) + 0.5 + 1e-9 * rng.normal(size=3 * n)),
    )
    ties = rng.integers(0, 20, n).astype(float)
    yield "exact_ties", ties, np.concatenate([ties[: n // 2], rng.integers(0, 20, n).astype(float) + 0.25])
    yield "near_ties", ties, ties[: n // 2] + 1e-13 * (1 + rng.integers(0, 3, n // 2))
    yield "far_scale", rng.uniform(1e200, 2e200, n), rng.uniform(1e200, 3e200, n)
    yield "tiny_scale", rng.uniform(1e-200, 2e-200, n), rng.uniform(0, 3e-200, n)


@pytest.mark.parametrize("layout", list(layouts()), ids=lambda v: v[0])
def test_tree_code_matches_the_direct_loop_on_adversarial_layouts(layout):
    _, s, t = layout
    rng = np.random.default_rng(1)
    q = rng.uniform(0, 1, s.size)
    q /= q.sum()
    R = rng.normal(size=t.size)
    eps = 1e-12 * float(np.max(np.abs(np.concatenate([s, t]))))
    rho_d, sigma_d = sums(s, q, t, R, eps, False)
    rho_t, sigma_t = sums(s, q, t, R, eps, True)
    scale_rho, scale_sigma = abs_sums(s, q, t, R, eps)
    assert np.isfinite(rho_t).all() and np.isfinite(sigma_t).all()
    assert (np.abs(rho_t - rho_d) <= 1e-12 * scale_rho).all()
    assert (np.abs(sigma_t - sigma_d) <= 1e-12 * scale_sigma).all()


def test_tree_code_leaves_out_exactly_the_absorbed_pairs():
    # Every t coincides with some s (|t - s| = 0 <= eps) or sits 2 eps away
    # (kept): the kept set must be the direct loop's, pair for pair.
    s = np.repeat(np.arange(200.0), 2)
    t = np.concatenate([np.arange(0.0, 200.0, 3.0), np.arange(0.0, 200.0, 7.0) + 2e-9])
    q = np.full(s.size, 1.0 / s.size)
    R = np.linspace(-1, 1, t.size)
    rho_d, sigma_d = sums(s, q, t, R, 1e-9, False)
    rho_t, sigma_t = sums(s, q, t, R, 1e-9, True)
    scale_rho, scale_sigma = abs_sums(s, q, t, R, 1e-9)
    assert (np.abs(rho_t - rho_d) <= 1e-12 * scale_rho).all()
    assert (np.abs(sigma_t - sigma_d) <= 1e-12 * scale_sigma).all()


def test_tree_code_at_fifty_thousand_support_vectors():
    # M = 50,000: 25,000 own and 25,000 competitor distances, overlapping.
    rng = np.random.default_rng(2)
    s = np.sort(rng.gamma(8.0, 10.0, 25_000))
    t = rng.gamma(8.0, 10.0, 25_000) + 15.0
    q = np.exp(-0.05 * (s - s.min()))
    q /= q.sum()
    R = np.exp(-0.05 * (t - t.min()))
    rho_t, sigma_t = sums(s, q, t, R, 1e-9, True)
    rho_d, sigma_d = sums(s, q, t, R, 1e-9, False)
    # The absolute sums on a sample of 1000 j and 1000 i (all 25,000 x 25,000 would be 5 GB).
    js = rng.choice(t.size, 1000, replace=False)
    i_s = rng.choice(s.size, 1000, replace=False)
    scale_rho = (q[:, None] / np.abs(t[None, js] - s[:, None])).sum(0)
    scale_sigma = (np.abs(R)[None, :] / np.abs(t[None, :] - s[i_s, None])).sum(1)
    assert (np.abs(rho_t - rho_d)[js] <= 1e-12 * scale_rho).all()
    assert (np.abs(sigma_t - sigma_d)[i_s] <= 1e-12 * scale_sigma).all()


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="sorted"):
        _core._cauchy_pair_sums(np.array([2.0, 1.0]), np.ones(2), np.ones(3), np.ones(3), 0.0, True)
    with pytest.raises(ValueError, match="equal length"):
        _core._cauchy_pair_sums(np.ones(2), np.ones(3), np.ones(3), np.ones(3), 0.0, True)
