// The kernel k-means row kernels (distance products, pool weights,
// relevance product) compiled for avx2 (flags in CMakeLists.txt), defining
// neon::avx2::kernel_rows_kernels(); chosen at run time by kernel_rows.hpp.
// Include nothing else here (see kmeans_kernel.hpp).
#if !defined(__AVX2__)
#error "compile this file with the avx2 flags (CMakeLists.txt)"
#endif
#define NEON_ISA avx2
#define NEON_ISA_TRANSLATION_UNIT
#include "neon/kernel_rows_kernel.hpp"
