// The fused row kernel of k-means NEON (NEON_SPEC.md, section 1): for a
// range of rows, in one pass and in sub-blocks that stay in L1 cache,
//   load and centre the rows -> distance product Z P^T (register-tiled)
//   -> per group of L rows, vectorized across the rows: nearest and second-
//   nearest cluster, logits, soft-min shares, midpoint-rule coefficients a_k
//   -> per row: relevance R = -2 z * (sum_k a_k p_k) + sum_k a_k p_k^2,
// written straight into the caller's output.  Nothing is allocated here: the
// caller hands in per-thread scratch (KMeansScratchView).
//
// Every row is computed independently of the others and with the same
// instructions whatever its position in a block or group (lanes of a vector
// do not interact), so results are bitwise identical for any thread count.
// Inner loops have compile-time trip counts over padded rows, which the
// compiler turns into SIMD with register-resident accumulators.
//
// Compiled once per instruction set.  The portable build includes this file
// through kmeans.hpp (namespace neon::portable, the build's own flags); the
// x86 builds compile cpp/neon/isa/kmeans_<isa>.cpp with -mavx2 -mfma or
// -mavx512f and NEON_ISA=<isa>, and FusedEvaluator (kmeans.hpp) picks one at run time.
// Everything here must stay inside namespace neon::NEON_ISA and call nothing
// inline from outside it (not even std::min): an inline function compiled
// with AVX instructions in one object and without in another is one symbol
// to the linker, which may keep the AVX copy for every caller.
#pragma once

#include <cstdint>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "kmeans_kernel_args.hpp"

#ifndef NEON_ISA
#define NEON_ISA portable
#endif

namespace neon {
namespace NEON_ISA {

using Idx = std::ptrdiff_t;

#include "isa_simd.hpp"  // Simd<S>: one SIMD register of S, per instruction set

#if NEON_VECTOR_EXTENSIONS
typedef std::uint64_t VBits __attribute__((vector_size(kVectorBytes)));
#else
typedef std::uint64_t VBits;
#endif

template <class S>
constexpr int lanes() {
    return Simd<S>::W;
}

// Square root of each lane (a plain loop over lanes: vectorized, and
// never a call into the library from this instruction set).
template <class V>
inline V sqrt_lanes(const V& v) {
#if NEON_VECTOR_EXTENSIONS
    V r = v;
    for (int j = 0; j < static_cast<int>(sizeof(V) / sizeof(r[0])); ++j) r[j] = __builtin_sqrt(v[j]);
    return r;
#else
    return std::sqrt(v);
#endif
}

using Dd = Simd<double>;
using Vd = Dd::V;

inline VBits to_bits(const Vd& v) {
    VBits b;
    std::memcpy(&b, &v, sizeof b);
    return b;
}
inline Vd from_bits(const VBits& b) {
    Vd v;
    std::memcpy(&v, &b, sizeof v);
    return v;
}

// exp(x) for x <= 0 (or -inf), lane by lane: x = n ln2 + r with
// |r| <= ln2/2, a polynomial for e^r and n added to the exponent bits.
// Full: the Taylor polynomial of degree 13, within about 1 ulp (truncation
// < 5e-18).  Otherwise, for weights that enter float32 results: the degree-6
// polynomial interpolating e^r at the 7 Chebyshev nodes of [-ln2/2, ln2/2]
// (near-minimax: relative error < 2.6e-9, against 1.6e-7 for Taylor's
// degree 6 and 2.7e-10 for the degree-8 Taylor polynomial used before; two
// dependent multiply-adds fewer per weight).  Its nodes include 0 and its
// constant term is 1.
// Results below 2^-1021 (x < -708) are flushed to 0; x > 0 gives an
// unspecified value (unsigned bit arithmetic: nothing overflows).
// exp(0) is exactly 1.
template <bool Full>
inline Vd exp_nonpositive(const Vd& x) {
    constexpr double log2e = 1.4426950408889634074;
    constexpr double ln2_hi = 0x1.62e42fee00000p-1;  // 32 significant bits: n * ln2_hi is exact
    constexpr double ln2_lo = 0x1.a39ef35793c76p-33;
    constexpr double shifter = 0x1.8p52;  // adding it rounds to an integer kept in the low bits
    const Vd lowest = Dd::splat(-708.0);  // n >= -1021 keeps the scaled result normal
    const Vd xc = x >= lowest ? x : lowest;
    const Vd t = xc * log2e + shifter;
    const Vd n = t - shifter;
    const Vd r = (xc - n * ln2_hi) - n * ln2_lo;
    // Taylor coefficients 1/13!, 1/12!, ..., 1/1!, 1/0! (Horner).
    constexpr double coef[14] = {1.0 / 6227020800.0,
                                 1.0 / 479001600.0,
                                 1.0 / 39916800.0,
                                 1.0 / 3628800.0,
                                 1.0 / 362880.0,
                                 1.0 / 40320.0,
                                 1.0 / 5040.0,
                                 1.0 / 720.0,
                                 1.0 / 120.0,
                                 1.0 / 24.0,
                                 1.0 / 6.0,
                                 0.5,
                                 1.0,
                                 1.0};
    // numpy.polynomial.Chebyshev.interpolate(np.exp, 6, domain=[-a, a]),
    // a = ln2/2, in the power basis: c6, c5, ..., c0.
    constexpr double cheb6[7] = {0x1.6d7531fa74153p-10,
                                 0x1.126fa6fd93876p-7,
                                 0x1.5554ace10c6afp-5,
                                 0x1.5554043e283b8p-3,
                                 0x1.00000028795a0p-1,
                                 0x1.000000a1fd6adp+0,
                                 1.0};
    Vd p;
    if (Full) {
        p = Dd::splat(coef[0]);
        for (int i = 1; i < 14; ++i) p = p * r + coef[i];
    } else {
        p = Dd::splat(cheb6[0]);
        for (int i = 1; i < 7; ++i) p = p * r + cheb6[i];
    }
    // The low bits of t hold n (two's complement): shift them into the exponent.
    const VBits n_bits = (to_bits(t) - to_bits(Dd::splat(shifter))) << 52;
    const Vd result = from_bits(to_bits(p) + n_bits);
    return x >= lowest ? result : Dd::zero();
}

// 1 / h for lanes with 2^-1000 < |h| < 2^1000, to within about 2 ulp:
// where the instruction set has an approximate reciprocal (AVX-512's
// vrcp14pd, relative error < 2^-14), two Newton steps x' = x + x (1 - h x)
// square the error twice (< 2^-56 plus rounding), four multiply-adds in
// place of a division (whose throughput is that of a dozen); elsewhere the
// division itself.  For the float32 kernels, whose coefficients are
// rounded to float32 (float64 ones divide, correctly rounded), and only
// where the range holds: there |h| < 2^300 (offsets of float32 distances,
// or float64 distances of float32 coordinates) and kept lanes have
// |h| > eps, so the caller asks only when eps >= 2^-1000.
inline Vd reciprocal_f32_range(const Vd& h) {
#if NEON_VECTOR_EXTENSIONS && defined(__AVX512F__) && defined(__x86_64__)
    Vd x;
    __asm__("vrcp14pd %1, %0" : "=v"(x) : "v"(h));
    const Vd one = Dd::splat(1.0);
    x = x + x * (one - h * x);
    x = x + x * (one - h * x);
    return x;
#else
    return Dd::splat(1.0) / h;
#endif
}

// The lanes of v summed pairwise (halves added until one lane is left): a
// fixed order, so the same for every row, and log2 W vector additions in
// registers where Simd::sum's lane-by-lane order takes W - 1 dependent
// scalar ones (a third of load_rows' time).  Compilers without
// __builtin_shufflevector add the halves through an array (the same sums).
#if NEON_VECTOR_EXTENSIONS && (defined(__clang__) || __GNUC__ >= 12)
template <class S, int N>
struct PairwiseSum {
    typedef S V __attribute__((vector_size(N * sizeof(S))));
    typedef S H __attribute__((vector_size(N / 2 * sizeof(S))));
    static S run(const V& v) {
        const H lo = lower(v, std::make_integer_sequence<int, N / 2>{});
        const H hi = upper(v, std::make_integer_sequence<int, N / 2>{});
        return PairwiseSum<S, N / 2>::run(lo + hi);
    }
    template <int... I>
    static H lower(const V& v, std::integer_sequence<int, I...>) {
        return __builtin_shufflevector(v, v, I...);
    }
    template <int... I>
    static H upper(const V& v, std::integer_sequence<int, I...>) {
        return __builtin_shufflevector(v, v, (I + N / 2)...);
    }
};
template <class S>
struct PairwiseSum<S, 2> {
    typedef S V __attribute__((vector_size(2 * sizeof(S))));
    static S run(const V& v) { return v[0] + v[1]; }
};
#endif

template <class S>
inline S pairwise_sum(const typename Simd<S>::V& v) {
    constexpr int W = Simd<S>::W;
#if NEON_VECTOR_EXTENSIONS && (defined(__clang__) || __GNUC__ >= 12)
    if constexpr (W >= 2) return PairwiseSum<S, W>::run(v);
#endif
    S lanes[W];
    Simd<S>::store(lanes, v);
    for (int w = W / 2; w > 0; w /= 2)
        for (int j = 0; j < w; ++j) lanes[j] += lanes[j + w];
    return lanes[0];
}

// Rows [row0, row0 + rows) of X minus the centre into Z (padding columns 0),
// their squared norms into z_sq.  Returns the first row that is not finite,
// or -1.  A NaN or infinity makes the norm NaN or inf; only then is the row
// scanned, since a finite row whose norm overflows S is valid input (its
// near-tie check then settles it with exact float64 distances).
template <class T, class S>
Idx load_rows(const KMeansJob<T>& job, const KMeansModelView<S>& m, Idx row0, Idx rows, S* Z, double* z_sq) {
    using Sd = Simd<S>;
    using V = typename Sd::V;
    constexpr int W = Sd::W;
    const Idx D = m.D, Dp = m.Dp, cs = job.col_stride;
    const S* center = m.center;
    for (Idx r = 0; r < rows; ++r) {
        const T* x = job.X + (row0 + r) * job.row_stride;
        S* z = Z + r * Dp;
        Idx i = 0;
        S norm = 0;
        if (std::is_same<T, S>::value && cs == 1) {
            const S* xs = reinterpret_cast<const S*>(x);
            V acc = Sd::zero();
            for (; i + W <= D; i += W) {
                const V v = Sd::load(xs + i) - Sd::load(center + i);
                Sd::store(z + i, v);
                acc += v * v;
            }
            norm = pairwise_sum<S>(acc);
        }
        for (; i < D; ++i) {
            const S v = static_cast<S>(x[i * cs]) - center[i];
            z[i] = v;
            norm += v * v;
        }
        for (i = D; i < Dp; ++i) z[i] = S(0);
        if (!(norm <= std::numeric_limits<S>::max())) {
            for (i = 0; i < D; ++i) {
                const double v = static_cast<double>(x[i * cs]);
                if (!(v - v == 0.0)) return row0 + r;  // NaN or infinity
            }
        }
        z_sq[r] = static_cast<double>(norm);
    }
    return -1;
}

// One cache line into L1.  An asm statement on x86: GCC 12 drops
// __builtin_prefetch from these loops once they are inlined.
inline void prefetch_line(const void* p) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __asm__ volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 0, 3);
#else
    (void)p;
#endif
}

// Asks the memory system for rows [r0, r1) of X (input) or of the relevance
// output, to arrive while other rows are computed: the kernel does a few
// hundred cycles of work per row between reading a row and writing its
// relevance, too irregular for the hardware prefetcher to run far enough
// ahead (without it a third of a row's time went to waiting for X).  The
// next sub-block's input and the current group's output are asked for at two
// different points of a group's work, so that fewer lines are in flight at
// once.  A hint only: no effect on results.
template <class T>
inline void prefetch_rows(const KMeansJob<T>& job, Idx D, Idx r0, Idx r1, bool output) {
    constexpr Idx per_line = 64 / static_cast<Idx>(sizeof(T));
    if (output ? job.relevance == nullptr : job.col_stride != 1) return;  // strided input (rare): left to the hardware
    for (Idx r = r0; r < r1; ++r) {
        const T* x = output ? job.relevance + r * job.relevance_stride : job.X + r * job.row_stride;
        for (Idx i = 0; i < D; i += per_line) prefetch_line(x + i);
    }
}

// E[r, k0 .. k0 + NV W) = ||p_k||^2 - 2 z_r . p_k for RG rows from r0
// (tile_products: the accumulators stay in registers while i runs over Dp).
template <class S, int RG, int NV>
inline void distance_tile(const KMeansModelView<S>& m, const S* Z, Idx r0, Idx k0, S* E) {
    using Sd = Simd<S>;
    using V = typename Sd::V;
    constexpr int W = Sd::W;
    const Idx Dp = m.Dp, Kp = m.Kp;
    V acc[RG][NV];
    tile_products<S, RG, NV>(Z + r0 * Dp, Dp, m.PT + k0, Kp, Dp, acc);
    for (int r = 0; r < RG; ++r) {
        S* e = E + (r0 + r) * Kp + k0;
        for (int v = 0; v < NV; ++v) Sd::store(e + v * W, Sd::load(m.sq_norm + k0 + v * W) - S(2) * acc[r][v]);
    }
}

// Distances of `rows` rows (a multiple of 8) to every prototype.  Kp is a
// multiple of the vector width W: column tiles of 2W, then at most one of W
// with twice the rows, so there are always 8 independent accumulators.
template <class S>
void distances(const KMeansModelView<S>& m, const S* Z, Idx rows, S* E) {
    constexpr int W = lanes<S>();
    Idx k0 = 0;
    for (; k0 + 2 * W <= m.Kp; k0 += 2 * W)
        for (Idx r = 0; r < rows; r += 4) distance_tile<S, 4, 2>(m, Z, r, k0, E);
    if (k0 < m.Kp)
        for (Idx r = 0; r < rows; r += 8) distance_tile<S, 8, 1>(m, Z, r, k0, E);
}

// Keeps v in a register from here on: GCC folds a vector used by several
// multiply-adds into each of them as a memory operand, loading it again
// for every row of the relevance product (18 loads per 16 FMAs with two
// rows, more than the two load ports keep up with; 10 with this).
template <class V>
inline void in_register(V& v) {
#if NEON_VECTOR_EXTENSIONS && (defined(__x86_64__) || defined(__i386__)) && defined(__AVX512F__)
    __asm__("" : "+v"(v));
#elif NEON_VECTOR_EXTENSIONS && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
    __asm__("" : "+x"(v));
#else
    (void)v;
#endif
}

// The rows whose relevance one pass computes: row r has coefficient
// a[r][t * a_stride] for prototype t, centred input z[r], and its relevance
// goes to out[r], a row of Dp values of the group's staging buffer (see
// write_row).
template <class S, int RB>
struct RelevanceRows {
    const S* a[RB];
    const S* z[RB];
    S* out[RB];
};

// Relevance of columns [d0, d0 + NV W) of RB rows from midpoint-rule
// coefficients a_t and prototype rows [p | p*p] (Dense: every prototype,
// PP + t 2Dp; otherwise the n rows listed): g = sum a_t p_t,
// g2 = sum a_t p_t^2, R = g2 - 2 z g.  2 RB NV accumulator registers; each
// prototype's vectors are loaded once for all RB rows.  Stored straight
// from registers (the staging rows are padded to Dp).
template <class S, int NV, int RB, bool Dense>
inline void relevance_chunk(const KMeansModelView<S>& m, const S* const* list, Idx a_stride, Idx n,
                            const RelevanceRows<S, RB>& rr, Idx d0) {
    using Sd = Simd<S>;
    using V = typename Sd::V;
    constexpr int W = Sd::W;
    const Idx Dp = m.Dp;
    V g[RB][NV], g2[RB][NV];
    for (int r = 0; r < RB; ++r)
        for (int v = 0; v < NV; ++v) g[r][v] = g2[r][v] = Sd::zero();
    for (Idx t = 0; t < n; ++t) {
        const S* p = (Dense ? m.PP + t * 2 * Dp : list[t]) + d0;
        V pv[NV], qv[NV];
        for (int v = 0; v < NV; ++v) {
            pv[v] = Sd::load(p + v * W);
            qv[v] = Sd::load(p + Dp + v * W);
            if (RB > 1) {
                in_register(pv[v]);
                in_register(qv[v]);
            }
        }
        for (int r = 0; r < RB; ++r) {
            const S a = rr.a[r][t * a_stride];
            for (int v = 0; v < NV; ++v) {
                g[r][v] += a * pv[v];
                g2[r][v] += a * qv[v];
            }
        }
    }
    for (int r = 0; r < RB; ++r) {
        const S* z = rr.z[r] + d0;
        S* dst = rr.out[r] + d0;
        for (int v = 0; v < NV; ++v) Sd::store(dst + v * W, g2[r][v] - S(2) * (Sd::load(z + v * W) * g[r][v]));
    }
}

// Relevance of RB rows over all columns: chunks of NV vectors (one row:
// four; two rows: as many as the registers hold, two on AVX2 and SSE, four
// with AVX-512's 32 registers), then the remaining vectors (Dp is a
// multiple of W).
template <class S, int RB, bool Dense>
void relevance_rows(const KMeansModelView<S>& m, const S* const* list, Idx a_stride, Idx n,
                    const RelevanceRows<S, RB>& rr) {
    constexpr int W = lanes<S>();
    constexpr int NV = (RB == 1 || kVectorBytes == 64) ? 4 : 2;
    Idx d0 = 0;
    for (; d0 + NV * W <= m.Dp; d0 += NV * W) relevance_chunk<S, NV, RB, Dense>(m, list, a_stride, n, rr, d0);
    const Idx rest = (m.Dp - d0) / W;
    if (NV > 3 && rest == 3) relevance_chunk<S, (NV > 3 ? 3 : 1), RB, Dense>(m, list, a_stride, n, rr, d0);
    if (NV > 2 && rest == 2) relevance_chunk<S, (NV > 2 ? 2 : 1), RB, Dense>(m, list, a_stride, n, rr, d0);
    if (rest == 1) relevance_chunk<S, 1, RB, Dense>(m, list, a_stride, n, rr, d0);
}

// Copies a staged relevance row (D values of S) to the caller's output row
// (any alignment: vector stores go through memcpy).
template <class T, class S>
inline void write_row(T* dst, const S* buf, Idx D) {
    using Sd = Simd<S>;
    constexpr int W = Sd::W;
    Idx i = 0;
    if (std::is_same<T, S>::value) {
        S* out = reinterpret_cast<S*>(dst);
        for (; i + W <= D; i += W) Sd::store(out + i, Sd::load(buf + i));
    }
    for (; i < D; ++i) dst[i] = static_cast<T>(buf[i]);
}

// Stores v at p, aligned to its width, past the caches where the
// instruction set has a non-temporal store (x86: movntps / movntpd): the
// line is not read before it is written, and nothing is evicted for it.
// An asm statement (GCC has no builtin for it; the intrinsics headers would
// bring inline functions from outside this namespace).  Ordered before later
// stores only by stream_fence().
template <class S>
inline void stream_store(S* p, const typename Simd<S>::V& v) {
#if NEON_VECTOR_EXTENSIONS && defined(__x86_64__) && defined(__SSE2__)
#if defined(__AVX__)
#define NEON_MOVNT "vmovnt"
#else
#define NEON_MOVNT "movnt"
#endif
#if defined(__AVX512F__)
    if (sizeof(S) == 4)
        __asm__(NEON_MOVNT "ps %1, %0" : "=m"(*reinterpret_cast<typename Simd<S>::V*>(p)) : "v"(v));
    else
        __asm__(NEON_MOVNT "pd %1, %0" : "=m"(*reinterpret_cast<typename Simd<S>::V*>(p)) : "v"(v));
#else
    if (sizeof(S) == 4)
        __asm__(NEON_MOVNT "ps %1, %0" : "=m"(*reinterpret_cast<typename Simd<S>::V*>(p)) : "x"(v));
    else
        __asm__(NEON_MOVNT "pd %1, %0" : "=m"(*reinterpret_cast<typename Simd<S>::V*>(p)) : "x"(v));
#endif
#undef NEON_MOVNT
#else
    Simd<S>::store(p, v);
#endif
}

// Makes this thread's non-temporal stores visible before any later store
// (x86: sfence), so whoever sees the kernel's return sees its output.
inline void stream_fence() {
#if NEON_VECTOR_EXTENSIONS && defined(__x86_64__) && defined(__SSE2__)
    __asm__ volatile("sfence" ::: "memory");
#endif
}

// Writes a call's relevance, run by run in output order, into a contiguous
// output (aligned to S) past the caches: the whole 64-byte lines with
// non-temporal stores, a line's values gathered in `line` while a run ends
// inside it and the next one continues it.  Lines not wholly written here
// (the first and last of the call's range, shared with the neighbouring
// rows, perhaps another thread's; those next to rows written otherwise)
// are stored plainly.  For outputs far larger than the caches, written
// once: streaming saves reading every line for ownership before writing it
// (a third of the kernel's memory traffic).  flush() and stream_fence()
// before the kernel returns.
template <class S>
struct LineStreamer {
    static constexpr Idx kPerLine = 64 / static_cast<Idx>(sizeof(S));  // a multiple of the vector width
    alignas(64) S line[kPerLine];
    S* line_dst = nullptr;  // the output line `line` stands for; null: none pending
    Idx from = 0, filled = 0;  // line[from, filled) are pending values

    // The pending values, plainly.
    void flush() {
        for (Idx i = from; i < filled; ++i) line_dst[i] = line[i];
        line_dst = nullptr;
        from = filled = 0;
    }

    // Values src[0, n) go to dst[0, n).
    void write(S* dst, const S* src, Idx n) {
        using Sd = Simd<S>;
        constexpr int W = Sd::W;
        if (line_dst != nullptr && line_dst + filled != dst) flush();
        if (line_dst == nullptr) {
            const Idx misaligned =
                static_cast<Idx>(reinterpret_cast<std::uintptr_t>(dst) % 64) / static_cast<Idx>(sizeof(S));
            line_dst = dst - misaligned;
            from = filled = misaligned;
        }
        Idx i = 0;
        if (filled > 0) {  // complete the pending line
            for (; i < n && filled < kPerLine; ++i) line[filled++] = src[i];
            if (filled < kPerLine) return;
            if (from == 0) {
                for (Idx v = 0; v < kPerLine; v += W) stream_store(line_dst + v, Sd::load(line + v));
            } else {
                for (Idx v = from; v < kPerLine; ++v) line_dst[v] = line[v];
            }
            line_dst += kPerLine;
            from = filled = 0;
        }
        for (; i + kPerLine <= n; i += kPerLine, line_dst += kPerLine)
            for (Idx v = 0; v < kPerLine; v += W) stream_store(line_dst + v, Sd::load(src + i + v));
        for (; i < n; ++i) line[filled++] = src[i];
    }
};

// Whether v is finite and within the range of T (NaN fails).  Local to this
// instruction set, like everything here.
template <class T>
inline bool fits_output(double v) {
    constexpr double limit = static_cast<double>(std::numeric_limits<T>::max());
    return v <= limit && v >= -limit;
}

template <class T>
inline T checked_output(double v, Idx row, KMeansRowStatus& status) {
    if (fits_output<T>(v)) return static_cast<T>(v);
    if (status.first_unrepresentable < 0) status.first_unrepresentable = row;
    return T(0);
}

// The relevance of one row, R_i = sum_k a_k (p_ki^2 - 2 z_i p_ki), in
// float64 with every value checked against T: for the rare rows whose
// coefficients are so large (or not finite: eps = 0 on a boundary) that the
// vectorized product could overflow S or T.
template <class T, class S>
void relevance_row_checked(const KMeansModelView<S>& m, const double* aT, Idx lane, Idx L, const S* z, T* out, Idx row,
                           KMeansRowStatus& status) {
    bool ok = true;
    for (Idx i = 0; i < m.D; ++i) {
        double g = 0.0, g2 = 0.0;
        for (Idx k = 0; k < m.K; ++k) {
            const double a = aT[k * L + lane];
            if (a == 0.0) continue;
            const double p = static_cast<double>(m.rows[k][i]);
            g += a * p;
            g2 += a * (p * p);
        }
        const double v = g2 - 2.0 * (static_cast<double>(z[i]) * g);
        const bool fits = fits_output<T>(v) && fits_output<S>(v);
        ok = ok && fits;
        out[i] = fits ? static_cast<T>(v) : T(0);
    }
    if (!ok && status.first_unrepresentable < 0) status.first_unrepresentable = row;
}

// Float64 lanes rounded to S and stored at dst (the coefficients the
// relevance product broadcasts).
template <class S>
inline void store_lanes_as(S* dst, const Vd& v) {
#if NEON_VECTOR_EXTENSIONS
    if (std::is_same<S, double>::value) {
        std::memcpy(dst, &v, sizeof v);
    } else {
        typedef float Vh __attribute__((vector_size(kVectorBytes / 2)));
        const Vh h = __builtin_convertvector(v, Vh);
        std::memcpy(dst, &h, sizeof h);
    }
#else
    *dst = static_cast<S>(v);
#endif
}

// Squared distances from a raw row to the float64 centroids, in float64,
// where the two nearest are within the product's rounding (or the row's
// norm overflowed S).  Rows near the centroids: term by term in raw
// coordinates, sum (x_i - mu_ki)^2, exact for data on a coarse grid, so
// exact ties stay exact.  Rows far away (`far`: ||z|| > 8 max ||p||), where
// those terms would swamp the differences: the centred form
// sum p_i (p_i - 2 (x_i - c_i)), p = mu_k - c, with the float64 centre c
// (centred on the float32-rounded one, the terms of coordinates where all
// centroids agree would be ~eps32 |mu| each and swamp smaller differences
// elsewhere); ||p||^2 - 2 z.p omits the same ||z||^2 for every centroid,
// which cancels in the model.  Each distance is summed in coordinate order,
// so the two forms below (a few listed clusters; every cluster, a vector
// of clusters at a time) give the same value bit for bit.
//
// The distances to the representatives of the n clusters listed in
// `clusters` (indices stored as float64): eight sums advance together over
// the coordinates, each still in coordinate order, so their additions overlap
// instead of each waiting on the one before (one sum at a time was a chain
// of D dependent additions per cluster, a quarter of a redone row's time).
template <class T, class S>
void settle_distances_of(const KMeansModelView<S>& m, const T* x, Idx col_stride, bool far, const double* clusters,
                         Idx n, double* d) {
    constexpr Idx B = 8;
    for (Idx t0 = 0; t0 < n; t0 += B) {
        const Idx nb = n - t0 < B ? n - t0 : B;
        const double* u[B];
        double acc[B];
        for (Idx b = 0; b < B; ++b) {  // past the list's end: its first cluster again, not stored
            u[b] = m.raw + m.representative[static_cast<Idx>(clusters[t0 + (b < nb ? b : 0)])] * m.D;
            acc[b] = 0.0;
        }
        if (far) {
            for (Idx i = 0; i < m.D; ++i) {
                const double xi = static_cast<double>(x[i * col_stride]);
                const double c = m.center64[i];
                for (Idx b = 0; b < B; ++b) {
                    const double p = u[b][i] - c;
                    acc[b] += p * (p - 2.0 * (xi - c));
                }
            }
        } else {
            for (Idx i = 0; i < m.D; ++i) {
                const double xi = static_cast<double>(x[i * col_stride]);
                for (Idx b = 0; b < B; ++b) {
                    const double diff = xi - u[b][i];
                    acc[b] += diff * diff;
                }
            }
        }
        for (Idx b = 0; b < nb; ++b) d[t0 + b] = acc[b];
    }
}

// The distances to the clusters [k0, k0 + NV W) at once, from the
// transposed centroids: a vector lane per cluster, each lane summing over the
// coordinates in order (the same operations as one cluster at a time, so the
// same values bit for bit; 2 (x_i - c) is exact, so it does not matter
// whether it is fused into the subtraction).
template <int NV, class T, class S>
inline void settle_distance_lanes(const KMeansModelView<S>& m, const T* x, Idx col_stride, bool far, Idx k0,
                                  double* d) {
    constexpr int W = Dd::W;
    Vd acc[NV];
    for (int v = 0; v < NV; ++v) acc[v] = Dd::zero();
    const double* ut = m.raw_t + k0;  // row i at ut + i raw_t_stride
    if (far) {
        for (Idx i = 0; i < m.D; ++i) {
            const double xi = static_cast<double>(x[i * col_stride]);
            const double c = m.center64[i];
            for (int v = 0; v < NV; ++v) {
                const Vd p = Dd::load(ut + i * m.raw_t_stride + v * W) - c;
                acc[v] += p * (p - 2.0 * (xi - c));
            }
        }
    } else {
        for (Idx i = 0; i < m.D; ++i) {
            const double xi = static_cast<double>(x[i * col_stride]);
            for (int v = 0; v < NV; ++v) {
                const Vd diff = xi - Dd::load(ut + i * m.raw_t_stride + v * W);
                acc[v] += diff * diff;
            }
        }
    }
    for (int v = 0; v < NV; ++v) Dd::store(d + k0 + v * W, acc[v]);
}

// The distances to every cluster, into d[0, Kp) (the padding lanes get the
// distance to the origin, unused): four vectors of clusters per pass, so
// that four sums advance together.
template <class T, class S>
void settle_distances_all(const KMeansModelView<S>& m, const T* x, Idx col_stride, bool far, double* d) {
    constexpr int W = Dd::W;
    Idx k0 = 0;
    for (; k0 + 4 * W <= m.Kp; k0 += 4 * W) settle_distance_lanes<4>(m, x, col_stride, far, k0, d);
    for (; k0 < m.Kp; k0 += W) settle_distance_lanes<1>(m, x, col_stride, far, k0, d);
}

// The near-tie rows' distances to every cluster (e: Kp values).
template <class T, class S>
void settle_distances(const KMeansModelView<S>& m, const T* x, Idx col_stride, double z_sq, double* e) {
    const bool far = !(z_sq <= 64.0 * m.max_norm * m.max_norm);
    settle_distances_all(m, x, col_stride, far, e);
}

// Ill-conditioned rows of float32 input (NEON_SPEC.md section 1): for a
// target that is not the assigned cluster, a competitor with small |h_k|
// gives contributions much larger than the logit, cancelling in the sum, and
// float32 rounding of h_k and of the relevance product loses digits
// (eps32 d / |h_k|).  Such a row is evaluated again here entirely in float64
// from the raw row: exact-form distances (settle_distances), h, f, soft-min
// shares, coefficients, and the midpoint rule in its midpoint form
// (mu_c - mu_k)(2 x - mu_c - mu_k), which cancels nothing large.  O(K D).
// The logit redistributed is the float64 one, f = min_k h_k: the ratios
// f / h_k must come from the same distances (the float32 logit over float64
// h_k put the logit's own rounding, eps32 s / |f| relative, on every
// coefficient).  The reported logit stays the float32 one (explain agrees
// bitwise with logits()), so such a row conserves it to that rounding.
template <class T, class S>
void explain_row_f64(const KMeansModelView<S>& m, const KMeansJob<T>& job, Idx row, Idx c, double f32, double z_sq,
                     const double* a32, const double* e32, Idx lane_stride, double s_scale, double* e, double* a,
                     double* active, KMeansRowStatus& status) {
    const T* x = job.X + row * job.row_stride;
    const Idx K = m.K, D = m.D, cs = job.col_stride;
    // The competitors that matter: those whose float32 coefficient times the
    // scale of their contributions is above 2^-50 |f| (the others change no
    // digit the row's float32 output keeps), the nearest competitor by the
    // float32 distances (it gives f), and the target.  With a sharp soft-min
    // (large beta, many clusters) these are few: O(K + n D) work.
    const double floor = 0x1p-50 * (f32 < 0.0 ? -f32 : f32);
    Idx nearest = c == 0 ? 1 : 0;
    for (Idx k = 0; k < K; ++k)
        if (k != c && e32[k * lane_stride] < e32[nearest * lane_stride]) nearest = k;
    Idx n = 0;
    for (Idx k = 0; k < K; ++k) {
        const double ak = a32[k * lane_stride];
        if (k == c || k == nearest || (ak < 0.0 ? -ak : ak) * s_scale > floor) active[n++] = static_cast<double>(k);
    }
    // Exact-form float64 distances (as settle_distances: raw coordinates
    // near the centroids, centred far away), twins mapped to their
    // representative so that their h is exactly 0.
    // The target is in the list (active[t] == c), so its distance is e[t].
    // Most clusters active (a soft soft-min): all of them a vector at a time,
    // into `a` (Kp values, free until the weights); otherwise the few listed.
    const bool far = !(z_sq <= 64.0 * m.max_norm * m.max_norm);
    if (4 * n >= K) {
        settle_distances_all(m, x, cs, far, a);
        for (Idx t = 0; t < n; ++t) e[t] = a[m.representative[static_cast<Idx>(active[t])]];
    } else {
        settle_distances_of(m, x, cs, far, active, n, e);
    }
    double ec = 0.0;
    for (Idx t = 0; t < n; ++t)
        if (static_cast<Idx>(active[t]) == c) ec = e[t];
    constexpr double inf = std::numeric_limits<double>::infinity();
    double h_min = inf, f = inf;
    for (Idx t = 0; t < n; ++t) {
        const double h = e[t] - ec;
        if (static_cast<Idx>(active[t]) == c) continue;
        f = h < f ? h : f;
        if ((h > m.eps || h < -m.eps) && h < h_min) h_min = h;
    }
    double total = 0.0;
    for (Idx t = 0; t < n; ++t) {
        const double h = e[t] - ec;
        const bool kept = static_cast<Idx>(active[t]) != c && (h > m.eps || h < -m.eps);
        a[t] = kept ? (h == h_min ? 1.0 : __builtin_exp(-job.beta * (h - h_min))) : 0.0;
        total += a[t];
    }
    const double scale = total > 0.0 ? f / total : 0.0;
    for (Idx t = 0; t < n; ++t) a[t] = a[t] == 0.0 ? 0.0 : a[t] * scale / (e[t] - ec);
    T* out = job.relevance + row * job.relevance_stride;
    const double* uc = m.raw + c * D;
    bool ok = true;
    // R_i = sum_t a_t (pc_i - pk_i)(2 z_i - pc_i - pk_i), a vector of
    // coordinates at a time (each lane sums over t in the same order as one
    // coordinate at a time would: the same values bit for bit), the rest one
    // by one.
    constexpr int W = Dd::W;
    Idx i0 = 0;
    for (; i0 + W <= D; i0 += W) {
        double zl[W];
        for (int l = 0; l < W; ++l) zl[l] = static_cast<double>(x[(i0 + l) * cs]);
        const Vd ci = Dd::load(m.center64 + i0);
        const Vd zi = Dd::load(zl) - ci, pc = Dd::load(uc + i0) - ci;
        Vd r = Dd::zero();
        for (Idx t = 0; t < n; ++t) {
            if (a[t] == 0.0) continue;
            const Vd pk = Dd::load(m.raw + static_cast<Idx>(active[t]) * D + i0) - ci;
            r += a[t] * ((pc - pk) * (2.0 * zi - pc - pk));
        }
        double rl[W];
        Dd::store(rl, r);
        for (int l = 0; l < W; ++l) {
            const bool fits = fits_output<T>(rl[l]);
            ok = ok && fits;
            out[i0 + l] = fits ? static_cast<T>(rl[l]) : T(0);
        }
    }
    for (Idx i = i0; i < D; ++i) {
        const double ci = m.center64[i];
        const double zi = static_cast<double>(x[i * cs]) - ci, pc = uc[i] - ci;
        double r = 0.0;
        for (Idx t = 0; t < n; ++t) {
            if (a[t] == 0.0) continue;
            const double pk = m.raw[static_cast<Idx>(active[t]) * D + i] - ci;
            r += a[t] * ((pc - pk) * (2.0 * zi - pc - pk));
        }
        const bool fits = fits_output<T>(r);
        ok = ok && fits;
        out[i] = fits ? static_cast<T>(r) : T(0);
    }
    if (!ok && status.first_unrepresentable < 0) status.first_unrepresentable = row;
}

// Largest |r_i| of a staged relevance row (Dp values, a multiple of the
// vector width; the padding holds zeros), widened to float64: maxima do not
// depend on the order, so a vector scan gives the scalar scan's value (NaN
// never wins either way).  The scalar scan's sign branch mispredicted on
// rows of mixed signs.
template <class S>
inline double row_abs_max(const S* r, Idx Dp) {
    using Sd = Simd<S>;
    using V = typename Sd::V;
    constexpr int W = Sd::W;
    V best = Sd::zero();
    for (Idx i = 0; i < Dp; i += W) {
        const V v = Sd::load(r + i);
        const V v_abs = v < Sd::zero() ? -v : v;
        best = v_abs > best ? v_abs : best;
    }
    S lanes_of_best[W];
    Sd::store(lanes_of_best, best);
    S top = S(0);
    for (int j = 0; j < W; ++j) top = lanes_of_best[j] > top ? lanes_of_best[j] : top;
    return static_cast<double>(top);
}

// Whether a row's float32 relevance (largest magnitude r_max) may be further
// than about 1e-6 r_max from an exact evaluation on the same float32 values:
// error_bound estimates eps32 s (s sum_k |a_k / h_k| + sum_k |a_k|) with
// s = max|p|^2 + 2 |z| max|p| the scale of the squared distances (the error
// of h_k, amplified by 1 / h_k, and of the relevance product).  Measured on
// standardized digits with random targets the true error stayed below
// 0.3 x error_bound (median 3e-3 x), so rows above 2e-4 r_max are redone
// in float64 (about 15% of rows there; 1.8e-6 worst error left).
constexpr double kFloat64RedoRatio = 2e-4;

template <class T, class S>
void kmeans_rows(const KMeansModelView<S>& m, const KMeansJob<T>& job, Idx r_begin, Idx r_end,
                 const KMeansScratchView<S>& s, KMeansRowStatus& status) {
    constexpr int L = lanes<double>();  // rows per group: one float64 vector
    static_assert(L <= kKMeansMaxLanes && kKMeansSubBlockRows % 8 == 0, "scratch layout");
    constexpr double inf = std::numeric_limits<double>::infinity();
    constexpr bool kFullExp = sizeof(S) >= sizeof(double);  // float64 results need exp to 1 ulp
    constexpr bool kRedoIllConditioned = sizeof(S) < sizeof(double);  // float32 arithmetic: see explain_row_f64
    const Idx K = m.K, Kp = m.Kp, SB = kKMeansSubBlockRows;
    const bool want_relevance = job.relevance != nullptr || job.coefficients != nullptr;
    // Streamed relevance (LineStreamer): the caller asks for it only for a
    // contiguous output of T aligned to T; it is written in S.
    const bool stream = std::is_same<T, S>::value && job.relevance != nullptr && job.stream_relevance;
    LineStreamer<S> streamer;
    if (stream && r_end > r_begin) {
        // The call's first and last lines are stored plainly (shared with
        // the rows around the range): asked for now.
        prefetch_line(job.relevance + r_begin * m.D);
        prefetch_line(job.relevance + r_end * m.D - 1);
    }
    const double beta = job.beta, eps = m.eps;
    const bool fast_reciprocal = kRedoIllConditioned && eps >= 0x1p-1000;  // see reciprocal_f32_range
    // E carries rounding of order (D + 2) u (||p||^2 + 2 ||z|| ||p||) per
    // entry; near ties inside a generous multiple of that are settled with
    // exact distances, so exact ties in the data stay exact ties.
    const double tie_factor =
        8.0 * static_cast<double>(m.D + 4) * static_cast<double>(std::numeric_limits<S>::epsilon());
    const double m_sq = m.max_norm * m.max_norm, two_m = 2.0 * m.max_norm;
    // Group scratch, K x L each, lane j = row g0 + j: distance offsets e,
    // soft-min weights w, midpoint-rule coefficients a.
    double* eT = s.eT;
    double* wT = s.wT;
    double* aT = s.aT;
    S* aT_s = s.aT_s;

    for (Idx b0 = r_begin; b0 < r_end; b0 += SB) {
        const Idx rows = (r_end - b0 < SB) ? r_end - b0 : SB;
        const Idx bad = load_rows(job, m, b0, rows, s.Z, s.z_sq);
        if (bad >= 0) {
            status.first_bad_input = bad;  // the block is abandoned; the caller throws
            if (stream) {
                streamer.flush();
                stream_fence();
            }
            return;
        }
        const Idx padded = (rows + 7) / 8 * 8;
        for (Idx i = rows * m.Dp; i < padded * m.Dp; ++i) s.Z[i] = S(0);
        for (Idx r = rows; r < padded; ++r) s.z_sq[r] = 0.0;
        distances(m, s.Z, padded, s.E);

        for (Idx g0 = 0; g0 < rows; g0 += L) {
            const Idx live = (rows - g0 < L) ? rows - g0 : L;  // lanes beyond are padding rows
            if (!stream) prefetch_rows(job, m.D, b0 + g0, b0 + g0 + live, /*output=*/true);
            const S* Eg = s.E + g0 * Kp;
            for (Idx k = 0; k < K; ++k)
                for (int j = 0; j < L; ++j) eT[k * L + j] = static_cast<double>(Eg[j * Kp + k]);
            if (m.has_duplicates)
                for (Idx k = 0; k < K; ++k)
                    for (int j = 0; j < L; ++j) eT[k * L + j] = eT[m.representative[k] * L + j];

            // The next sub-block's input, a group's worth: a quarter of it at
            // each of four points of the group's work, so that the prefetches
            // do not wait in one burst for the line fill buffers (which the
            // streamed output uses too).  Past the range's end, the rows that
            // follow it (the next block: this thread's next one when it runs
            // alone), up to the last row of the call.
            const auto prefetch_next = [&](Idx quarter) {
                constexpr Idx Q = L / 4 > 0 ? L / 4 : 1;
                const Idx p0 = b0 + SB + g0 + quarter * Q, p1 = (p0 + Q < job.n_rows) ? p0 + Q : job.n_rows;
                if (quarter * Q < L) prefetch_rows(job, m.D, p0, p1, /*output=*/false);
            };
            // Nearest (ties to the lowest index) and second smallest offset;
            // and, in the same pass, the lanes with an offset that is not
            // finite (inf - inf and NaN - NaN are NaN; see below).
            Vd lo = Dd::load(eT), second = Dd::splat(inf), nearest = Dd::zero();
            Vd not_finite = (lo - lo == Dd::zero()) ? Dd::zero() : Dd::splat(1.0);
            for (Idx k = 1; k < K; ++k) {
                const Vd v = Dd::load(eT + k * L);
                const Vd other = v < second ? v : second;
                second = v < lo ? lo : other;
                nearest = v < lo ? Dd::splat(static_cast<double>(k)) : nearest;
                lo = v < lo ? v : lo;
                not_finite += (v - v == Dd::zero()) ? Dd::zero() : Dd::splat(1.0);
            }
            double lo_l[L], second_l[L], nearest_l[L], tol_l[L], not_finite_l[L];
            Dd::store(lo_l, lo);
            Dd::store(second_l, second);
            Dd::store(nearest_l, nearest);
            Dd::store(not_finite_l, not_finite);
            // The scale of each row's squared distances, max|p|^2 + 2 |z| max|p|.
            const Vd s_scale = Dd::splat(m_sq) + two_m * sqrt_lanes(Dd::load(s.z_sq + g0));
            Dd::store(tol_l, s_scale * tie_factor);
            // Near ties, and rows whose norm overflowed S (tolerance inf):
            // float64 distances, one row at a time (rare).
            for (Idx j = 0; j < live; ++j) {
                if (second_l[j] - lo_l[j] > tol_l[j]) continue;
                double* e = s.e_row;
                settle_distances(m, job.X + (b0 + g0 + j) * job.row_stride, job.col_stride, s.z_sq[g0 + j], e);
                if (m.has_duplicates)
                    for (Idx k = 0; k < K; ++k) e[k] = e[m.representative[k]];
                Idx n = 0;
                double l = e[0], sec = inf;
                for (Idx k = 1; k < K; ++k) {
                    if (e[k] < l) {
                        sec = l;
                        l = e[k];
                        n = k;
                    } else if (e[k] < sec) {
                        sec = e[k];
                    }
                }
                bool finite = true;
                for (Idx k = 0; k < K; ++k) {
                    eT[k * L + j] = e[k];
                    finite = finite && e[k] - e[k] == 0.0;
                }
                lo_l[j] = l;
                second_l[j] = sec;
                nearest_l[j] = static_cast<double>(n);
                not_finite_l[j] = finite ? 0.0 : 1.0;
            }

            // Rows whose distances overflowed even in float64 (x - centre
            // beyond the float64 range, or its product with the centroids):
            // reported, and carried on as harmless ties; the caller throws.
            // Flagged by the nearest pass (the rows settled above by their
            // float64 distances); only flagged lanes are looked at one by one.
            for (Idx j = 0; j < live; ++j) {
                if (not_finite_l[j] == 0.0) continue;
                if (status.first_too_far < 0) status.first_too_far = b0 + g0 + j;
                for (Idx k = 0; k < K; ++k) eT[k * L + j] = 0.0;
                lo_l[j] = second_l[j] = 0.0;
                nearest_l[j] = 0.0;
            }

            // Assignments, logits, and the target c of each lane.
            double target_l[L], ec_l[L], f_l[L];
            for (Idx j = 0; j < L; ++j) {
                const Idx row = b0 + g0 + j;
                const Idx n = static_cast<Idx>(nearest_l[j]);
                Idx c = n;
                if (j < live) {
                    if (job.assigned) job.assigned[row] = n;
                    if (job.logits_all) {
                        T* f_all = job.logits_all + row * K;
                        for (Idx k = 0; k < K; ++k) f_all[k] = checked_output<T>(lo_l[j] - eT[k * L + j], row, status);
                        f_all[n] = checked_output<T>(second_l[j] - lo_l[j], row, status);
                    }
                    if (job.target_per_row)
                        c = static_cast<Idx>(job.target_per_row[row]);
                    else if (job.target_fixed >= 0)
                        c = static_cast<Idx>(job.target_fixed);
                }
                if (c < 0 || c >= K) {
                    if (status.first_bad_target < 0) status.first_bad_target = row;
                    c = n;
                    f_l[j] = 0.0;  // nothing to redistribute: the relevance row is written as zeros
                } else {
                    f_l[j] = (c == n ? second_l[j] : lo_l[j]) - eT[c * L + j];
                    if (job.logit && j < live) job.logit[row] = checked_output<T>(f_l[j], row, status);
                }
                target_l[j] = static_cast<double>(c);
                ec_l[j] = eT[c * L + j];
            }
            if (!want_relevance) continue;

            // The absorbing stabilizer (NEON_SPEC.md sections 1 and 5): a
            // competitor with |h_k| <= eps (a twin of c, whose h is exactly 0,
            // or a point on the c|k boundary) leaves the soft-min, so its share
            // goes to the others and sum R_k = f unless every competitor is
            // absorbed.  Soft-min shares over the kept competitors
            // R_k = f exp(-beta (h_k - h_min)) / sum, shifted by their smallest
            // h (exponents <= 0, 0 for the nearest kept competitor); midpoint-
            // rule coefficients a_k = R_k / h_k (h itself: no shift by eps, which
            // would change every contribution by eps / |h_k|), and
            // a_c = -sum a_k so that the x*x terms cancel.
            prefetch_next(0);
            // Rows explained for their own cluster (the usual call): c = n,
            // e_c = lo and f = second - lo, the same values as the lane loop's,
            // taken from the vector-stored offsets (a vector load of eight
            // scalar stores just made waits for all of them to retire).
            const bool own_targets = job.target_per_row == nullptr && job.target_fixed < 0;
            const Vd target = own_targets ? Dd::load(nearest_l) : Dd::load(target_l);
            const Vd ec = own_targets ? Dd::load(lo_l) : Dd::load(ec_l);
            const Vd f = own_targets ? Dd::load(second_l) - ec : Dd::load(f_l);
            const Vd pos_eps = Dd::splat(eps), neg_eps = Dd::splat(-eps), zero = Dd::zero(), unit = Dd::splat(1.0);
            // The smallest kept h: when every lane is explained for its nearest
            // cluster with f > eps (the usual call), the second nearest is kept
            // and no other competitor is nearer, so it is f itself (the same
            // difference of the same two offsets); otherwise one pass finds it.
            bool assigned_targets = true;
            for (Idx j = 0; j < L; ++j)
                assigned_targets = assigned_targets && target_l[j] == nearest_l[j] && f_l[j] > eps;
            Vd total = zero, overflow = zero, h_min = assigned_targets ? f : Dd::splat(inf);
            for (Idx k = 0; k < K && !assigned_targets; ++k) {
                const Vd h = Dd::load(eT + k * L) - ec;
                const auto kept = ((h > pos_eps) | (h < neg_eps)) & (target != Dd::splat(static_cast<double>(k)));
                h_min = (kept & (h < h_min)) ? h : h_min;
            }
            for (Idx k = 0; k < K; ++k) {
                const Vd h = Dd::load(eT + k * L) - ec;
                overflow += (h - h == zero) ? zero : unit;  // h_k beyond float64 (both e finite)
                const auto kept = ((h > pos_eps) | (h < neg_eps)) & (target != Dd::splat(static_cast<double>(k)));
                const Vd w = exp_nonpositive<kFullExp>((h - h_min) * (-beta));  // NaN (inf - inf) gives 0
                const Vd wk = kept ? w : zero;
                Dd::store(wT + k * L, wk);
                total += wk;
            }
            // An h_k that overflowed gets weight 0, which is right only if its
            // true weight exp(-beta (h_k - f)) underflows too: certain when
            // f <= DBL_MAX / 2 and beta DBL_MAX / 2 > 745; otherwise the row
            // is reported as too far (distance differences beyond float64).
            double overflow_l[L];
            Dd::store(overflow_l, overflow);
            constexpr double half_max = 0.5 * std::numeric_limits<double>::max();
            for (Idx j = 0; j < live; ++j) {
                if (overflow_l[j] == 0.0 || (f_l[j] <= half_max && beta * half_max > 745.0)) continue;
                if (status.first_too_far < 0 || status.first_too_far > b0 + g0 + j) status.first_too_far = b0 + g0 + j;
            }
            // total >= 1 when a competitor is kept (the nearest has weight 1);
            // none kept: no relevance.
            prefetch_next(1);
            const Vd scale = total > zero ? f / total : zero;
            Vd sum = zero, zeros = zero, abs_sum = zero, sens = zero;
            for (Idx k = 0; k < K; ++k) {
                const Vd h = Dd::load(eT + k * L) - ec;
                const Vd share = Dd::load(wT + k * L) * scale;
                // Absorbed and target entries have share 0: no coefficient
                // (not 0 / 0 where h = 0).
                // One division per coefficient at most (a vector division costs
                // as much as a dozen multiplications).  float64 arithmetic
                // divides share / h, correctly rounded; float32 arithmetic
                // rounds a to float32 anyway, so share * (1 / h) (1 / h to about
                // 2 ulp, reciprocal_f32_range) gives the same float32
                // coefficient but for rare double roundings, and 1 / h serves
                // the error estimate too.
                Vd a;
                if (kRedoIllConditioned) {
                    const Vd inv_h = share == zero ? zero : (fast_reciprocal ? reciprocal_f32_range(h) : unit / h);
                    a = share * inv_h;
                    const Vd ah = a * inv_h;
                    sens += ah < zero ? -ah : ah;
                } else {
                    a = share == zero ? zero : share / h;
                }
                Dd::store(aT + k * L, a);
                store_lanes_as(aT_s + k * L, a);
                sum += a;
                abs_sum += a < zero ? -a : a;
                zeros += a == zero ? unit : zero;
            }
            double sum_l[L], zeros_l[L], bound_l[L], redo_l[L];
            Dd::store(sum_l, sum);
            Dd::store(zeros_l, zeros);
            if (kRedoIllConditioned) {
                Dd::store(redo_l, s_scale * (s_scale * sens + abs_sum) *
                                      (static_cast<double>(std::numeric_limits<float>::epsilon()) / kFloat64RedoRatio));
            }
            // |R_i| and every partial sum of the relevance product are at most
            // 2 sum|a_k| (max|p|^2 + 2 |z| max|p|) (a_c = -sum a_k included).
            Dd::store(bound_l, abs_sum * 2.0 * s_scale);
            constexpr double out_limit = 0.25 * (static_cast<double>(std::numeric_limits<T>::max()) <
                                                         static_cast<double>(std::numeric_limits<S>::max())
                                                     ? static_cast<double>(std::numeric_limits<T>::max())
                                                     : static_cast<double>(std::numeric_limits<S>::max()));
            // Each row's relevance goes to its staging row Rg + j Dp first; the
            // rows checked one value at a time (rare) write their output
            // themselves.
            Idx dense[L], n_dense = 0;
            bool staged_l[L];
            for (Idx j = 0; j < live; ++j) {
                staged_l[j] = false;
                const Idx c = static_cast<Idx>(target_l[j]);
                if (m.has_duplicates) {
                    const Idx rep_c = m.representative[c];
                    sum_l[j] = 0.0;
                    for (Idx k = 0; k < K; ++k) {
                        if (m.representative[k] == rep_c) {
                            aT[k * L + j] = 0.0;
                            aT_s[k * L + j] = S(0);
                        }
                        sum_l[j] += aT[k * L + j];
                    }
                }
                aT[c * L + j] = -sum_l[j];
                if (job.coefficients) {  // the input-space stage of affine.hpp takes over from here
                    double* dst = job.coefficients + (b0 + g0 + j) * K;
                    for (Idx k = 0; k < K; ++k) dst[k] = aT[k * L + j];
                }
                if (!job.relevance) continue;
                if (!(bound_l[j] <= out_limit)) {  // rare: could overflow, or a is not finite
                    relevance_row_checked<T, S>(m, aT, j, L, s.Z + (g0 + j) * m.Dp,
                                                job.relevance + (b0 + g0 + j) * job.relevance_stride, b0 + g0 + j,
                                                status);
                    continue;
                }
                staged_l[j] = true;
                aT_s[c * L + j] = static_cast<S>(-sum_l[j]);
                if (4.0 * zeros_l[j] <= static_cast<double>(K)) {
                    dense[n_dense++] = j;
                    continue;
                }
                // Most shares underflowed (large beta): skip the exact zeros,
                // which contribute nothing.
                Idx n = 0;
                for (Idx k = 0; k < K; ++k) {
                    if (aT[k * L + j] != 0.0) {
                        s.active_rows[n] = m.rows[k];
                        s.active_a[n] = aT_s[k * L + j];
                        ++n;
                    }
                }
                RelevanceRows<S, 1> one{{s.active_a}, {s.Z + (g0 + j) * m.Dp}, {s.Rg + j * m.Dp}};
                relevance_rows<S, 1, false>(m, s.active_rows, 1, n, one);
            }
            prefetch_next(2);
            // Rows with (nearly) all shares nonzero, two at a time.
            Idx q = 0;
            for (; q + 1 < n_dense; q += 2) {
                const Idx j0 = dense[q], j1 = dense[q + 1];
                RelevanceRows<S, 2> two{{aT_s + j0, aT_s + j1},
                                        {s.Z + (g0 + j0) * m.Dp, s.Z + (g0 + j1) * m.Dp},
                                        {s.Rg + j0 * m.Dp, s.Rg + j1 * m.Dp}};
                relevance_rows<S, 2, true>(m, nullptr, L, K, two);
            }
            if (q < n_dense) {
                const Idx j = dense[q];
                RelevanceRows<S, 1> one{{aT_s + j}, {s.Z + (g0 + j) * m.Dp}, {s.Rg + j * m.Dp}};
                relevance_rows<S, 1, true>(m, nullptr, L, K, one);
            }
            prefetch_next(3);
            // The staged rows that go out as they are (not redone in float64).
            bool copy_l[L];
            for (Idx j = 0; j < live; ++j) {
                copy_l[j] = false;
                if (!staged_l[j]) continue;
                const S* r = s.Rg + j * m.Dp;
                if (kRedoIllConditioned) {
                    // The relevance sums to f, so r_max >= |f| / D: most rows
                    // are cleared without looking at their values.
                    const double f_abs = f_l[j] < 0.0 ? -f_l[j] : f_l[j];
                    if (redo_l[j] * static_cast<double>(m.D) > f_abs) {
                        if (redo_l[j] > row_abs_max(r, m.Dp)) {
                            explain_row_f64(m, job, b0 + g0 + j, static_cast<Idx>(target_l[j]), f_l[j], s.z_sq[g0 + j],
                                            aT + j, eT + j, L, m_sq + two_m * __builtin_sqrt(s.z_sq[g0 + j]), s.e_row,
                                            s.a_row, s.k_row, status);
                            continue;
                        }
                    }
                }
                copy_l[j] = true;
                if (!stream) write_row(job.relevance + (b0 + g0 + j) * job.relevance_stride, r, m.D);
            }
            if (!stream) continue;
            // Streamed: each run of consecutive copied rows is one span of
            // the contiguous output; its staging rows (Dp apart) are packed
            // D apart first, in place (forward: row j moves down to j0 Dp +
            // (j - j0) D <= j Dp), and go to the streamer.
            for (Idx j0 = 0; j0 < live;) {
                if (!copy_l[j0]) {
                    ++j0;
                    continue;
                }
                Idx j1 = j0 + 1;
                for (; j1 < live && copy_l[j1]; ++j1) {
                    S* dst = s.Rg + j0 * m.Dp + (j1 - j0) * m.D;
                    const S* src = s.Rg + j1 * m.Dp;
                    if (dst != src)
                        for (Idx i = 0; i < m.D; ++i) dst[i] = src[i];
                }
                streamer.write(reinterpret_cast<S*>(job.relevance + (b0 + g0 + j0) * m.D), s.Rg + j0 * m.Dp,
                               (j1 - j0) * m.D);
                j0 = j1;
            }
        }
    }
    if (stream) {
        streamer.flush();
        stream_fence();
    }
}

// The kernels of this instruction set, for FusedEvaluator to choose from.
// Defined (not inline) in the one translation unit compiled for each
// instruction set (cpp/neon/isa/), inline in the portable build.
#if defined(NEON_ISA_TRANSLATION_UNIT)
KMeansKernelTable kmeans_kernels()
#else
inline KMeansKernelTable kmeans_kernels()
#endif
{
    KMeansKernelTable table;
    table.f32 = &kmeans_rows<float, float>;
    table.f64 = &kmeans_rows<double, double>;
    table.f32_in_f64 = &kmeans_rows<float, double>;
    return table;
}

}  // namespace NEON_ISA
}  // namespace neon
