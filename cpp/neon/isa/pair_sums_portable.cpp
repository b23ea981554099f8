// The kernel k-means pair loop compiled with the build's own flags (SSE2 on
// a default x86-64 build), defining neon::portable::pair_sums_kernels(); the
// pair sums run it when no faster set applies (neon/cauchy_sums.hpp).
// Compiled once, here, rather than inline in every file that runs the
// kernels (build time, CMakeLists.txt).  Include nothing else here: see the
// note on inline functions at the top of pair_sums_kernel.hpp.
#define NEON_ISA portable
#define NEON_ISA_TRANSLATION_UNIT
#include "neon/pair_sums_kernel.hpp"
