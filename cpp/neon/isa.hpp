// Which instruction set the row kernels run with.
//
// The portable kernels are compiled with the build's own flags (SSE2 on a
// default x86-64 build).  Builds with NEON_X86_KERNELS also link copies
// compiled with -mavx2 -mfma and with -mavx512f (cpp/neon/isa/); the best
// one the CPU and OS support is chosen at run time, so one portable binary
// (a wheel) still runs at full speed on recent CPUs.
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace neon {

enum class Isa : int { automatic = -1, portable = 0, avx2 = 1, avx512 = 2 };

inline const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::portable: return "portable";
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
        default: return "auto";
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

// The instruction set `automatic` means: the environment variable
// NEON_EXT_ISA (portable, avx2 or avx512) when it names one this CPU runs,
// otherwise the fastest available.  Read once, at the first call.
inline Isa best_isa() {
    static const Isa best = [] {
        if (const char* forced = std::getenv("NEON_EXT_ISA")) {
            for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512})
                if (std::string(forced) == isa_name(isa) && isa_supported(isa)) return isa;
        }
        return isa_supported(Isa::avx512) ? Isa::avx512 : isa_supported(Isa::avx2) ? Isa::avx2 : Isa::portable;
    }();
    return best;
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

}  // namespace neon
