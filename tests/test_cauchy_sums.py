"""The layer-1 pair sums of kernel k-means by the tree code (cpp/neon/cauchy_sums.hpp)
against the direct loop, on adversarial layouts of distances.

rho_j = sum_i q_i / (t_j - s_i) and sigma_i = sum_j R_j / (t_j - s_i) over the
pairs the absorbing stabilizer keeps (|t_j - s_i| > eps). The tree code must
agree with the direct loop to float64 rounding of the sums of absolute values
(it truncates its series at 2^-60), and leave out exactly the same pairs.

The fast code serves the sources far from the target's span, |t - c| >= 2 r
about its centre c (half-width r), with one expansion (two bands of ratios,
r / |t - c| <= 1/4 and <= 1/2, each with as many terms as its largest ratio
needs); the others go down a binary tree over the sorted s, where each node
serves the sources with r <= |t - c| / 2 by its own expansion and small nodes
sum the rest directly.
"""

import os

import numpy as np
import pytest

import neon_ext as nx
from isa_child import run_with_isa_setting
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
    yield "apart_far_scale", rng.uniform(1e200, 2e200, n), rng.uniform(5e200, 9e200, n)
    yield "apart_tiny_scale", rng.uniform(1e-200, 2e-200, n), rng.uniform(5e-200, 9e-200, n)
    yield "very_far", 1.0 + 1e-9 * rng.uniform(size=n), rng.uniform(1e3, 1e4, 3 * n)  # a few terms
    yield "single_distance", np.full(n, 3.0), np.concatenate([rng.uniform(0, 6, n), [3.0, 3.0 + 1e-13]])
    yield "small_target", rng.uniform(100, 200, 20), rng.uniform(0, 5000, 3 * n)
    yield "blobs", *blob_distances(0)
    yield "blobs_other_target", *blob_distances(1)


def blob_distances(target_offset, row=0):
    """Squared distances of one row of Gaussian blobs (D = 64, K = 8) to
    its own cluster's 250 support vectors (s) and the others' (t), as in
    bench/kernel_kmeans_explain.py; target_offset 1 explains a neighbouring
    cluster (the distances overlap more)."""
    rng = np.random.default_rng(5)
    centers = 3.0 * rng.normal(size=(8, 64))
    labels = np.repeat(np.arange(8), 250)
    U = centers[labels] + rng.normal(size=(2000, 64))
    x = centers[row] + rng.normal(size=64)
    d = ((U - x) ** 2).sum(1)
    own = labels == (row + target_offset) % 8
    return np.sort(d[own]), d[~own]


def check_against_direct(s, t, eps, seed=1):
    """Fast and direct sums on random weights: equal to 1e-12 of the sums of |terms|."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0, 1, s.size)
    q /= q.sum()
    R = rng.normal(size=t.size)
    rho_d, sigma_d = sums(s, q, t, R, eps, False)
    rho_t, sigma_t = sums(s, q, t, R, eps, True)
    scale_rho, scale_sigma = abs_sums(s, q, t, R, eps)
    assert np.isfinite(rho_t).all() and np.isfinite(sigma_t).all()
    assert (np.abs(rho_t - rho_d) <= 1e-12 * scale_rho).all()
    assert (np.abs(sigma_t - sigma_d) <= 1e-12 * scale_sigma).all()
    return rho_t, sigma_t, rho_d, sigma_d


@pytest.mark.parametrize("layout", list(layouts()), ids=lambda v: v[0])
def test_tree_code_matches_the_direct_loop_on_adversarial_layouts(layout):
    _, s, t = layout
    check_against_direct(s, t, 1e-12 * float(np.max(np.abs(np.concatenate([s, t])))))


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


@pytest.mark.parametrize("n_target", [20, 250, 3000])
def test_single_expansion_at_the_edges_of_its_separation_rule(n_target):
    # Sources at ratios r / |t - c| just inside and outside 1/4 and 1/2 (the
    # two bands' limits and the edge of the far field), on both sides of the
    # target: the longest series (about 62 terms at 1/2) and the switch to
    # the near field must both agree with the direct loop.
    rng = np.random.default_rng(3)
    s = np.sort(rng.uniform(10.0, 12.0, n_target))
    c, r = 0.5 * (s[0] + s[-1]), 0.5 * (s[-1] - s[0])
    ratios = np.array([1e-6, 0.1, 0.25 * (1 - 1e-15), 0.25, 0.25 * (1 + 1e-15), 0.4, 0.5 * (1 - 1e-15), 0.5])
    ratios = np.concatenate([ratios, 0.5 * (1 + 1e-15) * np.ones(1), [0.6, 0.9]])
    t = np.concatenate([c + r / ratios, c - r / ratios])
    check_against_direct(s, t, 1e-12)
    # Each band alone, too.
    for band in (ratios <= 0.25, (ratios > 0.25) & (ratios <= 0.5)):
        check_against_direct(s, np.concatenate([c + r / ratios[band], c - r / ratios[band]]), 1e-12)


def test_far_field_keeps_exactly_the_direct_loops_pairs_at_distance_eps():
    # All s equal (r = 0): sources at exactly eps from them are absorbed, at
    # eps (1 + 2^-40) kept -- the far field's test (with its rounding margin)
    # may only send borderline sources to the exact near-field test.
    eps = 2.0**-10  # offsets below are exact
    s = np.zeros(40)
    offsets = eps * np.array([1.0, 1.0 + 2.0**-40, 1.0 - 2.0**-40, 1.0 + 2.0**-50, 2.0, 0.0])
    t = np.concatenate([offsets, -offsets, [100.0] * 30])
    rho_t, sigma_t, rho_d, sigma_d = check_against_direct(s, t, eps)
    absorbed = np.abs(t) <= eps
    assert absorbed.sum() == 6
    assert (rho_t[absorbed] == 0).all() and (rho_d[absorbed] == 0).all()
    assert (rho_t[~absorbed] != 0).all()


_ISA_CHILD = """
import json, sys
import numpy as np
from neon_ext import _core
import neon_ext as nx
data = np.load(sys.argv[1])
out = {}
for name in ("apart", "mixed"):
    s, q, t, R = (data[name + "_" + k] for k in "sqtR")
    rho, sigma = _core._cauchy_pair_sums(s, q, t, R, 1e-12, True)
    np.save(sys.argv[2] + name + "_rho.npy", rho)
    np.save(sys.argv[2] + name + "_sigma.npy", sigma)
print(json.dumps(nx.build_info()["kernel_families"]["kernel_kmeans_pair_sums"]))
"""


@pytest.mark.parametrize("isa", nx.build_info()["kernel_isas"])
def test_every_instruction_set_computes_the_series_like_the_direct_loop(isa, tmp_path):
    # The series kernels are a per-ISA family (pair_sums_kernel.hpp):
    # NEON_EXT_ISA (read once per process: a child per setting) reaches them,
    # and each agrees with the direct loop.
    rng = np.random.default_rng(4)
    layouts = {
        "apart": (np.sort(rng.uniform(100, 200, 300)), rng.uniform(500, 900, 2000)),
        "mixed": (np.sort(rng.uniform(100, 200, 300)), rng.uniform(0, 900, 2000)),
    }
    arrays = {}
    for name, (s, t) in layouts.items():
        q = rng.uniform(0, 1, s.size)
        R = rng.normal(size=t.size)
        arrays.update({name + "_s": s, name + "_q": q, name + "_t": t, name + "_R": R})
    np.savez(tmp_path / "data.npz", **arrays)
    assert run_with_isa_setting(isa, _ISA_CHILD, tmp_path / "data.npz", str(tmp_path) + os.sep) == isa
    for name in layouts:
        s, q, t, R = (arrays[name + "_" + k] for k in "sqtR")
        rho_d, sigma_d = _core._cauchy_pair_sums(s, q, t, R, 1e-12, False)
        scale_rho, scale_sigma = abs_sums(s, q, t, R, 1e-12)
        assert (np.abs(np.load(tmp_path / f"{name}_rho.npy") - rho_d) <= 1e-12 * scale_rho).all()
        assert (np.abs(np.load(tmp_path / f"{name}_sigma.npy") - sigma_d) <= 1e-12 * scale_sigma).all()
