// One SIMD register of S for the kernel sources compiled once per
// instruction set (isa.hpp): GCC/Clang vector extensions, compiled to the
// instruction set of the translation unit, so the kernels are written once
// for SSE2, AVX2 and AVX-512.  Other compilers get W = 1: the same code on
// scalars.  Lanes never interact except in explicit reductions, whose order
// is fixed, so results do not depend on where a row sits.
//
// Include this file at namespace scope INSIDE namespace neon::NEON_ISA (after
// <cstring>), never outside it: its inline functions must be compiled per
// instruction set, and an inline function compiled with AVX instructions in
// one object and without in another is one symbol to the linker.  Every
// translation unit has one NEON_ISA, so #pragma once keeps one definition.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define NEON_VECTOR_EXTENSIONS 1
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#elif defined(__AVX__)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;
#endif
#else
#define NEON_VECTOR_EXTENSIONS 0
#endif

template <class S>
struct Simd {
#if NEON_VECTOR_EXTENSIONS
    static constexpr int W = kVectorBytes / static_cast<int>(sizeof(S));
    typedef S V __attribute__((vector_size(kVectorBytes)));
#else
    static constexpr int W = 1;
    typedef S V;
#endif
    static V zero() { return V{}; }
    static V splat(S x) { return zero() + x; }
    static V load(const S* p) {
        V v;
        std::memcpy(&v, p, sizeof v);
        return v;
    }
    static void store(S* p, const V& v) { std::memcpy(p, &v, sizeof v); }
    // 0, 1, ..., W - 1.
    static V iota() {
        S lanes[W];
        for (int j = 0; j < W; ++j) lanes[j] = static_cast<S>(j);
        return load(lanes);
    }
    // Sum of the lanes, always in the same order (lane 0 first).
    static S sum(const V& v) {
        S lanes[W];
        store(lanes, v);
        S total = lanes[0];
        for (int j = 1; j < W; ++j) total += lanes[j];
        return total;
    }
};

// The register tile of the distance products (k-means and kernel k-means):
// acc[r][v] = sum_{i < n} z[r z_stride + i] p[i p_stride + v W] for RG rows
// and NV vectors of prototypes.  The RG x NV accumulators stay in registers
// while i runs; each step loads NV vectors of the transposed prototypes and
// broadcasts one z per row.
template <class S, int RG, int NV>
inline void tile_products(const S* z, std::ptrdiff_t z_stride, const S* p, std::ptrdiff_t p_stride, std::ptrdiff_t n,
                          typename Simd<S>::V (&acc)[RG][NV]) {
    using V = typename Simd<S>::V;
    constexpr int W = Simd<S>::W;
    for (int r = 0; r < RG; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = Simd<S>::zero();
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        V pv[NV];
        for (int v = 0; v < NV; ++v) pv[v] = Simd<S>::load(p + i * p_stride + v * W);
        for (int r = 0; r < RG; ++r) {
            const S zi = z[r * z_stride + i];
            for (int v = 0; v < NV; ++v) acc[r][v] += zi * pv[v];
        }
    }
}

// --- exp(-t) and expm1(-t) of float64 lanes for t >= 0 (kernel k-means pool
// weights, kernel_rows_kernel.hpp).  Polynomials and exponent bits only, so
// they compile to the translation unit's instruction set and never call the
// library.

// 1 / k! for k = 0..16, folded at compile time.
struct InvFactorials {
    double v[17];
};
constexpr InvFactorials inv_factorials() {
    InvFactorials f{};
    double c = 1.0;
    for (int k = 0; k < 17; ++k) {
        if (k > 0) c /= static_cast<double>(k);
        f.v[k] = c;
    }
    return f;
}

// w = exp(-t) and w - 1 for lanes 0 <= t < 708 (results stay normal), the
// latter without cancellation where w >= 1/2.  -t = n ln 2 + r with
// |r| <= ln 2 / 2: n = 0 where t <= ln 2 / 2 (r = -t exactly, and w - 1 =
// expm1(r) directly), n = round(-t / ln 2) elsewhere (there w <= 0.71, so
// w - 1 is exact: Sterbenz).  expm1(r) = r sum_{k < Terms} r^k / (k + 1)!
// by Horner, whose first left-out term is below (ln 2 / 2)^Terms /
// (Terms + 1)! / (1 - ln 2 / 4) relative (kExpTermsFloat64 = 13: 1.5e-17,
// a tenth of an ulp; kExpTermsFloat32 = 8: 7e-10, for weights that enter
// float32 results); then w = 2^n (1 + expm1(r)).
constexpr int kExpTermsFloat64 = 13;
constexpr int kExpTermsFloat32 = 8;
template <int Terms>
inline void exp_minus_and_m1(const Simd<double>::V& t, Simd<double>::V& w, Simd<double>::V& w_m1) {
    static_assert(Terms >= 2 && Terms <= 16, "1 / (k + 1)! tabulated up to k = 15");
    using V = Simd<double>::V;
#if NEON_VECTOR_EXTENSIONS
    typedef std::uint64_t Bits __attribute__((vector_size(kVectorBytes)));
#else
    typedef std::uint64_t Bits;
#endif
    constexpr InvFactorials f = inv_factorials();
    constexpr double log2e = 1.4426950408889634074;
    constexpr double ln2_hi = 0x1.62e42fee00000p-1;  // 32 significant bits: n ln2_hi is exact
    constexpr double ln2_lo = 0x1.a39ef35793c76p-33;
    constexpr double shifter = 0x1.8p52;  // adding it rounds to an integer held in the low bits
    const V zero = Simd<double>::zero(), x = zero - t;
    const auto near_one = t <= Simd<double>::splat(0.34657359027997264);  // ln 2 / 2
    const V shifted = near_one ? Simd<double>::splat(shifter) : x * log2e + shifter;
    const V n = shifted - shifter;
    const V r = near_one ? x : (x - n * ln2_hi) - n * ln2_lo;
    V p = Simd<double>::splat(f.v[Terms]);
    for (int k = Terms - 2; k >= 0; --k) p = p * r + f.v[k + 1];
    p = p * r;  // expm1(r)
    Bits nb, sb, ob;
    const V offset = Simd<double>::splat(shifter), one = Simd<double>::splat(1.0);
    std::memcpy(&sb, &shifted, sizeof sb);
    std::memcpy(&ob, &offset, sizeof ob);
    nb = ((sb - ob) + 1023) << 52;  // 2^n: n (two's complement in the low bits) as the exponent
    V scale;
    std::memcpy(&scale, &nb, sizeof scale);
    w = (one + p) * scale;
    w_m1 = near_one ? p : w - one;
}
