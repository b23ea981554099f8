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
