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
    // Stores v at p, which must be aligned to sizeof(V), bypassing the caches
    // (a non-temporal store: no read of the line first, nothing evicted) where
    // the instruction set has one; a plain store otherwise.  For outputs far
    // larger than the caches, written once.  Call stream_fence() after the
    // last one, before other threads may read the data.
    static void stream(S* p, const V& v) {
#if NEON_VECTOR_EXTENSIONS && defined(__clang__)
        __builtin_nontemporal_store(v, reinterpret_cast<V*>(p));
#elif NEON_VECTOR_EXTENSIONS && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
#if defined(__AVX512F__)
#define NEON_STREAM_REG "v"
#else
#define NEON_STREAM_REG "x"
#endif
#if defined(__AVX__)
#define NEON_STREAM_OP "vmovnt"
#else
#define NEON_STREAM_OP "movnt"
#endif
        if (sizeof(S) == 4)
            __asm__(NEON_STREAM_OP "ps %1, %0" : "=m"(*reinterpret_cast<V*>(p)) : NEON_STREAM_REG(v));
        else
            __asm__(NEON_STREAM_OP "pd %1, %0" : "=m"(*reinterpret_cast<V*>(p)) : NEON_STREAM_REG(v));
#undef NEON_STREAM_REG
#undef NEON_STREAM_OP
#else
        store(p, v);
#endif
    }
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

// Orders the non-temporal stores of Simd<S>::stream before every later
// store of this thread (x86's sfence), so a thread that sees the later ones
// (the end of a parallel loop) sees the streamed data too.
inline void stream_fence() {
#if NEON_VECTOR_EXTENSIONS && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
    __asm__ volatile("sfence" ::: "memory");
#endif
}
