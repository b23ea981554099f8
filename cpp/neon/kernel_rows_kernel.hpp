// The dense row work of kernel k-means NEON, compiled once per instruction
// set (isa.hpp's kernel families, like kmeans_kernel.hpp): the distance
// product of a block of rows with the support vectors (float64, or float32
// for logits and predict of float32 input), the pool weights exp(-gamma
// (e - lo)) of one cluster with the soft-min's moments, the relevance
// product of a block's coefficient rows with [u | u*u], and the per-row
// compaction of the members that take part in the pair sums (and its
// inverse, which puts their coefficients back in place; AVX-512 compresses
// and expands eight members per step).  The portable build
// includes this file through kernel_rows.hpp (namespace neon::portable); the
// x86 builds compile cpp/neon/isa/kernel_rows_<isa>.cpp with -mavx2 -mfma or
// -mavx512f.  Everything stays inside namespace neon::NEON_ISA and calls
// nothing inline from outside it (see kmeans_kernel.hpp).
//
// Each row is computed with the same instructions whatever its position in a
// block (rows never share an accumulator; the products run over the
// support vectors in a fixed order), so results are bitwise identical for
// any thread count.  The products are register-tiled: a tile of support
// vectors stays in L1 while every row of the block passes over it, so the
// support vectors are read once per block, not once per row.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "isa_unit.hpp"
#include "kernel_rows_args.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>  // compress / expand (keep_members, expand_products)
#endif

namespace neon {
namespace NEON_ISA {

#include "isa_simd.hpp"  // Simd<S>, exp_minus, expm1_minus: per instruction set

using KIdx = std::ptrdiff_t;

// E[r0 + r, k0 .. k0 + NV W) for RG rows (tile_products: the accumulators
// stay in registers while i runs over the features).  E is float64 (a
// float32 product is widened as it is stored).
template <class S, int RG, int NV>
inline void support_distance_tile(const KernelRowsModelView& m, const S* UT, const S* sq, const S* Z, KIdx r0, KIdx k0,
                                  double* E) {
    using Sd = Simd<S>;
    using V = typename Sd::V;
    constexpr int W = Sd::W;
    const KIdx D = m.D, Mp = m.Mp;
    V acc[RG][NV];
    tile_products<S, RG, NV>(Z + r0 * D, D, UT + k0, Mp, D, acc);
    for (int r = 0; r < RG; ++r) {
        double* e = E + (r0 + r) * Mp + k0;
        for (int v = 0; v < NV; ++v) {
            const V d = Sd::load(sq + k0 + v * W) - S(2) * acc[r][v];
            if (std::is_same<S, double>::value) {
                std::memcpy(e + v * W, &d, sizeof d);
            } else {
                S lanes[W];
                Sd::store(lanes, d);
                for (int l = 0; l < W; ++l) e[v * W + l] = static_cast<double>(lanes[l]);
            }
        }
    }
}

// Mp is a multiple of 32, so of 2 W for every instruction set and type, and
// of 4 W for float64 on AVX-512: column tiles of NV W (4 W where the 32
// registers of AVX-512 hold the 4 x 4 accumulators: fewer broadcasts of z
// per product), rows four at a time, then one at a time.
template <class S>
inline void support_distances(const KernelRowsModelView& m, const S* UT, const S* sq, const S* Z, KIdx rows,
                              double* E) {
    constexpr int W = Simd<S>::W;
    constexpr int NV = (W == 8 && sizeof(S) == 8) ? 4 : 2;
    for (KIdx k0 = 0; k0 < m.Mp; k0 += NV * W) {
        KIdx r = 0;
        for (; r + 4 <= rows; r += 4) support_distance_tile<S, 4, NV>(m, UT, sq, Z, r, k0, E);
        for (; r < rows; ++r) support_distance_tile<S, 1, NV>(m, UT, sq, Z, r, k0, E);
    }
}

inline void distances_f64(const KernelRowsModelView& m, const double* Z, KIdx rows, double* E) {
    support_distances<double>(m, m.UT, m.sq_norm, Z, rows, E);
}

inline void distances_f32(const KernelRowsModelView& m, const float* Z, KIdx rows, double* E) {
    support_distances<float>(m, m.UT_f, m.sq_norm_f, Z, rows, E);
}

// Whether e[0 .. n) are all finite (x - x is 0 exactly for those).
inline bool all_finite(const double* e, KIdx n) {
    using Dd = Simd<double>;
    constexpr int W = Dd::W;
    Dd::V acc = Dd::zero();
    KIdx j = 0;
    for (; j + W <= n; j += W) {
        const Dd::V v = Dd::load(e + j);
        acc += v - v;
    }
    double rest = 0.0;
    for (; j < n; ++j) rest += e[j] - e[j];
    return Dd::sum(acc) + rest == 0.0;
}

// Lanes j0 .. j0 + W of e (the last vector padded with `fill`) and which of
// them are members (below n, not `skip`).
struct PoolLanes {
    Simd<double>::V e, valid;
};

inline PoolLanes pool_lanes(const double* e, KIdx n, KIdx skip, KIdx j0, double fill) {
    using Dd = Simd<double>;
    constexpr int W = Dd::W;
    double buf[W], ok[W];
    for (int l = 0; l < W; ++l) {
        const KIdx j = j0 + l;
        buf[l] = j < n ? e[j] : fill;
        ok[l] = (j < n && j != skip) ? 1.0 : 0.0;
    }
    return {Dd::load(buf), Dd::load(ok)};
}

template <int Terms>
inline void pool_weights(const double* e, KIdx n, KIdx skip, double gamma, double* w, double* sums) {
    using Dd = Simd<double>;
    using V = Dd::V;
    constexpr int W = Dd::W;
    constexpr double inf = std::numeric_limits<double>::infinity();
    const V zero = Dd::zero(), one = Dd::splat(1.0);
    // Vectors of W members with no skipped one are loaded directly.
    auto whole = [n, skip](KIdx j0) { return j0 + W <= n && (skip < j0 || skip >= j0 + W); };
    // lo and hi: the smallest and largest e over the members (exact, any
    // order).
    V lo_v = Dd::splat(inf), hi_v = Dd::splat(-inf);
    for (KIdx j0 = 0; j0 < n; j0 += W) {
        if (whole(j0)) {
            const V v = Dd::load(e + j0);
            lo_v = v < lo_v ? v : lo_v;
            hi_v = v > hi_v ? v : hi_v;
            continue;
        }
        const PoolLanes p = pool_lanes(e, n, skip, j0, inf);
        const V v = p.valid != zero ? p.e : Dd::splat(inf);
        const V u = p.valid != zero ? p.e : Dd::splat(-inf);
        lo_v = v < lo_v ? v : lo_v;
        hi_v = u > hi_v ? u : hi_v;
    }
    double lanes[W], his[W];
    Dd::store(lanes, lo_v);
    Dd::store(his, hi_v);
    double lo = inf, hi = -inf;
    for (int l = 0; l < W; ++l) {
        lo = lanes[l] < lo ? lanes[l] : lo;
        hi = his[l] > hi ? his[l] : hi;
    }
    sums[0] = lo;
    for (int k = 1; k < 7; ++k) sums[k] = 0.0;
    if (!(lo < inf)) {
        for (KIdx j = 0; j < n; ++j) w[j] = 0.0;
        return;
    }
    // w - 1 from expm1 where t <= ln 2 / 2 (no cancellation; exact elsewhere),
    // 0 from t >= 700 (below 1e-304: no bit of a sum >= 1).
    const V lo_s = Dd::splat(lo), g = Dd::splat(gamma), cut = Dd::splat(700.0);
    V total = zero, total_m1 = zero;
    // Four whole vectors at a time: four independent polynomial chains (one
    // chain alone waits on each multiply-add's latency), summed in the same
    // order as one vector at a time, so the results are the same bits.
    constexpr int U = 4;
    KIdx j0 = 0;
    for (; j0 + U * W <= n && (skip < j0 || skip >= j0 + U * W); j0 += U * W) {
        V delta[U], t[U], ew[U], ew_m1[U];
        for (int u = 0; u < U; ++u) {
            delta[u] = Dd::load(e + j0 + u * W) - lo_s;
            t[u] = g * delta[u];
            exp_minus_and_m1<Terms>(t[u] < cut ? t[u] : zero, ew[u], ew_m1[u]);
        }
        for (int u = 0; u < U; ++u) {
            const V wv = t[u] < cut ? ew[u] : zero;
            const V wm1 = t[u] < cut ? ew_m1[u] : Dd::splat(-1.0);
            Dd::store(w + j0 + u * W, wv);
            total += wv;
            total_m1 += wm1;
        }
    }
    for (; j0 < n; j0 += W) {
        const PoolLanes p = whole(j0) ? PoolLanes{Dd::load(e + j0), one} : pool_lanes(e, n, skip, j0, lo);
        const auto member = p.valid != zero;
        const V delta = member ? p.e - lo_s : zero;
        const V t = g * delta;
        V ew, ew_m1;
        exp_minus_and_m1<Terms>(t < cut ? t : zero, ew, ew_m1);
        const V wv = member ? (t < cut ? ew : zero) : zero;
        const V wm1 = member ? (t < cut ? ew_m1 : Dd::splat(-1.0)) : zero;
        if (j0 + W <= n) {
            Dd::store(w + j0, wv);
        } else {
            Dd::store(lanes, wv);
            for (KIdx j = j0; j < n; ++j) w[j] = lanes[j - j0];
        }
        total += wv;
        total_m1 += wm1;
    }
    sums[1] = Dd::sum(total);
    sums[2] = Dd::sum(total_m1);
    // The largest t is gamma (hi - lo) (t rises with e, rounding included).
    // Its moments enter the soft-min only where it is below 1e-8 (the
    // cumulant form, kernel_kmeans.hpp): a second pass there alone.
    const double t_max = gamma * (hi - lo);
    sums[6] = t_max > 0.0 ? t_max : 0.0;
    if (!(sums[6] < kMomentsBelow)) return;
    V sum_d = zero, sum_t = zero, sum_td = zero;
    for (KIdx k0 = 0; k0 < n; k0 += W) {
        const PoolLanes p = whole(k0) ? PoolLanes{Dd::load(e + k0), one} : pool_lanes(e, n, skip, k0, lo);
        const V delta = p.valid != zero ? p.e - lo_s : zero;
        const V t = g * delta;
        sum_d += delta;
        sum_t += t;
        sum_td += t * delta;
    }
    sums[3] = Dd::sum(sum_d);
    sums[4] = Dd::sum(sum_t);
    sums[5] = Dd::sum(sum_td);
}

// See KernelRowsKernelTable::weighted_within.  The count is summed as
// float64 lanes (exact below 2^53).
inline KIdx weighted_within(const double* e, const double* w, KIdx n, double lo, double hi, double eps) {
    using Dd = Simd<double>;
    using V = Dd::V;
    constexpr int W = Dd::W;
    const V zero = Dd::zero(), one = Dd::splat(1.0), lo_v = Dd::splat(lo), hi_v = Dd::splat(hi);
    const V above = Dd::splat(eps), below = Dd::splat(-eps);
    V count = zero;
    KIdx j = 0;
    for (; j + W <= n; j += W) {
        const V ev = Dd::load(e + j);
        const V weighted = Dd::load(w + j) > zero ? one : zero;
        const V outside = ev - hi_v > above ? one : (ev - lo_v < below ? one : zero);
        count += outside != zero ? zero : weighted;
    }
    double rest = 0.0;
    for (; j < n; ++j) {
        const bool weighted = w[j] > 0.0;
        rest += (weighted && !(e[j] - hi > eps) && !(e[j] - lo < -eps)) ? 1.0 : 0.0;
    }
    return static_cast<KIdx>(Dd::sum(count) + rest);
}

// See KernelRowsKernelTable::keep_members.  Every kept lane gets the same
// operations on every instruction set (R = (scale w) / (pool q): pool q = 1
// divides exactly, so the division is skipped only where it changes
// nothing), so the compacted lists are bitwise the same; AVX-512 compresses
// eight members per step, the others take them one by one.
inline KIdx keep_members(const double* e, const double* w, const double* q, KIdx n, KIdx first, double floor,
                         double scale, double pool, double c, double r, double eps, KIdx* J, double* t, double* R,
                         unsigned char* masks, bool* served) {
    // cauchy_root_serves of a source at |t - c| = far (cauchy_sums.hpp),
    // which rises with far: every kept member passes iff the nearest does.
    auto root_serves_far = [r, eps](double far) { return (r <= 0.5 * far) & ((far - r) * (1.0 - 0x1p-48) > eps); };
    KIdx count = 0;
#if defined(__AVX512F__)
    const __m512d zero = _mm512_setzero_pd(), floor_v = _mm512_set1_pd(floor), scale_v = _mm512_set1_pd(scale);
    const __m512d pool_v = _mm512_set1_pd(pool), one = _mm512_set1_pd(1.0), c_v = _mm512_set1_pd(c);
    const __m512i lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    __m512d nearest = _mm512_set1_pd(std::numeric_limits<double>::infinity());
    // Members apart from the target with the whole pool kept (q null,
    // pool 1: the usual case): q = 1 where w > 0, so floor q = floor and
    // pool q = 1 divides exactly; fewer operations, the same bits.
    const bool plain = !q && pool == 1.0;
    for (KIdx j0 = 0; j0 < n; j0 += 8) {
        const __mmask8 in = j0 + 8 <= n ? __mmask8(0xFF) : __mmask8((1u << (n - j0)) - 1u);
        const __m512d wv = _mm512_maskz_loadu_pd(in, w + j0);
        const __m512d ev = _mm512_maskz_loadu_pd(in, e + j0);
        __mmask8 keep;
        __m512d Rv = _mm512_mul_pd(scale_v, wv);
        if (plain) {
            keep = _mm512_mask_cmp_pd_mask(_mm512_cmp_pd_mask(wv, zero, _CMP_GT_OQ), wv, floor_v, _CMP_GE_OQ);
        } else {
            const __m512d qv = q ? _mm512_maskz_loadu_pd(in, q + j0)
                                 : _mm512_maskz_mov_pd(_mm512_mask_cmp_pd_mask(in, wv, zero, _CMP_GT_OQ), one);
            keep = _mm512_mask_cmp_pd_mask(_mm512_cmp_pd_mask(qv, zero, _CMP_GT_OQ), wv, _mm512_mul_pd(floor_v, qv),
                                           _CMP_GE_OQ);
            if (!(pool == 1.0 && _mm512_mask_cmp_pd_mask(keep, qv, one, _CMP_NEQ_UQ) == 0))
                Rv = _mm512_div_pd(Rv, _mm512_mul_pd(pool_v, qv));
        }
        nearest = _mm512_mask_min_pd(nearest, keep, nearest, _mm512_abs_pd(_mm512_sub_pd(ev, c_v)));
        const __m512i idx = _mm512_add_epi64(_mm512_set1_epi64(first + j0), lanes);
        if (keep == 0xFF) {  // all eight kept (the usual case): nothing to compress
            _mm512_storeu_pd(t + count, ev);
            _mm512_storeu_pd(R + count, Rv);
            _mm512_storeu_si512(J + count, idx);
        } else {  // compressed in registers, stored whole (the 8 entries of room)
            _mm512_storeu_pd(t + count, _mm512_maskz_compress_pd(keep, ev));
            _mm512_storeu_pd(R + count, _mm512_maskz_compress_pd(keep, Rv));
            _mm512_storeu_si512(J + count, _mm512_maskz_compress_epi64(keep, idx));
        }
        masks[j0 / 8] = static_cast<unsigned char>(keep);
        count += __builtin_popcount(static_cast<unsigned>(keep));
    }
    double near_lanes[8];
    _mm512_storeu_pd(near_lanes, nearest);
    double near = near_lanes[0];
    for (int l = 1; l < 8; ++l) near = near_lanes[l] < near ? near_lanes[l] : near;
    if (count > 0 && !root_serves_far(near)) *served = false;
#else
    double nearest = std::numeric_limits<double>::infinity();
    for (KIdx j0 = 0; j0 < n; j0 += 8) {
        unsigned bits = 0;
        for (KIdx j = j0; j < n && j < j0 + 8; ++j) {
            const double qj = q ? q[j] : (w[j] > 0.0 ? 1.0 : 0.0);
            if (!(qj > 0.0) || !(w[j] >= floor * qj)) continue;
            bits |= 1u << (j - j0);
            const double d = e[j] - c, far = d < 0.0 ? -d : d;
            nearest = far < nearest ? far : nearest;
            J[count] = first + j;
            t[count] = e[j];
            R[count] = (scale * w[j]) / (pool * qj);
            ++count;
        }
        masks[j0 / 8] = static_cast<unsigned char>(bits);
    }
    if (count > 0 && !root_serves_far(nearest)) *served = false;
#endif
    return count;
}

// See KernelRowsKernelTable::weighted_members (q correctly rounded on every
// instruction set: the same bits).
inline KIdx weighted_members(const double* e, const double* w, KIdx n, KIdx first, double total, KIdx* I, double* s,
                             double* q) {
    KIdx count = 0;
#if defined(__AVX512F__)
    const __m512d zero = _mm512_setzero_pd(), total_v = _mm512_set1_pd(total);
    const __m512i lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    for (KIdx j0 = 0; j0 < n; j0 += 8) {
        const __mmask8 in = j0 + 8 <= n ? __mmask8(0xFF) : __mmask8((1u << (n - j0)) - 1u);
        const __m512d wv = _mm512_maskz_loadu_pd(in, w + j0);
        const __mmask8 keep = _mm512_cmp_pd_mask(wv, zero, _CMP_GT_OQ);
        const __m512d ev = _mm512_maskz_loadu_pd(in, e + j0);
        const __m512i idx = _mm512_add_epi64(_mm512_set1_epi64(first + j0), lanes);
        const __m512d qv = _mm512_div_pd(wv, total_v);
        if (keep == 0xFF) {  // all eight weighted (the usual case)
            _mm512_storeu_pd(s + count, ev);
            _mm512_storeu_pd(q + count, qv);
            _mm512_storeu_si512(I + count, idx);
        } else {
            _mm512_storeu_pd(s + count, _mm512_maskz_compress_pd(keep, ev));
            _mm512_storeu_pd(q + count, _mm512_maskz_compress_pd(keep, qv));
            _mm512_storeu_si512(I + count, _mm512_maskz_compress_epi64(keep, idx));
        }
        count += __builtin_popcount(static_cast<unsigned>(keep));
    }
#else
    for (KIdx j = 0; j < n; ++j) {
        if (!(w[j] > 0.0)) continue;
        I[count] = first + j;
        s[count] = e[j];
        q[count] = w[j] / total;
        ++count;
    }
#endif
    return count;
}

// See KernelRowsKernelTable::expand_products.
inline void expand_products(const unsigned char* masks, KIdx n, const double* R, const double* u, double* a) {
    KIdx k = 0;
    for (KIdx j0 = 0; j0 < n; j0 += 8) {
        const unsigned bits = masks[j0 / 8];
        const int kept = __builtin_popcount(bits);
#if defined(__AVX512F__)
        const __mmask8 in = j0 + 8 <= n ? __mmask8(0xFF) : __mmask8((1u << (n - j0)) - 1u);
        const __mmask8 first_kept = static_cast<__mmask8>((1u << kept) - 1u);
        const __m512d v =
            _mm512_mul_pd(_mm512_maskz_loadu_pd(first_kept, R + k), _mm512_maskz_loadu_pd(first_kept, u + k));
        _mm512_mask_storeu_pd(a + j0, in, bits == 0xFF ? v : _mm512_maskz_expand_pd(static_cast<__mmask8>(bits), v));
#else
        KIdx p = k;
        for (KIdx j = j0; j < n && j < j0 + 8; ++j) {
            const bool kept_j = (bits >> (j - j0)) & 1u;
            a[j] = kept_j ? R[p] * u[p] : 0.0;
            p += kept_j;
        }
#endif
        k += kept;
    }
}

// G[r0 + r, c0 .. c0 + NV W) += sum_{t0 <= t < t1} A[r0 + r, t] PP[t, ...]
// for RB rows (`first`: the panel starts the sum, G is not read).
template <int RB, int NV>
inline void relevance_tile(const KernelRowsModelView& m, const double* A, KIdx a_stride, KIdx r0, KIdx t0, KIdx t1,
                           KIdx c0, bool first, double* G) {
    using Dd = Simd<double>;
    using V = Dd::V;
    constexpr int W = Dd::W;
    const KIdx Dp2 = m.Dp2;
    V acc[RB][NV];
    for (int r = 0; r < RB; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = first ? Dd::zero() : Dd::load(G + (r0 + r) * Dp2 + c0 + v * W);
    const double* a = A + r0 * a_stride;
    // PP in column chunks (KernelRowsModelView::PP): the chunk holding c0.
    const KIdx chunk = c0 / kPackedChunk * kPackedChunk;
    const KIdx width = Dp2 - chunk < kPackedChunk ? Dp2 - chunk : kPackedChunk;
    const double* column = m.PP + chunk * m.M + (c0 - chunk);
    for (KIdx t = t0; t < t1; ++t) {
        const double* pp = column + t * width;
        V p[NV];
        for (int v = 0; v < NV; ++v) p[v] = Dd::load(pp + v * W);
        for (int r = 0; r < RB; ++r) {
            const double at = a[r * a_stride + t];
            for (int v = 0; v < NV; ++v) acc[r][v] += at * p[v];
        }
    }
    for (int r = 0; r < RB; ++r)
        for (int v = 0; v < NV; ++v) Dd::store(G + (r0 + r) * Dp2 + c0 + v * W, acc[r][v]);
}

template <int NV>
inline void relevance_columns(const KernelRowsModelView& m, const double* A, KIdx a_stride, KIdx rows, KIdx t0, KIdx t1,
                              KIdx c0, double* G) {
    constexpr int RB = Simd<double>::W >= 8 ? 4 : 2;  // AVX-512: 32 registers
    KIdx r = 0;
    for (; r + RB <= rows; r += RB) relevance_tile<RB, NV>(m, A, a_stride, r, t0, t1, c0, t0 == 0, G);
    for (; r < rows; ++r) relevance_tile<1, NV>(m, A, a_stride, r, t0, t1, c0, t0 == 0, G);
}

// Panels of 128 support vectors (128 x Dp2 doubles of PP: 128 KiB at
// D = 64, in L2), each taken by every row of the block in column chunks of
// 4 vectors (whose 128 rows stay in L1: contiguous in PP's chunked layout;
// with [u | u*u] rows of 1 KiB, a column chunk of 128 rows fell into a
// sixteenth of L1's sets and was read again from L2 by every group of
// rows).  Dp2 is a multiple of 16, so of W.
inline void relevance_product(const KernelRowsModelView& m, const double* A, KIdx a_stride, KIdx rows, double* G) {
    constexpr int W = Simd<double>::W;
    constexpr KIdx kPanel = 128;
    for (KIdx t0 = 0; t0 < m.M; t0 += kPanel) {
        const KIdx t1 = t0 + kPanel < m.M ? t0 + kPanel : m.M;
        KIdx c0 = 0;
        for (; c0 + 4 * W <= m.Dp2; c0 += 4 * W) relevance_columns<4>(m, A, a_stride, rows, t0, t1, c0, G);
        for (; c0 < m.Dp2; c0 += W) relevance_columns<1>(m, A, a_stride, rows, t0, t1, c0, G);
    }
}

NEON_ISA_KERNEL_TABLE_GETTER(KernelRowsKernelTable) kernel_rows_kernels() {
    KernelRowsKernelTable table;
    table.distances_f64 = &distances_f64;
    table.distances_f32 = &distances_f32;
    table.pool_weights = &pool_weights<kExpTermsFloat64>;
    table.pool_weights_f32 = &pool_weights<kExpTermsFloat32>;
    table.weighted_within = &weighted_within;
    table.keep_members = &keep_members;
    table.weighted_members = &weighted_members;
    table.expand_products = &expand_products;
    table.relevance_product = &relevance_product;
    table.all_finite = &all_finite;
    table.isa = NEON_ISA_NAME;
    return table;
}

}  // namespace NEON_ISA
}  // namespace neon
