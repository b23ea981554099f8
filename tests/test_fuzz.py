"""Property-based tests of the public API of every neuralized model.

Random shapes (N = 0, D = 1, K = 2, K > N), dtypes, memory layouts, value
regimes (exact ties, large offsets, tiny, subnormal, huge, near the float64
limit) and stiffness extremes. Each call either returns finite results that
match a long-double reference and conserve the logit, or raises one of the
documented exceptions, and then only for inputs whose results truly leave the
representable range. Run ``pytest tests/test_fuzz.py --hypothesis-show-statistics``
to see how many examples ran.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from model_factories import LONG_DOUBLE_WIDE, MODEL_CASES, MODEL_IDS, prototype_rows

# The ValueErrors the API documents for finite-but-unrepresentable and non-finite input.
DOCUMENTED_VALUE_ERRORS = re.compile(
    "NaN or infinity|outside the supported range|too far from the|is not finite in float"
)
# NEON_FUZZ_EXAMPLES=20000 for a long hunt; the default keeps this file to seconds.
FUZZ = settings(
    max_examples=int(os.environ.get("NEON_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# name: (prototype scale, prototype offset, scale of the random rows around them)
REGIMES = {
    "unit": (1.0, 0.0, 3.0),
    "integers": (1.0, 0.0, 3.0),  # small integers: exact ties, duplicate centroids, exact midpoints
    "offset": (1e-2, 1e8, 3e-2),  # far from the origin: cancellation unless centred
    "scaled": None,  # scale 2**e, |e| <= 450 (about 1e+-135): inside the supported range
    "far": None,  # rows up to 1e300 away from unit prototypes
    "subnormal": (1.0, 0.0, 1e-310),  # rows of subnormal numbers
    "extreme": None,  # anything finite, up to 1.8e308
}
BETAS = [None, None, 0.5, 1e-300, 5e-324, 1e-8, 1e8, 1e300, 1.7976931348623157e308]


def _documented(exc: Exception) -> bool:
    return bool(DOCUMENTED_VALUE_ERRORS.search(str(exc)))


@st.composite
def problems(draw, case):
    regime = draw(st.sampled_from(sorted(REGIMES)))
    D = draw(st.integers(1, 5))
    if regime == "scaled":
        s = 2.0 ** draw(st.integers(-450, 450))
        scale, offset, x_scale = s, 0.0, 3 * s
    elif regime == "far":
        scale, offset, x_scale = 1.0, 0.0, 10.0 ** draw(st.integers(0, 300))
    elif regime == "extreme":
        scale = draw(st.sampled_from([1.0, 1e150, 1e300, 1.7e308, 1e-150, 1e-300]))
        offset, x_scale = 0.0, draw(st.sampled_from([1.0, 1e300, 1.7e308]))
    else:
        scale, offset, x_scale = REGIMES[regime]
    integer = regime == "integers"
    try:
        model = case.draw(draw, D, scale, offset, integer)
    except ValueError as exc:  # prototypes outside the supported range of scales
        return regime, exc, None, None
    C = prototype_rows(model)  # rows to copy
    N = draw(st.integers(0, 7))
    rows = []
    for _ in range(N):
        kind = draw(st.sampled_from(["random", "random", "prototype", "midpoint"]))
        if kind == "random":
            if integer:
                values = draw(st.lists(st.integers(-4, 4), min_size=D, max_size=D))
            else:
                values = draw(st.lists(st.floats(-1, 1, allow_subnormal=True), min_size=D, max_size=D))
            rows.append(np.asarray(values, dtype=np.float64) * (1.0 if integer else x_scale) + offset)
        elif kind == "prototype":
            rows.append(C[draw(st.integers(0, len(C) - 1))].copy())
        else:
            i, j = draw(st.integers(0, len(C) - 1)), draw(st.integers(0, len(C) - 1))
            rows.append(C[i] / 2 + C[j] / 2)  # no overflow near the float64 limit
    X = np.asarray(rows, dtype=np.float64).reshape(N, D)
    return regime, None, model, X


def _in_dtype(X, dtype):
    """X's values in `dtype` (clipped to its range, so the cast never overflows)."""
    if dtype == np.bool_:
        return X > 0
    info = np.finfo(dtype) if np.issubdtype(dtype, np.floating) else np.iinfo(dtype)
    return np.clip(X, info.min, info.max).astype(dtype)


def _in_layout(X, layout):
    """An array with X's values (and dtype) in the given memory layout."""
    if layout == "fortran":
        return np.asfortranarray(X)
    if layout == "negative_rows":
        return X[::-1].copy()[::-1]
    if layout == "negative_cols":
        return X[:, ::-1].copy()[:, ::-1]
    if layout == "strided":
        big = np.zeros((2 * X.shape[0] + 1, 2 * X.shape[1] + 1), dtype=X.dtype)
        big[1::2, 1::2] = X
        return big[1::2, 1::2]
    if layout == "readonly":
        a = X.copy()
        a.setflags(write=False)
        return a
    if layout == "byteswapped":
        return X.astype(X.dtype.newbyteorder())
    if layout == "list":
        return X.tolist()
    return X


def _working_dtype(dtype):
    return np.float32 if dtype in (np.float32, np.float16) else np.float64


@pytest.mark.parametrize("case", MODEL_CASES, ids=MODEL_IDS)
@FUZZ
@given(data=st.data())
def test_explain_is_finite_exact_and_conservative_or_raises_documented_error(case, data):
    regime, build_error, model, X = data.draw(problems(case))
    event(f"regime {regime}")
    if build_error is not None:
        assert isinstance(build_error, ValueError) and _documented(build_error), build_error
        event("documented error: prototypes")
        return
    print(
        "model state:",
        {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in model.__getstate__().items()},
        "X:",
        X.tolist(),
    )  # shown for a failing example
    N, D = X.shape
    dtypes = [np.float64, np.float32, np.float16]
    if regime == "integers":
        dtypes += [np.int64, np.int32, np.int8, np.bool_]
    dtype = data.draw(st.sampled_from(dtypes))
    layouts = ["C", "fortran", "negative_rows", "negative_cols", "strided", "readonly", "byteswapped"]
    layout = data.draw(st.sampled_from(layouts + ["list"] if N else layouts))
    Xd = _in_dtype(X, dtype)
    if layout == "list":  # nested lists of Python numbers become float64
        Xd = Xd.astype(np.float64)
        dtype = np.float64
    Xw = Xd.astype(_working_dtype(dtype))  # what the model computes on
    K = model.n_clusters
    target = data.draw(
        st.one_of(
            st.none(), st.integers(0, K - 1), st.lists(st.integers(0, K - 1), min_size=N, max_size=N).map(np.asarray)
        )
    )
    beta = data.draw(st.sampled_from(BETAS))
    n_threads = data.draw(st.sampled_from([None, 1, 2]))
    event(f"dtype {np.dtype(dtype).name}")

    try:
        e = model.explain(_in_layout(Xd, layout), target, beta=beta, n_threads=n_threads)
    except ValueError as exc:
        assert _documented(exc), exc
        if LONG_DOUBLE_WIDE:
            ref = case.reference(
                model, Xw.astype(np.float64), _per_row(target, N), _beta_used(model, Xw, beta), Xw.dtype
            )
            assert not _expect_representable(model, ref, Xw.dtype), f"{exc} for representable results"
        event("documented error: results")
        return

    wdtype = np.dtype(_working_dtype(dtype))
    assert e.relevance.shape == (N, D) and e.relevance.dtype == wdtype
    assert e.logit.shape == (N,) and e.logit.dtype == wdtype
    assert e.assigned.dtype == np.int64 and e.target.dtype == np.int64
    assert np.isfinite(e.relevance).all() and np.isfinite(e.logit).all()
    assert np.isfinite(e.beta) and e.beta > 0
    assert ((0 <= e.assigned) & (e.assigned < K)).all()
    if target is not None:
        np.testing.assert_array_equal(e.target, _per_row(target, N))
    else:
        np.testing.assert_array_equal(e.target, e.assigned)

    # Layout, byte order, read-only-ness and list input change nothing, bit for bit.
    if layout != "C":
        e_c = model.explain(Xd, target, beta=beta, n_threads=n_threads)
        assert e_c.beta == e.beta
        np.testing.assert_array_equal(e_c.relevance, e.relevance)
        np.testing.assert_array_equal(e_c.logit, e.logit)

    if not LONG_DOUBLE_WIDE or N == 0:
        return
    _check_against_reference(case, model, Xw, e)


def _per_row(target, n):
    if target is None:
        return None
    return np.broadcast_to(np.asarray(target, dtype=np.int64), (n,))


def _beta_used(model, X, beta):
    if beta is not None:
        return beta
    try:
        return model.beta_heuristic(X)
    except ValueError:  # the logits themselves are out of range
        return 1.0


def _expect_representable(model, ref, dtype) -> bool:
    """Whether every intermediate and result fits comfortably in `dtype`."""
    limit = float(np.finfo(dtype).max) * 1e-6
    return ref.magnitude < min(limit, 1e300)


def _check_against_reference(case, model, Xw, e):
    ref = case.reference(model, Xw.astype(np.float64), e.target, e.beta, Xw.dtype)
    with np.errstate(over="ignore"):  # an infinite bound is no bound (beta = 1e308)
        _compare(case, model, Xw, e, ref)


def _compare(case, model, Xw, e, ref):
    event("compared with reference")
    out_eps = float(np.finfo(Xw.dtype).eps)
    # Results below the smallest normal number round to multiples of the smallest subnormal.
    tiny = 4.0 * (Xw.shape[1] + 1) * float(np.finfo(Xw.dtype).smallest_subnormal)
    # Rows whose assignment is clear beyond rounding get the reference's cluster.
    clear = ref.gap > 8 * ref.h_error
    np.testing.assert_array_equal(e.assigned[clear], ref.assigned[clear])
    # Logits of the target: exact up to the rounding of squared distances.
    logit_ref = ref.logit.astype(np.float64)
    err = np.abs(e.logit.astype(np.float64) - logit_ref)
    assert (err <= 8 * ref.h_error + 2 * out_eps * np.abs(logit_ref) + tiny).all(), (err, ref.h_error)
    # Relevance: matches the reference wherever it is a stable function of x.
    R_ref = ref.relevance.astype(np.float64)
    R = e.relevance.astype(np.float64)
    tol = ref.rel_tol[:, None] + 2 * out_eps * np.abs(R_ref) + tiny
    well = ref.well_conditioned
    assert (np.abs(R - R_ref)[well] <= tol[well]).all(), (R[well], R_ref[well], tol[well])
    # Conservation: sum_i R_i = f up to rounding and what the stabilizer absorbs.
    defect = np.abs(R.sum(1) - e.logit.astype(np.float64))
    rounding = out_eps * (np.abs(R).sum(1) + np.abs(e.logit)) * 4
    # The assigned cluster's coefficients are bounded for k-means (|R_k / h_k| <= 1):
    # conservation holds there even where the relevance is ill-conditioned.
    own = (e.target == e.assigned) & case.own_target_bounded
    bound_own = (
        64 * ref.unit_roundoff * (Xw.shape[1] + model.n_clusters) * ref.term_bound + model._core.epsilon + ref.absorbed
    )
    assert (defect[own] <= (bound_own + rounding)[own] + tiny).all(), (defect, bound_own)
    other = ~own & well
    bound_other = (
        ref.rel_tol * Xw.shape[1] + ref.absorbed * (1 + 1e-12) + 8 * ref.h_error
    )  # absorbed: of f, +- f's error
    assert (defect[other] <= (bound_other + rounding)[other] + tiny).all(), (defect, bound_other)


# ---------------------------------------------------------------- dtypes --
BAD_DTYPES = [
    (np.array([[1.0, 2.0]], dtype=object), "real numbers"),
    (np.array([[1 + 2j, 2.0]]), "real numbers"),
    (np.array([["a", "b"]]), "real numbers"),
    (np.array([[1, 2]], dtype="datetime64[s]"), "real numbers"),
    (np.array([[1, 2]], dtype="timedelta64[s]"), "real numbers"),
    (np.ones((1, 2), dtype=np.longdouble), "use float32 or float64"),
]


@pytest.mark.parametrize("case", MODEL_CASES, ids=MODEL_IDS)
@pytest.mark.parametrize("bad, match", BAD_DTYPES, ids=lambda v: getattr(v, "dtype", v))
def test_non_real_dtypes_are_a_type_error(case, bad, match):
    model = case.make(np.random.default_rng(0), 3, 2)
    for method in (model.explain, model.predict, model.logits):
        with pytest.raises(TypeError, match=match):
            method(bad)


@pytest.mark.parametrize("case", MODEL_CASES, ids=MODEL_IDS)
@FUZZ
@given(data=st.data())
def test_nan_and_inf_are_a_value_error_naming_the_first_bad_row(case, data):
    model = case.make(np.random.default_rng(1), 3, 4)
    N = data.draw(st.integers(1, 3000))
    dtype = data.draw(st.sampled_from([np.float64, np.float32, np.float16]))
    X = np.random.default_rng(N).normal(size=(N, 4)).astype(dtype)
    bad_rows = sorted(set(data.draw(st.lists(st.integers(0, N - 1), min_size=1, max_size=4))))
    for r in bad_rows:
        X[r, data.draw(st.integers(0, 3))] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    method = data.draw(st.sampled_from(["explain", "predict", "logits", "beta_heuristic"]))
    n_threads = data.draw(st.sampled_from([None, 1, 2]))
    kwargs = {"beta": 1.0} if method == "explain" else {}
    with pytest.raises(ValueError, match=rf"NaN or infinity \(first at row {bad_rows[0]}\)"):
        getattr(model, method)(X, n_threads=n_threads, **kwargs)


@pytest.mark.parametrize("case", MODEL_CASES, ids=MODEL_IDS)
@pytest.mark.parametrize("beta", [1e-300, 5e-324, 1e300, 1.7976931348623157e308])
def test_extreme_beta_gives_finite_conservative_limits(case, beta):
    """beta -> 0: even split over competitors; beta -> inf: all to the nearest one."""
    rng = np.random.default_rng(2)
    model = case.make(rng, 4, 3)
    X = rng.normal(size=(50, 3)) * 2
    e = model.explain(X, beta=beta)
    assert np.isfinite(e.relevance).all() and np.isfinite(e.logit).all()
    # (the stabilizer absorbs ~eps * scale / |h| of pairs with small h: 1e-8 here)
    np.testing.assert_allclose(e.relevance.sum(1), e.logit, rtol=1e-7, atol=1e-9)
    ref = model.explain(X, beta=1e-12 if beta < 1 else 1e12)
    np.testing.assert_allclose(e.relevance, ref.relevance, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", MODEL_CASES, ids=MODEL_IDS)
@pytest.mark.parametrize("beta", [0.0, -1.0, np.nan, np.inf, -np.inf])
def test_invalid_beta_is_a_value_error(case, beta):
    model = case.make(np.random.default_rng(3), 3, 2)
    with pytest.raises(ValueError, match="beta=.* must be a finite number > 0"):
        model.explain(np.zeros((2, 2)), beta=beta)


@pytest.mark.parametrize("case", MODEL_CASES, ids=MODEL_IDS)
@FUZZ
@given(data=st.data())
def test_predict_logits_and_explain_agree(case, data):
    """The three entry points compute the same model, whatever the shapes."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    K = data.draw(st.integers(2, 6))
    D = data.draw(st.integers(1, 6))
    N = data.draw(st.integers(0, 12))
    model = case.make(rng, K, D)
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    X = (rng.normal(size=(N, D)) * 3).astype(dtype)
    assigned = model.predict(X)
    L = model.logits(X)
    e = model.explain(X, beta=1.0)
    assert L.shape == (N, K) and L.dtype == dtype
    np.testing.assert_array_equal(assigned, e.assigned)
    np.testing.assert_array_equal(L[np.arange(N), assigned], e.logit)
    assert (L[np.arange(N), assigned] >= 0).all()
    assert (np.sum(L > 0, axis=1) <= 1).all()


def test_a_model_case_exists_for_every_exported_model():
    """New neuralized models must join the reliability tests (tests/model_factories.py)."""
    import neon_ext as nx

    exported = {n for n in nx.__all__ if n.startswith("Neuralized")}
    covered = {type(c.make(np.random.default_rng(0), 2, 2)).__name__ for c in MODEL_CASES}
    assert exported <= covered, f"add a ModelCase for {sorted(exported - covered)}"
