// AVX2 + FMA micro-kernels for the fast (non-explaining) passes of a k-means
// fit: distance products of a block of rows against up to a few thousand
// prototypes, fused with the nearest-prototype search for Lloyd iterations.
//
// The default build targets baseline x86-64 (SSE2), where Eigen's GEMM runs
// on 4 floats per instruction; BLAS libraries pick wider instructions at run
// time.  These kernels do the same: they are compiled for AVX2 + FMA with a
// function attribute (no global -mavx2, so the module still loads anywhere)
// and used only when the CPU reports both (and the switch below is on).
// Elsewhere (other compilers or architectures) they are absent and callers
// use the portable Eigen path.  Each kernel is a pure function of its block,
// so results stay independent of the thread count.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "prototypes.hpp"
#include "rows.hpp"

#if defined(__GNUC__) || defined(__clang__)
#define NEON_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define NEON_ALWAYS_INLINE inline
#endif

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define NEON_HAVE_AVX2_KERNELS 1
#include <immintrin.h>
#define NEON_AVX2 __attribute__((target("avx2,fma")))
#else
#define NEON_HAVE_AVX2_KERNELS 0
#endif

namespace neon {
namespace simd {

// Process-wide switch (tests compare the two paths); on by default.
inline std::atomic<bool>& avx2_switch() {
    static std::atomic<bool> on{true};
    return on;
}

inline bool cpu_has_avx2_fma() {
#if NEON_HAVE_AVX2_KERNELS
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }();
    return has;
#else
    return false;
#endif
}

inline bool use_avx2() { return cpu_has_avx2_fma() && avx2_switch().load(std::memory_order_relaxed); }

// -2 x the centred prototypes, transposed (D x Kp, prototype k in column k)
// and padded with zero columns to a whole number of SIMD vectors, and their
// squared norms (padding: +inf, never the nearest).
template <class S>
struct PackedPrototypes {
    static constexpr Index kLanes = 32 / static_cast<Index>(sizeof(S));
    Index K = 0, Kp = 0, D = 0;
    std::vector<S> p2t, sqn;

    PackedPrototypes() = default;
    explicit PackedPrototypes(const CenteredPrototypes& protos)
        : K(protos.size()), Kp((protos.size() + kLanes - 1) / kLanes * kLanes), D(protos.dim()) {
        p2t.assign(static_cast<std::size_t>(D * Kp), S(0));
        sqn.assign(static_cast<std::size_t>(Kp), std::numeric_limits<S>::infinity());
        for (Index k = 0; k < K; ++k) {
            for (Index i = 0; i < D; ++i) {
                if constexpr (std::is_same_v<S, float>) p2t[i * Kp + k] = -2.0f * protos.centered_float()(k, i);
                else p2t[i * Kp + k] = -2.0 * protos.centered()(k, i);
            }
            if constexpr (std::is_same_v<S, float>) sqn[k] = protos.sq_norm_float()[k];
            else sqn[k] = protos.sq_norm()[k];
        }
    }
};

#if NEON_HAVE_AVX2_KERNELS

template <class S>
struct Avx;

template <>
struct Avx<float> {
    using V = __m256;
    static constexpr Index W = 8;
    NEON_AVX2 static V zero() { return _mm256_setzero_ps(); }
    NEON_AVX2 static V load(const float* p) { return _mm256_loadu_ps(p); }
    NEON_AVX2 static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
    NEON_AVX2 static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    NEON_AVX2 static V add(V a, V b) { return _mm256_add_ps(a, b); }
    NEON_AVX2 static V min(V a, V b) { return _mm256_min_ps(a, b); }
    NEON_AVX2 static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
    NEON_AVX2 static float hmin(V v) {
        __m128 x = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        x = _mm_min_ps(x, _mm_shuffle_ps(x, x, _MM_SHUFFLE(1, 0, 3, 2)));
        x = _mm_min_ps(x, _mm_shuffle_ps(x, x, _MM_SHUFFLE(2, 3, 0, 1)));
        return _mm_cvtss_f32(x);
    }
    NEON_AVX2 static int equal_mask(V v, float m) {
        return _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(m), _CMP_EQ_OQ));
    }
};

template <>
struct Avx<double> {
    using V = __m256d;
    static constexpr Index W = 4;
    NEON_AVX2 static V zero() { return _mm256_setzero_pd(); }
    NEON_AVX2 static V load(const double* p) { return _mm256_loadu_pd(p); }
    NEON_AVX2 static V bcast(const double* p) { return _mm256_broadcast_sd(p); }
    NEON_AVX2 static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
    NEON_AVX2 static V add(V a, V b) { return _mm256_add_pd(a, b); }
    NEON_AVX2 static V min(V a, V b) { return _mm256_min_pd(a, b); }
    NEON_AVX2 static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
    NEON_AVX2 static double hmin(V v) {
        __m128d x = _mm_min_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
        x = _mm_min_pd(x, _mm_shuffle_pd(x, x, 1));
        return _mm_cvtsd_f64(x);
    }
    NEON_AVX2 static int equal_mask(V v, double m) {
        return _mm256_movemask_pd(_mm256_cmp_pd(v, _mm256_set1_pd(m), _CMP_EQ_OQ));
    }
};

// For 4 rows z0..z3 (D values each) and the 2W prototype columns starting
// at c0 (the second W only if `two`): a<q><h> = sum_i z_q[i] * p2t[i][c0 + hW ..].
// Eight named accumulators (not an array) so that they stay in registers.
template <class S>
struct Block4x2 {
    typename Avx<S>::V a00, a01, a10, a11, a20, a21, a30, a31;
    NEON_AVX2 typename Avx<S>::V get(Index q, int h) const {
        switch (q) {
            case 0: return h ? a01 : a00;
            case 1: return h ? a11 : a10;
            case 2: return h ? a21 : a20;
            default: return h ? a31 : a30;
        }
    }
};

template <class S>
NEON_AVX2 inline Block4x2<S> products_4x2(const S* z0, const S* z1, const S* z2, const S* z3, Index D,
                                          const S* p2t, Index Kp, Index c0, bool two) {
    using A = Avx<S>;
    auto a00 = A::zero(), a01 = A::zero(), a10 = A::zero(), a11 = A::zero();
    auto a20 = A::zero(), a21 = A::zero(), a30 = A::zero(), a31 = A::zero();
    const S* p = p2t + c0;
    if (two) {
        for (Index i = 0; i < D; ++i, p += Kp) {
            const auto p0 = A::load(p), p1 = A::load(p + A::W);
            auto b = A::bcast(z0 + i);
            a00 = A::fma(b, p0, a00);
            a01 = A::fma(b, p1, a01);
            b = A::bcast(z1 + i);
            a10 = A::fma(b, p0, a10);
            a11 = A::fma(b, p1, a11);
            b = A::bcast(z2 + i);
            a20 = A::fma(b, p0, a20);
            a21 = A::fma(b, p1, a21);
            b = A::bcast(z3 + i);
            a30 = A::fma(b, p0, a30);
            a31 = A::fma(b, p1, a31);
        }
    } else {
        for (Index i = 0; i < D; ++i, p += Kp) {
            const auto p0 = A::load(p);
            a00 = A::fma(A::bcast(z0 + i), p0, a00);
            a10 = A::fma(A::bcast(z1 + i), p0, a10);
            a20 = A::fma(A::bcast(z2 + i), p0, a20);
            a30 = A::fma(A::bcast(z3 + i), p0, a30);
        }
    }
    return {a00, a01, a10, a11, a20, a21, a30, a31};
}

// Nearest prototype of each of `rows` rows of Z (row-major, leading
// dimension ldz): best[r] = min_k ||p_k||^2 - 2 z_r . p_k (the squared
// distance minus ||z_r||^2), index[r] = its k, ties to the lowest k.
template <class S>
NEON_AVX2 void nearest_avx2(const S* Z, Index ldz, Index rows, const PackedPrototypes<S>& P, S* best,
                            std::int32_t* index) {
    using A = Avx<S>;
    constexpr Index W = A::W;
    for (Index r = 0; r < rows; r += 4) {
        const Index nr = std::min<Index>(4, rows - r);
        auto row = [&](Index q) { return Z + (r + std::min(q, nr - 1)) * ldz; };  // spare lanes repeat a row
        S bv[4];
        std::int32_t bi[4] = {0, 0, 0, 0};
        std::fill(bv, bv + 4, std::numeric_limits<S>::infinity());
        for (Index c0 = 0; c0 < P.Kp; c0 += 2 * W) {
            const bool two = c0 + W < P.Kp;
            const Block4x2<S> acc = products_4x2(row(0), row(1), row(2), row(3), P.D, P.p2t.data(), P.Kp, c0, two);
            const auto s0 = A::load(P.sqn.data() + c0);
            const auto s1 = two ? A::load(P.sqn.data() + c0 + W) : s0;
            for (Index q = 0; q < nr; ++q) {
                const auto v0 = A::add(acc.get(q, 0), s0);
                const auto v1 = two ? A::add(acc.get(q, 1), s1) : v0;
                const S m = A::hmin(A::min(v0, v1));
                if (!(m < bv[q])) continue;  // an equal value at a higher index loses
                const int m0 = A::equal_mask(v0, m);
                const int lane = m0 ? __builtin_ctz(static_cast<unsigned>(m0))
                                    : static_cast<int>(W) + __builtin_ctz(static_cast<unsigned>(A::equal_mask(v1, m)));
                bv[q] = m;
                bi[q] = static_cast<std::int32_t>(c0 + lane);
            }
        }
        for (Index q = 0; q < nr; ++q) {
            best[r + q] = bv[q];
            index[r + q] = bi[q];
        }
    }
}

// Et (K x rows, leading dimension lde) = (-2 P) Z^T for the first `rows`
// rows of Z: what detail::scaled_products_transposed computes with Eigen.
template <class S>
NEON_AVX2 void products_transposed_avx2(const S* Z, Index ldz, Index rows, const PackedPrototypes<S>& P, S* Et,
                                        Index lde) {
    using A = Avx<S>;
    constexpr Index W = A::W;
    alignas(32) S lanes[2 * W];
    for (Index r = 0; r < rows; r += 4) {
        const Index nr = std::min<Index>(4, rows - r);
        auto row = [&](Index q) { return Z + (r + std::min(q, nr - 1)) * ldz; };
        for (Index c0 = 0; c0 < P.Kp; c0 += 2 * W) {
            const bool two = c0 + W < P.Kp;
            const Block4x2<S> acc = products_4x2(row(0), row(1), row(2), row(3), P.D, P.p2t.data(), P.Kp, c0, two);
            const Index cols = std::min<Index>(P.K - c0, two ? 2 * W : W);
            for (Index q = 0; q < nr; ++q) {
                A::store(lanes, acc.get(q, 0));
                if (two) A::store(lanes + W, acc.get(q, 1));
                for (Index j = 0; j < cols; ++j) Et[(c0 + j) * lde + r + q] = lanes[j];
            }
        }
    }
}

// E (rows x Kp, row-major, leading dimension lde >= Kp) = ||p_k||^2 - 2 z . p_k:
// what distance_offsets computes with Eigen, in another summation order
// (both within the rounding bound that settle_near_ties allows for).
// Columns K..Kp-1 receive +inf.
template <class S>
NEON_AVX2 void offsets_avx2(const S* Z, Index ldz, Index rows, const PackedPrototypes<S>& P, S* E, Index lde) {
    using A = Avx<S>;
    constexpr Index W = A::W;
    for (Index r = 0; r < rows; r += 4) {
        const Index nr = std::min<Index>(4, rows - r);
        auto row = [&](Index q) { return Z + (r + std::min(q, nr - 1)) * ldz; };
        for (Index c0 = 0; c0 < P.Kp; c0 += 2 * W) {
            const bool two = c0 + W < P.Kp;
            const Block4x2<S> acc = products_4x2(row(0), row(1), row(2), row(3), P.D, P.p2t.data(), P.Kp, c0, two);
            const auto s0 = A::load(P.sqn.data() + c0);
            for (Index q = 0; q < nr; ++q) {
                S* e = E + (r + q) * lde + c0;
                A::store(e, A::add(acc.get(q, 0), s0));
                if (two) A::store(e + W, A::add(acc.get(q, 1), A::load(P.sqn.data() + c0 + W)));
            }
        }
    }
}

#endif  // NEON_HAVE_AVX2_KERNELS

}  // namespace simd
}  // namespace neon
