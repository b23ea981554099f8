// The k-means fitting kernels compiled with the build's own flags (SSE2 on a
// default x86-64 build), defining neon::portable::fit_kernels(); the fit
// passes run them when no faster set applies (neon/fit_dispatch.hpp).
// Compiled once, here, rather than inline in every file that runs the
// kernels (build time, CMakeLists.txt).  Include nothing else here: see the
// note on inline functions at the top of fit_kernel.hpp.
#define NEON_ISA portable
#define NEON_ISA_TRANSLATION_UNIT
#include "neon/fit_kernel.hpp"
