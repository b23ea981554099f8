// The kernel k-means direct pair loop compiled for avx2 (flags in
// CMakeLists.txt), defining neon::avx2::pair_sums_kernels(); chosen at run
// time by cauchy_sums.hpp.  Include nothing else here (see kmeans_kernel.hpp).
#if !defined(__AVX2__)
#error "compile this file with the avx2 flags (CMakeLists.txt)"
#endif
#define NEON_ISA avx2
#define NEON_ISA_TRANSLATION_UNIT
#include "neon/pair_sums_kernel.hpp"
