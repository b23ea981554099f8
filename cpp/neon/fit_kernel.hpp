// The row kernels of k-means fitting (the arguments and the table are in
// fit_kernel_args.hpp): the Lloyd pass (centre a sub-block of rows, register-
// tiled distance products against all centres fused with the nearest-centre
// search, then booking of labels, distances and float64 cluster sums), the
// squared distances of k-means++ seeding, the weighted moments and the
// float64 inertia under given labels.
//
// Compiled once per instruction set like kmeans_kernel.hpp (isa.hpp): with
// the build's own flags in namespace neon::portable, and in
// cpp/neon/isa/fit_<isa>.cpp with -mavx2 -mfma / -mavx512f.  Everything
// here stays inside namespace neon::NEON_ISA and calls nothing inline from
// outside it: an inline function compiled with AVX instructions in one
// object and without in another is one symbol to the linker.
//
// Determinism: a row's result does not depend on where it sits in a block
// (lanes never interact except in fixed-order reductions), and each call
// books its rows in order, so results are identical for any thread count.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "fit_kernel_args.hpp"
#include "isa_unit.hpp"

namespace neon {
namespace NEON_ISA {

#include "isa_simd.hpp"  // Simd<S>: one SIMD register of S, per instruction set

namespace fit {

using Idx = std::ptrdiff_t;

// Sum of the N lanes of v, always in the same order: halves added
// pairwise (log2 N vector additions, not a chain of N scalar ones).
template <class S, int N>
struct Lanes {
#if NEON_VECTOR_EXTENSIONS
    typedef S V __attribute__((vector_size(N * sizeof(S))));
#else
    typedef S V;
#endif
};

template <class S, int N>
inline S lane_sum(const typename Lanes<S, N>::V& v) {
    if constexpr (N <= 2) {
        S a[2];
        std::memcpy(a, &v, N * sizeof(S));
        return N == 2 ? a[0] + a[1] : a[0];
    } else {
        using H = typename Lanes<S, N / 2>::V;
        H lo, hi;
        std::memcpy(&lo, &v, sizeof lo);
        std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
        return lane_sum<S, N / 2>(lo + hi);
    }
}

// Rows [r0, r0 + rows) of X minus the origin into Z (Dp columns, padding 0)
// and, when z_sq is given, their squared norms (in S, stored as float64);
// rows up to `padded` are zero (they fill the last 4-row group and are
// never booked).  X is not checked here: a fit checks it once, in its
// moments pass.
template <class T, class S>
void centre_rows(const FitRows<T>& X, const FitPrototypesView<S>& P, Idx r0, Idx rows, Idx padded, S* Z, double* z_sq) {
    using Vs = Simd<S>;
    using V = typename Vs::V;
    const Idx D = P.D, Dp = P.Dp, cs = X.col_stride;
    const S* __restrict origin = P.origin;
    for (Idx r = 0; r < rows; ++r) {
        const T* __restrict x = X.X + (r0 + r) * X.row_stride;
        S* __restrict z = Z + r * Dp;
        if (cs == 1) {
            for (Idx i = 0; i < D; ++i) z[i] = static_cast<S>(x[i]) - origin[i];
        } else {
            for (Idx i = 0; i < D; ++i) z[i] = static_cast<S>(x[i * cs]) - origin[i];
        }
        for (Idx i = D; i < Dp; ++i) z[i] = S(0);
        if (!z_sq) continue;
        V acc = V{};
        for (Idx i = 0; i < Dp; i += Vs::W) {
            const V v = Vs::load(z + i);
            acc += v * v;
        }
        z_sq[r] = static_cast<double>(lane_sum<S, Vs::W>(acc));
    }
    for (Idx r = rows; r < padded; ++r) {
        for (Idx i = 0; i < Dp; ++i) Z[r * Dp + i] = S(0);
        if (z_sq) z_sq[r] = 0.0;
    }
}

// acc[r][v] = lanes k0 + v W .. of z_r . (-2 P^T) for 4 rows of Z (Dp
// apart), summed over the features in S.  Eight independent accumulator
// chains hide the FMA latency: 4 rows x 2 vectors, or for a single vector
// 4 rows x even / odd features (added at the end).  Each step loads the
// vectors of -2 P^T once for the 4 rows and broadcasts one z per row; 4
// row pointers (not 8) leave the general registers free for addressing.
template <class S, int NV>
inline void product_tile(const FitPrototypesView<S>& P, const S* Z, Idx k0, typename Simd<S>::V (&acc)[4][NV]) {
    static_assert(NV == 1 || NV == 2, "one or two vectors of columns");
    using Vs = Simd<S>;
    using V = typename Vs::V;
    const S* z0 = Z;
    const S* z1 = Z + P.Dp;
    const S* z2 = Z + 2 * P.Dp;
    const S* z3 = Z + 3 * P.Dp;
    const S* pt = P.PT2 + k0;
    const Idx D = P.D, Kp = P.Kp;
    V a[4][2];
    for (int r = 0; r < 4; ++r) a[r][0] = a[r][1] = V{};
    Idx i = 0;
    if constexpr (NV == 2) {
        for (; i < D; ++i, pt += Kp) {
            const V p0 = Vs::load(pt), p1 = Vs::load(pt + Vs::W);
            a[0][0] += z0[i] * p0;
            a[0][1] += z0[i] * p1;
            a[1][0] += z1[i] * p0;
            a[1][1] += z1[i] * p1;
            a[2][0] += z2[i] * p0;
            a[2][1] += z2[i] * p1;
            a[3][0] += z3[i] * p0;
            a[3][1] += z3[i] * p1;
        }
        for (int r = 0; r < 4; ++r) {
            acc[r][0] = a[r][0];
            acc[r][NV - 1] = a[r][1];
        }
    } else {
        for (; i + 1 < D; i += 2, pt += 2 * Kp) {
            const V p0 = Vs::load(pt), p1 = Vs::load(pt + Kp);
            a[0][0] += z0[i] * p0;
            a[0][1] += z0[i + 1] * p1;
            a[1][0] += z1[i] * p0;
            a[1][1] += z1[i + 1] * p1;
            a[2][0] += z2[i] * p0;
            a[2][1] += z2[i + 1] * p1;
            a[3][0] += z3[i] * p0;
            a[3][1] += z3[i + 1] * p1;
        }
        if (i < D) {
            const V p0 = Vs::load(pt);
            a[0][0] += z0[i] * p0;
            a[1][0] += z1[i] * p0;
            a[2][0] += z2[i] * p0;
            a[3][0] += z3[i] * p0;
        }
        for (int r = 0; r < 4; ++r) acc[r][0] = a[r][0] + a[r][1];
    }
}

// Folds one tile's offsets e = ||p||^2 - 2 z.p into each lane's running
// minimum: strictly smaller wins, so each lane keeps its lowest column
// among equal values (columns are visited in increasing order).
template <class S>
inline void fold_min(const typename Simd<S>::V& e, const typename Simd<S>::V& col, typename Simd<S>::V& best,
                     typename Simd<S>::V& index) {
    const auto smaller = e < best;
    best = smaller ? e : best;
    index = smaller ? col : index;
}

// The smallest of the N lanes of v and, among equal values, the lowest of
// the matching lanes of c: halves compared pairwise, as in lane_sum.

template <class S, int N>
inline void lane_min(const typename Lanes<S, N>::V& v, const typename Lanes<S, N>::V& c, S& best, S& index) {
    if constexpr (N <= 2) {
        S a[2], b[2];
        std::memcpy(a, &v, N * sizeof(S));
        std::memcpy(b, &c, N * sizeof(S));
        const bool take = N == 2 && (a[N - 1] < a[0] || (a[N - 1] == a[0] && b[N - 1] < b[0]));
        best = take ? a[N - 1] : a[0];
        index = take ? b[N - 1] : b[0];
    } else {
        using H = typename Lanes<S, N / 2>::V;
        H vl, vh, cl, ch;
        std::memcpy(&vl, &v, sizeof vl);
        std::memcpy(&vh, reinterpret_cast<const char*>(&v) + sizeof vl, sizeof vh);
        std::memcpy(&cl, &c, sizeof cl);
        std::memcpy(&ch, reinterpret_cast<const char*>(&c) + sizeof cl, sizeof ch);
        const auto take = (vh < vl) | ((vh == vl) & (ch < cl));
        lane_min<S, N / 2>(take ? vh : vl, take ? ch : cl, best, index);
    }
}

// Nearest centre of 4 rows of Z: best[r] = min_k ||p_k||^2 - 2 z_r . p_k
// (the squared distance minus ||z_r||^2) and index[r] its k, ties to the
// lowest k.  Column tiles of two vectors, then at most one of one vector.
template <class S>
inline void nearest4(const FitPrototypesView<S>& P, const S* Z, S* best, S* index) {
    using Vs = Simd<S>;
    using V = typename Vs::V;
    constexpr int W = Vs::W;
    const V iota = Vs::iota();
    V bv[4], bi[4];
    for (int r = 0; r < 4; ++r) {
        bv[r] = Vs::splat(std::numeric_limits<S>::infinity());
        bi[r] = V{};
    }
    Idx k0 = 0;
    for (; k0 + 2 * W <= P.Kp; k0 += 2 * W) {
        V acc[4][2];
        product_tile<S, 2>(P, Z, k0, acc);
        const V s0 = Vs::load(P.sq_norm + k0), s1 = Vs::load(P.sq_norm + k0 + W);
        const V c0 = iota + static_cast<S>(k0), c1 = iota + static_cast<S>(k0 + W);
        for (int r = 0; r < 4; ++r) {
            fold_min<S>(acc[r][0] + s0, c0, bv[r], bi[r]);
            fold_min<S>(acc[r][1] + s1, c1, bv[r], bi[r]);
        }
    }
    if (k0 < P.Kp) {
        V acc[4][1];
        product_tile<S, 1>(P, Z, k0, acc);
        const V s0 = Vs::load(P.sq_norm + k0), c0 = iota + static_cast<S>(k0);
        for (int r = 0; r < 4; ++r) fold_min<S>(acc[r][0] + s0, c0, bv[r], bi[r]);
    }
    for (int r = 0; r < 4; ++r) lane_min<S, W>(bv[r], bi[r], best[r], index[r]);
}

// One Lloyd pass over rows [r_begin, r_end): see FitKernelTable.
template <class T, class S>
void lloyd_rows(const FitPrototypesView<S>& P, const FitRows<T>& X, const LloydJob& job, Idx r_begin, Idx r_end,
                const FitScratchView<S>& s, const LloydPartials& out) {
    constexpr Idx SB = kFitSubBlockRows;
    static_assert(SB % 4 == 0, "sub-blocks are whole 4-row groups");
    const Idx D = P.D, cs = X.col_stride;
    S best[SB], index[SB];
    for (Idx b0 = r_begin; b0 < r_end; b0 += SB) {
        const Idx rows = (r_end - b0 < SB) ? r_end - b0 : SB;
        const Idx padded = (rows + 3) / 4 * 4;
        centre_rows(X, P, b0, rows, padded, s.Z, job.dist ? s.z_sq : nullptr);
        for (Idx g = 0; g < padded; g += 4) nearest4(P, s.Z + g * P.Dp, best + g, index + g);
        for (Idx r = 0; r < rows; ++r) {
            const Idx row = b0 + r;
            const std::int64_t k = static_cast<std::int64_t>(index[r]);
            const double wr = X.w[row];
            if (job.labels[row] != k) {
                // Rows without weight move no centre: their changes do not
                // count against convergence (weight 0 is the same as no row).
                if (wr != 0.0) out.scalars[1] += 1.0;
                job.labels[row] = k;
            }
            if (job.dist) {
                double d = static_cast<double>(best[r]) + s.z_sq[r];
                d = d < 0.0 ? 0.0 : d;
                job.dist[row] = d;
                out.scalars[0] += wr * d;
            }
            if (!job.update || wr == 0.0) continue;
            double* __restrict acc = out.sums + k * D;
            const T* __restrict x = X.X + row * X.row_stride;
            if (job.sum_origin == nullptr && cs == 1) {
                for (Idx i = 0; i < D; ++i) acc[i] += wr * static_cast<double>(x[i]);
            } else {
                const double* __restrict so = job.sum_origin;
                for (Idx i = 0; i < D; ++i) acc[i] += wr * (static_cast<double>(x[i * cs]) - (so ? so[i] : 0.0));
            }
            out.weight[k] += wr;
            out.count[k] += 1.0;
        }
    }
}

// Squared distances of rows [r_begin, r_end) to the K prototypes:
// out[j * ld + r - r_begin] = max(||p_j||^2 - 2 z.p_j + ||z||^2, 0), the
// product in S and the sum in float64.
template <class T, class S>
void distance_rows(const FitPrototypesView<S>& P, const FitRows<T>& X, Idx r_begin, Idx r_end,
                   const FitScratchView<S>& s, double* out, Idx ld) {
    using Vs = Simd<S>;
    constexpr int W = Vs::W;
    constexpr Idx SB = kFitSubBlockRows;
    for (Idx b0 = r_begin; b0 < r_end; b0 += SB) {
        const Idx rows = (r_end - b0 < SB) ? r_end - b0 : SB;
        const Idx padded = (rows + 3) / 4 * 4;
        centre_rows(X, P, b0, rows, padded, s.Z, s.z_sq);
        for (Idx k0 = 0; k0 < P.Kp; k0 += W) {
            for (Idx g = 0; g < padded; g += 4) {
                typename Vs::V acc[4][1];
                product_tile<S, 1>(P, s.Z + g * P.Dp, k0, acc);
                for (int r = 0; r < 4 && g + r < rows; ++r) {
                    S lanes[W];
                    Vs::store(lanes, acc[r][0]);
                    for (int j = 0; j < W && k0 + j < P.K; ++j) {
                        const double d =
                            static_cast<double>(lanes[j]) + static_cast<double>(P.sq_norm[k0 + j]) + s.z_sq[g + r];
                        out[(k0 + j) * ld + (b0 - r_begin) + g + r] = d < 0.0 ? 0.0 : d;
                    }
                }
            }
        }
    }
}

// Weighted sums of x - origin and its square over rows [r_begin, r_end), in
// float64 (see FitKernelTable); stops at the first row that is not finite.
template <class T>
Idx moment_rows(const FitRows<T>& X, const double* origin, Idx r_begin, Idx r_end, double* sums) {
    const Idx D = X.n_cols, cs = X.col_stride;
    double* __restrict s1 = sums;
    double* __restrict s2 = sums + D;
    const double* __restrict o = origin;
    for (Idx row = r_begin; row < r_end; ++row) {
        const T* __restrict x = X.X + row * X.row_stride;
        // z - z is 0 for a finite z and NaN otherwise.  Only then is the row
        // itself scanned: a finite x whose difference overflowed is valid.
        int bad = 0;
        for (Idx i = 0; i < D; ++i) {
            const double z = static_cast<double>(x[i * cs]) - o[i];
            bad |= !(z - z == 0.0);
        }
        if (bad) {
            for (Idx i = 0; i < D; ++i) {
                const double v = static_cast<double>(x[i * cs]);
                if (!(v - v == 0.0)) return row;
            }
        }
        const double wr = X.w[row];
        if (wr == 0.0) continue;
        if (cs == 1) {
            for (Idx i = 0; i < D; ++i) {
                const double z = static_cast<double>(x[i]) - o[i];
                s1[i] += wr * z;
                s2[i] += wr * z * z;
            }
        } else {
            for (Idx i = 0; i < D; ++i) {
                const double z = static_cast<double>(x[i * cs]) - o[i];
                s1[i] += wr * z;
                s2[i] += wr * z * z;
            }
        }
        sums[2 * D] += wr;
    }
    return -1;
}

// sum over rows [r_begin, r_end) of w ||x - centers[label]||^2, term by
// term in float64 (lanes summed in a fixed order).
template <class T>
double inertia_rows(const FitRows<T>& X, const double* centers, const std::int64_t* labels, Idx r_begin, Idx r_end) {
    using Vd = Simd<double>;
    constexpr int W = Vd::W;
    const Idx D = X.n_cols, cs = X.col_stride;
    double total = 0.0;
    for (Idx row = r_begin; row < r_end; ++row) {
        const T* x = X.X + row * X.row_stride;
        const double* c = centers + labels[row] * D;
        typename Vd::V acc = {};
        Idx i = 0;
        for (; i + W <= D; i += W) {
            double diff[W];
            for (int j = 0; j < W; ++j) diff[j] = static_cast<double>(x[(i + j) * cs]) - c[i + j];
            const typename Vd::V v = Vd::load(diff);
            acc += v * v;
        }
        double d = lane_sum<double, W>(acc);
        for (; i < D; ++i) {
            const double diff = static_cast<double>(x[i * cs]) - c[i];
            d += diff * diff;
        }
        total += X.w[row] * d;
    }
    return total;
}

}  // namespace fit

// The fit kernels of this instruction set (isa.hpp, NEON_DECLARE_KERNEL_FAMILY).
NEON_ISA_KERNEL_TABLE_GETTER(FitKernelTable) fit_kernels() {
    FitKernelTable table;
    table.isa = NEON_ISA_NAME;
    table.lloyd_f32 = &fit::lloyd_rows<float, float>;
    table.lloyd_f64 = &fit::lloyd_rows<double, double>;
    table.distances_f32 = &fit::distance_rows<float, float>;
    table.distances_f64 = &fit::distance_rows<double, double>;
    table.distances_f32_in_f64 = &fit::distance_rows<float, double>;
    table.moments_f32 = &fit::moment_rows<float>;
    table.moments_f64 = &fit::moment_rows<double>;
    table.inertia_f32 = &fit::inertia_rows<float>;
    table.inertia_f64 = &fit::inertia_rows<double>;
    return table;
}

}  // namespace NEON_ISA
}  // namespace neon
