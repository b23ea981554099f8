// The kernel k-means row kernels (distance products, pool weights,
// relevance product) compiled with the build's own flags (SSE2 on a default
// x86-64 build), defining neon::portable::kernel_rows_kernels(); chosen at
// run time by kernel_rows.hpp when no faster set applies.  Compiled once,
// here, rather than inline in every file that runs the kernels (build time,
// CMakeLists.txt).  Include nothing else here (see kmeans_kernel.hpp).
#define NEON_ISA portable
#define NEON_ISA_TRANSLATION_UNIT
#include "neon/kernel_rows_kernel.hpp"
