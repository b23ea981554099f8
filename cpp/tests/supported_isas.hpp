// The instruction sets this CPU runs, for the C++ tests that check every
// per-ISA kernel family (isa.hpp) against plain loops.
#pragma once

#include <vector>

#include "neon/isa.hpp"

namespace neon_test {

inline std::vector<neon::Isa> supported_isas() {
    std::vector<neon::Isa> out;
    for (neon::Isa isa : {neon::Isa::portable, neon::Isa::avx2, neon::Isa::avx512})
        if (neon::isa_supported(isa)) out.push_back(isa);
    return out;
}

}  // namespace neon_test
