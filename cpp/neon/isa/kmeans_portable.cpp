// The k-means row kernels compiled with the build's own flags (SSE2 on a
// default x86-64 build), defining neon::portable::kmeans_kernels();
// FusedEvaluator runs them when no faster set applies (neon/kmeans.hpp).
// Compiled once, here, rather than inline in every file that runs the
// kernels (build time, CMakeLists.txt).  Include nothing else here: see the
// note on inline functions at the top of kmeans_kernel.hpp.
#define NEON_ISA portable
#define NEON_ISA_TRANSLATION_UNIT
#include "neon/kmeans_kernel.hpp"
