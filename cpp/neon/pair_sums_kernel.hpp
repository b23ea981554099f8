// The direct layer-1 pair loop of kernel k-means NEON, compiled once per
// instruction set like the k-means row kernel (kmeans_kernel.hpp): the
// portable build includes it through cauchy_sums.hpp (namespace
// neon::portable), the x86 builds compile cpp/neon/isa/pair_sums_<isa>.cpp
// with -mavx2 -mfma or -mavx512f: a kernel family of isa.hpp
// (pair_sums_kernels_for; NEON_EXT_ISA governs it as every family).
// Everything stays inside namespace neon::NEON_ISA (no inline helper from
// outside: the linker could merge an AVX copy into the portable callers).
//
// The direct loop is bound by its divisions.  Eight fixed partial sums,
// combined in a fixed order: results do not depend on where a row runs.
// The series kernels of the fast sums (cauchy_sums.hpp) work on blocks of
// four SIMD registers (isa_simd.hpp): independent chains of
// multiplications (the chain along p is serial, so one register alone
// would wait on each multiplication's latency); the last block is padded
// with zeros (weight 0 adds nothing), and the lanes are combined in a fixed
// order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "isa_unit.hpp"
#include "pair_sums_table.hpp"

namespace neon {
namespace NEON_ISA {

// Layer-1 sums of one target member i over competitor members j = 0..n-1:
// returns sum_j R_j / h_ij and adds q_i / h_ij to u[j], with h_ij = e_j - e_i;
// pairs with |h| <= eps are absorbed (contribute nothing; NEON_SPEC.md
// section 5).  Divide unconditionally and select afterwards: branch-free, so
// the loop vectorizes (1/0 -> inf is discarded).
inline double midpoint_pair_sums(double e_i, double q_i, const double* __restrict e, const double* __restrict R,
                                 double* __restrict u, std::ptrdiff_t n, double eps) {
    constexpr int kLanes = 8;
    double acc[kLanes] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    std::ptrdiff_t j = 0;
    for (; j + kLanes <= n; j += kLanes) {
        for (int l = 0; l < kLanes; ++l) {
            const double h = e[j + l] - e_i;
            const double inv = (h > eps || h < -eps) ? 1.0 / h : 0.0;
            acc[l] += R[j + l] * inv;
            u[j + l] += q_i * inv;
        }
    }
    double tail = 0.0;
    for (; j < n; ++j) {
        const double h = e[j] - e_i;
        const double inv = (h > eps || h < -eps) ? 1.0 / h : 0.0;
        tail += R[j] * inv;
        u[j] += q_i * inv;
    }
    return (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) + tail;
}

#include "isa_simd.hpp"  // Simd<S>: one SIMD register of S, per instruction set

// Entries per block of the series kernels: four registers (independent
// chains along p).
constexpr int kSeriesUnroll = 4;  // the four registers are spelt out below

// Block k of x (and w) as four registers, zero-padded past n.
inline void series_block(const double* v, std::ptrdiff_t k, std::ptrdiff_t n, typename Simd<double>::V* out) {
    using S = Simd<double>;
    constexpr int B = kSeriesUnroll * S::W;
    if (k + B <= n) {
        for (int u = 0; u < kSeriesUnroll; ++u) out[u] = S::load(v + k + u * S::W);
        return;
    }
    double padded[B];
    for (int l = 0; l < B; ++l) padded[l] = k + l < n ? v[k + l] : 0.0;
    for (int u = 0; u < kSeriesUnroll; ++u) out[u] = S::load(padded + u * S::W);
}

// out[p] = sum_k w_k x_k^p for p < P.
inline void series_power_sums(const double* __restrict x, const double* __restrict w, std::ptrdiff_t n, int P,
                              double* __restrict out) {
    using S = Simd<double>;
    using V = S::V;
    constexpr int B = kSeriesUnroll * S::W;
    V acc[kSeriesMaxTerms][kSeriesUnroll];
    for (int p = 0; p < P; ++p)
        for (int u = 0; u < kSeriesUnroll; ++u) acc[p][u] = S::zero();
    for (std::ptrdiff_t k = 0; k < n; k += B) {
        V xb[kSeriesUnroll], v[kSeriesUnroll];
        series_block(x, k, n, xb);
        series_block(w, k, n, v);
        V v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3];  // registers, not memory, along p
        for (int p = 0; p < P; ++p) {
            acc[p][0] += v0;
            acc[p][1] += v1;
            acc[p][2] += v2;
            acc[p][3] += v3;
            v0 *= xb[0];
            v1 *= xb[1];
            v2 *= xb[2];
            v3 *= xb[3];
        }
    }
    for (int p = 0; p < P; ++p) out[p] = S::sum((acc[p][0] + acc[p][1]) + (acc[p][2] + acc[p][3]));
}

// out[k] = scale[k] * sum_{p < P} c_p x_k^p, by Horner's rule (scale null: 1).
inline void series_evaluate(const double* __restrict x, const double* __restrict scale, std::ptrdiff_t n,
                            const double* __restrict c, int P, double* __restrict out) {
    using S = Simd<double>;
    using V = S::V;
    constexpr int B = kSeriesUnroll * S::W;
    for (std::ptrdiff_t k = 0; k < n; k += B) {
        V xb[kSeriesUnroll];
        series_block(x, k, n, xb);
        const V top = S::splat(c[P - 1]);
        V v0 = top, v1 = top, v2 = top, v3 = top;
        for (int p = P - 2; p >= 0; --p) {
            const V cp = S::splat(c[p]);
            v0 = v0 * xb[0] + cp;
            v1 = v1 * xb[1] + cp;
            v2 = v2 * xb[2] + cp;
            v3 = v3 * xb[3] + cp;
        }
        double values[B];
        S::store(values, v0);
        S::store(values + S::W, v1);
        S::store(values + 2 * S::W, v2);
        S::store(values + 3 * S::W, v3);
        const std::ptrdiff_t m = k + B <= n ? B : n - k;
        if (scale) {
            for (std::ptrdiff_t l = 0; l < m; ++l) out[k + l] = values[l] * scale[k + l];
        } else {
            for (std::ptrdiff_t l = 0; l < m; ++l) out[k + l] = values[l];
        }
    }
}

// The far sources of an expansion about c (PairSumsKernelTable::series_sources).
// Two passes the compiler vectorizes: an elementwise one, branch-free (1 / d
// computed everywhere and discarded where the source is not in, d may be 0
// there), then the count and the largest |x|.
inline double series_sources(const double* __restrict t, const double* __restrict R, std::ptrdiff_t n, double c,
                             double r, double ratio_limit, double eps, double* __restrict x, double* __restrict inv,
                             double* __restrict w, std::ptrdiff_t* count) {
    const double margin = 1.0 - 0x1p-48;
    for (std::ptrdiff_t k = 0; k < n; ++k) {
        const double d = t[k] - c, far = d < 0.0 ? -d : d;
        const bool in = (r <= ratio_limit * far) & ((far - r) * margin > eps);
        const double all = 1.0 / d;
        const double iv = in ? all : 0.0;
        inv[k] = iv;
        x[k] = r * iv;
        w[k] = R[k] * iv;
    }
    // |x| >= 0 orders like its bits read as an integer: an integer max
    // reduction, which vectorizes where a floating-point one would not.
    std::int64_t largest = 0, in = 0;
    for (std::ptrdiff_t k = 0; k < n; ++k) {
        in += inv[k] != 0.0;
        const std::int64_t bits = __builtin_bit_cast(std::int64_t, x[k]) & INT64_MAX;
        largest = largest > bits ? largest : bits;
    }
    *count = in;
    return __builtin_bit_cast(double, largest);
}

NEON_ISA_KERNEL_TABLE_GETTER(PairSumsKernelTable) pair_sums_kernels() {
    PairSumsKernelTable table;
    table.f64 = &midpoint_pair_sums;
    table.power_sums = &series_power_sums;
    table.evaluate_series = &series_evaluate;
    table.series_sources = &series_sources;
    table.isa = NEON_ISA_NAME;
    return table;
}

}  // namespace NEON_ISA
}  // namespace neon
