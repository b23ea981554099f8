// Which instruction set the kernels run with: one mechanism for every
// kernel family (explain, predict/logits, the Lloyd pass, k-means++
// products, moments).
//
// The portable kernels are compiled with the build's own flags (SSE2 on a
// default x86-64 build).  Builds with NEON_X86_KERNELS also link copies
// compiled with -mavx2 -mfma and with -mavx512f (cpp/neon/isa/); the CPU is
// checked once (best_isa: the fastest it runs, or NEON_EXT_ISA), and each
// family's table of function pointers is fetched once per instruction set,
// so one portable binary (a wheel) still runs at full speed on recent CPUs
// and NEON_EXT_ISA=portable|avx2|avx512 reaches every kernel.
//
// A kernel family is a table of plain function pointers (an aggregate in a
// header with no inline functions, e.g. fit_kernel_args.hpp) filled by a
// function <family>_kernels() that each instruction set defines in its own
// namespace neon::portable / neon::avx2 / neon::avx512.  Adding a family F:
//   1. cpp/neon/F_kernel.hpp: the kernels, inside namespace neon::NEON_ISA,
//      calling nothing inline from outside it (see kmeans_kernel.hpp), and
//      ending with
//          NEON_ISA_KERNEL_TABLE_GETTER(FKernelTable) F_kernels() { ... }
//      (isa_unit.hpp), an ordinary definition in each per-ISA translation
//      unit; the table records NEON_ISA_NAME, so callers can report what
//      ran.
//   2. cpp/neon/isa/F_portable.cpp, F_avx2.cpp and F_avx512.cpp: define
//      NEON_ISA and NEON_ISA_TRANSLATION_UNIT, include F_kernel.hpp (copy
//      fit_portable.cpp / fit_avx2.cpp).
//   3. CMakeLists.txt: add F to NEON_KERNEL_FAMILIES (flags come with it).
//   4. In the header that runs the kernels, which includes the table's
//      header (F_kernel_args.hpp), not F_kernel.hpp, inside namespace neon:
//          NEON_DECLARE_KERNEL_FAMILY(FKernelTable, F_kernels)
//      which declares the per-ISA getters and defines
//      `const FKernelTable& F_kernels_for(Isa)`: the table for a requested
//      instruction set (automatic: best_isa()), built on first use; only a
//      supported set's getter is ever called.
//   5. python/neon_ext/bindings/module.cpp: report the table's isa in
//      build_info()["kernel_families"].
// Families so far: kmeans_kernels (explain/predict/logits, kmeans.hpp),
// fit_kernels (fit_dispatch.hpp), pair_sums_kernels (cauchy_sums.hpp),
// kernel_rows_kernels (kernel k-means rows, kernel_rows.hpp).
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace neon {

enum class Isa : int { automatic = -1, portable = 0, avx2 = 1, avx512 = 2 };

inline const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::portable:
            return "portable";
        case Isa::avx2:
            return "avx2";
        case Isa::avx512:
            return "avx512";
        default:
            return "auto";
    }
}

inline Isa parse_isa(const std::string& name) {
    if (name == "auto") return Isa::automatic;
    if (name == "portable") return Isa::portable;
    if (name == "avx2") return Isa::avx2;
    if (name == "avx512") return Isa::avx512;
    throw std::invalid_argument("unknown instruction set '" + name + "' (expected auto, portable, avx2 or avx512)");
}

// Whether this build contains kernels for `isa`.
inline bool isa_compiled(Isa isa) {
    if (isa == Isa::portable || isa == Isa::automatic) return true;
#if defined(NEON_X86_KERNELS)
    return isa == Isa::avx2 || isa == Isa::avx512;
#else
    return false;
#endif
}

// Whether this CPU (and OS: __builtin_cpu_supports checks the enabled
// register state) can run the kernels for `isa`.
inline bool isa_supported(Isa isa) {
    if (!isa_compiled(isa)) return false;
    if (isa == Isa::portable || isa == Isa::automatic) return true;
#if defined(NEON_X86_KERNELS) && (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == Isa::avx2) return avx2;
    if (isa == Isa::avx512) return avx2 && __builtin_cpu_supports("avx512f");
#endif
    return false;
}

// The fastest instruction set this build and CPU run.
inline Isa fastest_isa() {
    return isa_supported(Isa::avx512) ? Isa::avx512 : isa_supported(Isa::avx2) ? Isa::avx2 : Isa::portable;
}

// What NEON_EXT_ISA=`value` asks for: null or empty, the fastest this CPU
// runs; otherwise exactly portable, avx2 or avx512, which this build and CPU
// must run.  Anything else is an std::invalid_argument (a ValueError in
// Python) naming the value and the accepted ones: a forced set that cannot
// be honoured is not silently replaced by another.  The one place the
// variable is parsed (the Python layer does not read it).
inline Isa isa_from_setting(const char* value) {
    if (value == nullptr || *value == '\0') return fastest_isa();
    const std::string v(value);
    for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
        if (v != isa_name(isa)) continue;
        if (isa_supported(isa)) return isa;
        std::string runs;
        for (Isa other : {Isa::portable, Isa::avx2, Isa::avx512})
            if (isa_supported(other)) runs += std::string(runs.empty() ? "" : ", ") + isa_name(other);
        throw std::invalid_argument("NEON_EXT_ISA='" + v +
                                    "': " + (isa_compiled(isa) ? "this CPU does not run " : "this build has no ") + v +
                                    " kernels; use one of " + runs + " or unset it");
    }
    throw std::invalid_argument(
        "NEON_EXT_ISA='" + v +
        "' is not an instruction set of neon_ext; use one of portable, avx2, avx512 or unset it");
}

// The instruction set `automatic` means: isa_from_setting(NEON_EXT_ISA),
// read once, at the first call, for the whole process.  A bad value is not
// an error at `import neon_ext` (nothing runs then) but an
// std::invalid_argument from this and so from every call that resolves an
// instruction set: the first compiled call, or build_info(), says what is
// wrong (the bindings ask before any long call: binding.hpp).
inline Isa best_isa() {
    struct Choice {
        Isa isa = Isa::portable;
        std::string error;
    };
    static const Choice choice = [] {
        Choice c;
        try {
            c.isa = isa_from_setting(std::getenv("NEON_EXT_ISA"));
        } catch (const std::invalid_argument& e) {
            c.error = e.what();
        }
        return c;
    }();
    if (!choice.error.empty()) throw std::invalid_argument(choice.error);
    return choice.isa;
}

// `requested`, checked; automatic -> best_isa().
inline Isa resolve_isa(Isa requested) {
    if (requested == Isa::automatic) return best_isa();
    if (!isa_compiled(requested))
        throw std::invalid_argument(std::string("this build has no ") + isa_name(requested) + " kernels");
    if (!isa_supported(requested))
        throw std::invalid_argument(std::string("this CPU does not support ") + isa_name(requested));
    return requested;
}

// The kernel table of one family for `requested` (see the top of this file).
// Only the getter of the resolved, supported instruction set runs: the
// other copies may use instructions this CPU lacks.  Every copy, the
// portable one included, is compiled in its own translation unit
// (cpp/neon/isa/F_<isa>.cpp), so a header running the kernels includes the
// table's header only, not the kernels: they are compiled once, not once per
// file that runs them.
#if defined(NEON_X86_KERNELS)
#define NEON_ISA_FAMILY_DECLARE_(Table, getter) \
    namespace portable {                        \
    Table getter();                             \
    }                                           \
    namespace avx2 {                            \
    Table getter();                             \
    }                                           \
    namespace avx512 {                          \
    Table getter();                             \
    }
#define NEON_ISA_FAMILY_X86_CASES_(Table, getter)    \
    case ::neon::Isa::avx512: {                      \
        static const Table table = avx512::getter(); \
        return table;                                \
    }                                                \
    case ::neon::Isa::avx2: {                        \
        static const Table table = avx2::getter();   \
        return table;                                \
    }
#else
#define NEON_ISA_FAMILY_DECLARE_(Table, getter) \
    namespace portable {                        \
    Table getter();                             \
    }
#define NEON_ISA_FAMILY_X86_CASES_(Table, getter)
#endif
#define NEON_DECLARE_KERNEL_FAMILY(Table, getter)              \
    NEON_ISA_FAMILY_DECLARE_(Table, getter)                    \
    inline const Table& getter##_for(::neon::Isa requested) {  \
        switch (::neon::resolve_isa(requested)) {              \
            NEON_ISA_FAMILY_X86_CASES_(Table, getter)          \
            default: {                                         \
                static const Table table = portable::getter(); \
                return table;                                  \
            }                                                  \
        }                                                      \
    }

}  // namespace neon
