"""The neuralized models under the reliability tests, behind one small interface.

Every reliability test (test_fuzz, test_determinism, test_threads, test_interrupt,
test_resources) runs over ``MODEL_CASES``; a new model joins them all by adding
one ``ModelCase`` here. A case knows how to

- ``make(rng, n_clusters, n_features)``: build a typical model (random prototypes);
- ``draw(draw, n_features, scale, offset, integer)``: build a model from
  Hypothesis-drawn prototypes (scale * values in [-1, 1] + offset, or small integers);
- ``reference(model, X, targets, beta, dtype)``: the model's assignment, logits of every
  cluster and NEON relevance, recomputed from the equations of NEON_SPEC.md in
  long double, plus per-row error scales for the tolerances. Long double (on
  x86-64 an 80-bit float with range ~1e±4932) cannot overflow for any float64
  input, so it also tells the fuzz tests which inputs truly have results beyond
  the float64 range.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np
from hypothesis import strategies as st

import neon_ext as nx

LD = np.longdouble
EPS64 = float(np.finfo(np.float64).eps)
# Whether long double really extends the float64 exponent range here.
LONG_DOUBLE_WIDE = float(np.log10(np.finfo(LD).max)) > 400


@dataclass(frozen=True)
class Reference:
    """What a model should return, with the scales the tolerances need (per row)."""

    assigned: np.ndarray  # (N,) int64
    logits_all: np.ndarray  # (N, K) long double: f_c(x) for every c
    logit: np.ndarray  # (N,) long double: f of the explained target
    relevance: np.ndarray  # (N, D) long double, for the given targets and beta
    gap: np.ndarray  # (N,) second-nearest minus nearest distance: how clear the assignment is
    h_error: np.ndarray  # (N,) bound on the float64 rounding of the model's layer-1 outputs
    term_bound: np.ndarray  # (N,) sum of max(|coefficient|, 1) x |terms the kernel sums| (rounding scale)
    rel_tol: np.ndarray  # (N,) float64 error bound of the relevance, where well conditioned
    well_conditioned: np.ndarray  # (N,) bool: the relevance is a stable function of the input
    absorbed: np.ndarray  # (N,) relevance the stabilizer absorbs (conservation defect)
    near_boundary: np.ndarray  # (N,) a competitor with relevance is within rounding of its boundary
    magnitude: float  # largest magnitude any intermediate or result reaches
    unit_roundoff: float = EPS64  # of the model's internal arithmetic for this input


@dataclass(frozen=True)
class ModelCase:
    name: str
    make: Callable  # (rng, n_clusters, n_features) -> model
    draw: Callable  # (draw, n_features, scale, offset, integer) -> model from drawn prototypes
    reference: Callable  # (model, X float64 (N, D), targets (N,) or None, beta, dtype) -> Reference
    # Whether the midpoint-rule coefficients of the assigned cluster are
    # bounded (|R_k / h_k| <= 1 for k-means), so that its relevance conserves
    # the logit even where the relevance itself is ill-conditioned.
    own_target_bounded: bool = False


# ---------------------------------------------------------------- k-means --
def _output_magnitude(logits_all, relevance, worst, term_bound, z_norm_ld, m, d):
    """The largest magnitude a reference's outputs and intermediate terms reach
    (the scale the fuzz tests' absolute tolerances are relative to)."""
    n = len(z_norm_ld)
    finite = [np.abs(a).astype(np.float64) for a in (logits_all, relevance)]
    return max(
        [float(a.max()) if a.size else 0.0 for a in finite + [np.nan_to_num(worst, nan=np.inf)]]
        + [
            float(term_bound.max()) if n else 0.0,
            float(z_norm_ld.max() * LD(m) * d) if n else 0.0,
            float(z_norm_ld.max()) if n else 0.0,
        ]
    )


def _kmeans_make(rng, n_clusters, n_features):
    return nx.NeuralizedKMeans(rng.normal(size=(n_clusters, n_features)) * 2.0)


def _kmeans_draw(draw, n_features, scale, offset, integer):
    k = draw(st.integers(2, 5))
    unit = st.integers(-3, 3) if integer else st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=True)
    rows = [draw(st.lists(unit, min_size=n_features, max_size=n_features)) for _ in range(k)]
    C = np.asarray(rows, dtype=np.float64) * scale + offset
    if draw(st.booleans()):  # a duplicate centroid: identical clusters
        C[draw(st.integers(1, k - 1))] = C[0]
    return nx.NeuralizedKMeans(C, eps=draw(st.sampled_from([nx.kmeans.DEFAULT_EPS] * 6 + [0.0, 1e-6])))


def _top_layer(h, c, beta, kept):
    """Layer 2 of the spec for target c: f = min over competitors of h, and its
    soft-min redistribution over the competitors the absorbing stabilizer
    keeps, R_k = f exp(-beta (h_k - h_min)) / sum (shifted by their minimum);
    all 0 when every competitor is absorbed."""
    competitor = np.arange(h.size) != c
    f = h[competitor].min()
    if not kept.any():
        return competitor, f, np.zeros(h.size, dtype=LD)
    lo = h[kept].min()
    w = np.where(kept, np.exp(-LD(beta) * np.where(kept, h - lo, 0)), 0)
    return competitor, f, f * w / w.sum()


def _midpoint_coefficients(R, h, kept):
    """Midpoint-rule coefficients a = R / h (h itself, NEON_SPEC.md section 1)
    where the stabilizer keeps the pair and it has relevance, 0 elsewhere."""
    return np.where(kept & (R != 0), R / np.where(kept, h, 1), 0)


def _assignment(logits_all):
    """The assigned cluster (the lowest index with f_c >= 0: ties to the lowest)
    and its logit (the gap to the second-nearest), from exact logits."""
    n = logits_all.shape[0]
    assigned = np.argmax(logits_all >= 0, axis=1).astype(np.int64)
    gap = logits_all[np.arange(n), assigned].astype(np.float64) if n else np.zeros(0)
    return assigned, gap


def _kmeans_reference(model, X, targets, beta, dtype=np.float64):
    # Bounds may be inf (beta = 1e308, results beyond float64): inf means "no bound".
    with np.errstate(all="ignore"):
        return _kmeans_reference_ld(model, X, targets, beta, dtype)


def _kmeans_reference_ld(model, X, targets, beta, dtype):
    # float32 input is computed in float32 (centred, float64 for the per-row
    # scalars and near ties): its rounding bounds the errors.
    u = float(np.finfo(dtype).eps)
    C = model.centroids.astype(LD)
    Xl = np.asarray(X, dtype=LD)
    n, d = Xl.shape
    k = C.shape[0]
    # Layer 1 of the spec in its midpoint form, free of the x*x cancellation:
    # (x_i - m_ki) w_ki = (mu_ci - mu_ki)(2 x_i - mu_ci - mu_ki), summing to
    # h_k = d(x, mu_k) - d(x, mu_c).  contrib[r, c, k, i]; tests are small.
    contrib = (C[None, :, None, :] - C[None, None, :, :]) * (
        2 * Xl[:, None, None, :] - C[None, :, None, :] - C[None, None, :, :]
    )
    H = contrib.sum(-1)  # H[r, c, k] = h_k for target c
    off_diagonal = ~np.eye(k, dtype=bool)
    logits_all = np.where(off_diagonal[None], H, np.inf).min(-1)
    assigned, gap = _assignment(logits_all)

    center = C.mean(0)
    P = C - center
    # The model centres on the centre rounded to its precision: every centred
    # coordinate carries up to u |centre| on top of |P| (float32: the
    # centroids' differences are resolved to u (|P| + u |centre|)), and
    # coordinates below the smallest normal number of that precision are lost.
    P_eff = np.abs(P) + u * np.abs(center) + float(np.finfo(dtype).tiny)
    m = float(np.sqrt((P_eff**2).sum(1)).max())
    Z = Xl - center
    z_norm_ld = np.sqrt((Z**2).sum(1))
    h_error = (16.0 * (d + 4) * u * (z_norm_ld * LD(m) + LD(m) * m)).astype(np.float64)
    eps_abs = LD(model._core.epsilon)
    tgt = assigned if targets is None else np.asarray(targets, dtype=np.int64)

    relevance = np.zeros((n, d), dtype=LD)
    logit = np.zeros(n, dtype=LD)
    term_scale, term_bound, sens, absorbed = (np.zeros(n) for _ in range(4))
    well = np.zeros(n, dtype=bool)
    near_boundary = np.zeros(n, dtype=bool)
    worst = np.zeros(n)
    for r in range(n):
        c = int(tgt[r])
        h = H[r, c]
        # A duplicate of c is the same cluster: its h is 0 for every x and its
        # contributions are exactly 0; it is absorbed (leaves the soft-min).
        # The model compares centroids after centring, so one closer to c
        # than that rounding may count as a twin or not.
        Cd = model.centroids
        twin = (Cd == Cd[c]).all(1)
        near_twin = (np.abs(Cd - Cd[c]) <= 4 * u * (np.abs(Cd.mean(0)) + np.abs(Cd))).all(1) & ~twin
        candidate = (np.arange(k) != c) & ~twin
        kept = candidate & (np.abs(h) > eps_abs)
        competitor, f, share = _top_layer(h, c, beta, kept)
        logit[r] = f
        a = _midpoint_coefficients(share, h, kept)
        den = h
        # Every competitor possibly absorbed (within rounding of eps, or a
        # near twin): the model may keep no relevance at all.
        maybe_absorbed = ~candidate | near_twin | (np.abs(h).astype(np.float64) <= float(eps_abs) + 8 * h_error[r])
        absorbed[r] = abs(float(f)) if maybe_absorbed[competitor].all() else 0.0
        relevance[r] = (a[:, None] * contrib[r, c]).sum(0)
        abs_a = np.abs(a).astype(np.float64)
        # Size of each competitor's true contributions, and of the terms the
        # factorized midpoint rule sums instead (-2 z (A P) + A (P*P), centred):
        # its rounding error scales with the latter.
        az, ap, apc = np.abs(Z[r])[None, :], P_eff, P_eff[c][None, :]
        cm = ((az + ap + apc) * np.abs(P - P[c])).sum(1).astype(np.float64)
        cm_factorized = ((az + ap) * ap + (az + apc) * apc).sum(1).astype(np.float64)
        term_scale[r] = float((abs_a * cm_factorized).sum())
        term_bound[r] = float((np.maximum(abs_a, 1.0) * cm_factorized).sum())
        live = competitor & ~twin & (share != 0)
        delta = h_error[r]
        ratio = delta / np.abs(den).astype(np.float64) + delta / abs(float(f))
        sens[r] = float(np.where(abs_a == 0, 0.0, abs_a * cm * ratio).sum())
        near_boundary[r] = bool(np.any(np.abs(h[live]) <= 8 * delta))
        # There rounding can make h_k (almost) 0, so the model's coefficient
        # may be as large as R_k / eps: the worst magnitude it can then reach.
        at_boundary = live & (np.abs(h) <= 8 * delta)
        worst[r] = (
            float((np.abs(share[at_boundary]).astype(np.float64) / float(eps_abs) * cm_factorized[at_boundary]).sum())
            if at_boundary.any()
            else 0.0
        )
        # Stable where rounding of h cannot flip f's or any h_k's sign nor
        # move the soft-min shares, nor move any |h_k| across eps (absorbed
        # or not, which moves the shares of the others).
        well[r] = (
            abs(float(f)) > 8 * delta
            and bool(np.all(np.abs(h[live]) > 8 * delta))
            and bool(np.all(np.abs(np.abs(h[candidate]) - eps_abs) > 8 * delta))
            and beta * delta < 1e-3
            and not near_twin[live].any()
        )
    rel_tol = np.nan_to_num((64.0 * (d + k) * u + 8.0 * beta * h_error) * term_scale + 8.0 * sens, nan=np.inf)
    magnitude = _output_magnitude(
        logits_all, relevance, worst, term_bound, z_norm_ld, m, d
    )  # the kernel forms x - center
    return Reference(
        assigned,
        logits_all,
        logit,
        relevance,
        gap,
        h_error,
        term_bound,
        rel_tol,
        well,
        absorbed,
        near_boundary,
        magnitude,
        u,
    )


KMEANS = ModelCase("kmeans", _kmeans_make, _kmeans_draw, _kmeans_reference, own_target_bounded=True)


# --------------------------------------------------------- kernel k-means --
def _kernel_make(rng, n_clusters, n_features):
    centers = rng.normal(size=(n_clusters, n_features)) * 2.0
    labels = np.repeat(np.arange(n_clusters), 3)
    U = centers[labels] + 0.5 * rng.normal(size=(labels.size, n_features))
    return nx.NeuralizedKernelKMeans(U, labels, gamma=0.5)


def _kernel_draw(draw, n_features, scale, offset, integer):
    M = draw(st.integers(2, 7))
    K = draw(st.integers(2, min(M, 4)))
    labels = np.array(list(range(K)) + draw(st.lists(st.integers(0, K - 1), min_size=M - K, max_size=M - K)))
    unit = st.integers(-3, 3) if integer else st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=True)
    U = (
        np.asarray([draw(st.lists(unit, min_size=n_features, max_size=n_features)) for _ in range(M)], dtype=np.float64)
        * scale
        + offset
    )
    if draw(st.booleans()):  # a support vector duplicated in another cluster
        i, j = draw(st.integers(0, M - 1)), draw(st.integers(0, M - 1))
        U[j] = U[i]
    # gamma relative to the data scale (gamma * distance is what matters), and extremes.
    g = draw(st.sampled_from([1e-300, 1e-8, 0.05, 1.0, 20.0, 1e8, 1e300]))
    with np.errstate(all="ignore"):
        gamma = float(np.float64(g) / (np.float64(scale) * scale))
    gamma = gamma if np.isfinite(gamma) and gamma > 0 else g
    with np.errstate(all="ignore"):
        pool = draw(st.sampled_from([None, None, 0.25, 4.0]))
        pool = None if pool is None or not np.isfinite(pool * gamma) or pool * gamma == 0 else pool * gamma
    eps = draw(st.sampled_from([nx.kmeans.DEFAULT_EPS] * 6 + [0.0, 1e-6]))
    return nx.NeuralizedKernelKMeans(U, labels, gamma, pool, eps=eps)


def _softmin_weights(d, stiffness):
    # Weights below e^-700 of the pool's largest are 0, as in the model
    # (they change no bit of a float64 pool sum).
    t = LD(stiffness) * (d - d.min())
    w = np.where(t < 700, np.exp(-t), 0)
    return w / w.sum()


def _kernel_reference(model, X, targets, beta, dtype=np.float64):  # float64 inside for any input
    if np.bincount(model.labels).max() == 1:
        # One support vector per cluster: the model runs the fused k-means kernel
        # (float32 input in float32), so the k-means reference and its rounding
        # bounds apply, on the centroids in cluster order and the model's own eps.
        centroids = np.asarray(model.support_vectors)[np.argsort(model.labels, kind="stable")]
        return _kmeans_reference(SimpleNamespace(centroids=centroids, _core=model._core), X, targets, beta, dtype)
    with np.errstate(all="ignore"):
        return _kernel_reference_ld(model, X, targets, beta)


def _kernel_reference_ld(model, X, targets, beta):
    U = model.support_vectors.astype(LD)
    L = np.asarray(model.labels)
    gamma, pool = model.gamma, model.pool_stiffness
    Xl = np.asarray(X, dtype=LD)
    n, d = Xl.shape
    M, K = U.shape[0], model.n_clusters
    members = [np.flatnonzero(L == k) for k in range(K)]
    # Layer 1 in midpoint form: contrib[r, i, j, :] sums to h_ij = d(x, u_j) - d(x, u_i).
    contrib = (U[None, :, None, :] - U[None, None, :, :]) * (
        2 * Xl[:, None, None, :] - U[None, :, None, :] - U[None, None, :, :]
    )
    Hp = contrib.sum(-1)  # Hp[r, i, j] = d(x, u_j) - d(x, u_i), exact up to long-double rounding
    # S_k = d(x, u_{n_k}) + corr_k with n_k the nearest member of cluster k and
    # corr_k = -log(mean_j exp(-gamma Delta_j)) / gamma, Delta_j = d(x, u_j) -
    # d(x, u_{n_k}) >= 0: differences of S never subtract large distances.
    nearest = np.zeros((n, K), dtype=np.int64)
    Delta = np.zeros((n, M), dtype=LD)  # d(x, u_j) - d(x, u_{nearest of j's cluster})
    corr = np.zeros((n, K), dtype=LD)
    for r in range(n):
        for k in range(K):
            mk = members[k]
            nk = mk[np.argmax((Hp[r][np.ix_(mk, mk)] >= 0).sum(1))]
            nearest[r, k] = nk
            Delta[r, mk] = np.maximum(Hp[r, nk, mk], 0)
            # through expm1/log1p: a tiny gamma (the mean) is as exact as a huge one (the minimum)
            corr[r, k] = -np.log1p(np.mean(np.expm1(-LD(gamma) * Delta[r, mk]))) / LD(gamma)
    HS = np.zeros((n, K, K), dtype=LD)  # HS[r, c, k] = S_k - S_c
    for r in range(n):
        HS[r] = Hp[r][np.ix_(nearest[r], nearest[r])] + corr[r][None, :] - corr[r][:, None]
    off_diagonal = ~np.eye(K, dtype=bool)
    logits_all = np.where(off_diagonal[None], HS, np.inf).min(-1)
    assigned, gap = _assignment(logits_all)

    center = U.mean(0)
    P = U - center
    m = float(np.sqrt((P**2).sum(1)).max())
    Z = Xl - center
    z_norm_ld = np.sqrt((Z**2).sum(1))
    delta = (16.0 * (d + 4) * EPS64 * (z_norm_ld * LD(m) + LD(m) * m)).astype(np.float64)  # error of d(x, u_j)
    delta_S = 4 * delta + 16 * EPS64 * (np.abs(corr).max(1).astype(np.float64) if n else np.zeros(0))  # error of S_k
    eps_abs = LD(model._core.epsilon)
    tgt = assigned if targets is None else np.asarray(targets, dtype=np.int64)
    Ud = model.support_vectors
    cross = L[:, None] != L[None, :]
    twin = (Ud[:, None, :] == Ud[None, :, :]).all(-1) & cross
    near_twin = (
        (np.abs(Ud[:, None, :] - Ud[None, :, :]) <= 4 * EPS64 * (np.abs(Ud.mean(0)) + np.abs(Ud))[:, None, :]).all(-1)
        & cross
        & ~twin
    )

    relevance = np.zeros((n, d), dtype=LD)
    logit = np.zeros(n, dtype=LD)
    term_scale, term_bound, sens, absorbed, skipped, worst = (np.zeros(n) for _ in range(6))
    well = np.zeros(n, dtype=bool)
    near_boundary = np.zeros(n, dtype=bool)
    for r in range(n):
        c = int(tgt[r])
        h = HS[r, c]
        competitor = np.arange(K) != c
        q = np.zeros(M, dtype=LD)  # layer 2 weights over the target's members
        q[members[c]] = _softmin_weights(Delta[r, members[c]], pool)
        p = np.zeros(M, dtype=LD)  # layer 3 weights over each competitor's members
        for k in np.flatnonzero(competitor):
            p[members[k]] = _softmin_weights(Delta[r, members[k]], pool)
        h_ij = Hp[r]  # h_ij = d(x, u_j) - d(x, u_i)
        # The absorbing stabilizer, pool by pool: pairs with |h_ij| <= eps (and
        # twins) leave j's layer-2 pool; members left with no kept pair leave
        # their layer-3 pool; competitors left with no kept member leave the
        # layer-4 soft-min.  The others take the shares.
        in_c = L == c
        pair = in_c[:, None] & competitor[L][None, :]
        kept_pair = pair & (np.abs(h_ij) > eps_abs) & ~twin
        Q = (q[:, None] * kept_pair).sum(0)  # kept layer-2 weight of each j
        Pk = np.array([p[members[k]][Q[members[k]] > 0].sum() if competitor[k] else 0 for k in range(K)], dtype=LD)
        _, f, share = _top_layer(h, c, beta, competitor & (Pk > 0))
        logit[r] = f
        Rj = np.zeros(M, dtype=LD)  # layer 3: R_jk over every kept competitor member
        for k in np.flatnonzero(competitor & (Pk > 0)):
            mk = members[k]
            Rj[mk] = np.where(Q[mk] > 0, share[k] * p[mk] / Pk[k] / np.where(Q[mk] > 0, Q[mk], 1), 0)
        R = q[:, None] * Rj[None, :]  # R_ijk, (M, M): i in C_c, j in competitors
        a = _midpoint_coefficients(R, h_ij, kept_pair)
        den = h_ij
        maybe_absorbed = twin | near_twin | (np.abs(h_ij).astype(np.float64) <= float(eps_abs) + 8 * delta[r])
        live_pairs = pair & (q[:, None] * p[None, :] != 0)
        absorbed[r] = abs(float(f)) if maybe_absorbed[live_pairs].all() else 0.0
        relevance[r] = (a[:, :, None] * contrib[r]).sum((0, 1))
        abs_a = np.abs(a).astype(np.float64)
        az, ap = np.abs(Z[r]), np.abs(P)
        cm = ((az[None, None, :] + ap[:, None, :] + ap[None, :, :]) * np.abs(P[:, None, :] - P[None, :, :])).sum(-1)
        cm_f = (((az + ap) * ap).sum(-1)[:, None] + ((az + ap) * ap).sum(-1)[None, :]).astype(np.float64)
        cm = cm.astype(np.float64)
        term_scale[r] = float((abs_a * cm_f).sum())
        term_bound[r] = float((np.maximum(abs_a, 1.0) * cm_f * (R != 0)).sum())
        live = (R != 0) & ~twin
        ratio = delta[r] / np.abs(den).astype(np.float64) + np.float64(delta_S[r]) / abs(float(f))
        sens[r] = float(np.where(abs_a == 0, 0.0, abs_a * cm * ratio).sum())
        # Pairs the model skips: pool weights below 2^-64 of their pool's largest.
        tiny = (np.abs(R) < 2.0**-60 * abs(float(f))) & live
        skipped[r] = float((abs_a * cm)[tiny].sum()) + 2.0**-60 * abs(float(f)) * M * M
        at_boundary = live & (np.abs(h_ij).astype(np.float64) <= 8 * delta[r])
        near_boundary[r] = bool(at_boundary.any())
        worst[r] = (
            float((np.abs(R[at_boundary]).astype(np.float64) / float(eps_abs) * cm_f[at_boundary]).sum())
            if at_boundary.any()
            else 0.0
        )
        crossing = pair & ~twin & (np.abs(np.abs(h_ij) - eps_abs).astype(np.float64) <= 8 * delta[r])
        well[r] = (
            abs(float(f)) > 8 * delta_S[r]
            and not at_boundary.any()
            and not crossing.any()
            and beta * delta_S[r] < 1e-3
            and pool * delta[r] < 1e-3
            and not near_twin[live].any()
        )
    rel_tol = np.nan_to_num(
        (64.0 * (d + M) * EPS64 + 8.0 * beta * delta_S + 8.0 * pool * delta) * term_scale + 8.0 * sens + skipped,
        nan=np.inf,
    )
    absorbed += 2.0**-60 * np.abs(logit.astype(np.float64)) * M * M
    magnitude = _output_magnitude(logits_all, relevance, worst, term_bound, z_norm_ld, m, d)
    return Reference(
        assigned,
        logits_all,
        logit,
        relevance,
        gap,
        delta_S,
        term_bound,
        rel_tol,
        well,
        absorbed,
        near_boundary,
        magnitude,
    )


KERNEL_KMEANS = ModelCase("kernel_kmeans", _kernel_make, _kernel_draw, _kernel_reference)


# ------------------------------------------------- k-means behind a feature map --
# z = A x with A a signed permutation (z_i = s_i x_perm[i]): exact in floating
# point, so the model on z is the k-means case above, and the relevance of
# input feature perm[i] is the z-space relevance of feature i (NEON_SPEC.md
# section 6: B = A^T and (B v)_d (A^T w)_d = v_i w_i).  The general maps are
# tested against their own reference in test_pipeline.py.
def _signed_permutation_pipeline(inner, perm, signs):
    D = len(perm)
    A = np.zeros((D, D))
    A[np.arange(D), perm] = signs
    return nx.NeuralizedPipeline(inner, A, np.zeros(D), A.T.copy())


def _pipeline_make(rng, n_clusters, n_features):
    """Standardize-then-project, as StandardScaler -> PCA: z = V S (x - m),
    onto min(n_features, 8) orthonormal directions (the map is stored dense:
    a square one would be n_features^2)."""
    Dz = min(n_features, 8)
    V = np.linalg.qr(rng.normal(size=(n_features, Dz)))[0].T
    s = np.exp(rng.uniform(-1.0, 1.0, n_features))
    A = V * s
    inner = _kmeans_make(rng, n_clusters, Dz)
    return nx.NeuralizedPipeline(inner, A, np.zeros(Dz), V.T / s[:, None], x_center=rng.normal(size=n_features))


def _pipeline_draw(draw, n_features, scale, offset, integer):
    inner = _kmeans_draw(draw, n_features, scale, offset, integer)
    perm = np.array(draw(st.permutations(range(n_features))), dtype=np.int64)
    signs = np.array(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n_features, max_size=n_features)))
    return _signed_permutation_pipeline(inner, perm, signs)


def _pipeline_reference(model, X, targets, beta, dtype=np.float64):
    import dataclasses

    Z = np.asarray(X, dtype=np.float64) @ model.A.T  # exact: one signed entry per row of A
    ref = _kmeans_reference(model.model, Z, targets, beta, dtype)
    perm = np.argmax(np.abs(model.A), axis=1)
    relevance = np.empty_like(ref.relevance)
    relevance[:, perm] = ref.relevance
    return dataclasses.replace(ref, relevance=relevance)


def prototype_rows(model):
    """The model's prototypes as input rows (for tests that place points on
    them): centroids or support vectors, pulled back through a feature map."""
    inner = getattr(model, "model", model)
    P = inner.centroids if hasattr(inner, "centroids") else inner.support_vectors
    if inner is model:
        return P
    return (P - model.b) @ model.B.T + model.x_center


PIPELINE = ModelCase("pipeline", _pipeline_make, _pipeline_draw, _pipeline_reference, own_target_bounded=True)

MODEL_CASES = [KMEANS, KERNEL_KMEANS, PIPELINE]
MODEL_IDS = [c.name for c in MODEL_CASES]
