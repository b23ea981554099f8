// The k-means row kernels compiled for avx2 (-mavx2 -mfma, set in
// CMakeLists.txt), defining neon::avx2::kmeans_kernels(); FusedEvaluator runs
// them when the CPU supports them (neon/isa.hpp).  Include nothing else
// here: see the note on inline functions at the top of kmeans_kernel.hpp.
#if !defined(__AVX2__)
#error "compile this file with the avx2 flags (CMakeLists.txt)"
#endif
#define NEON_ISA avx2
#define NEON_ISA_TRANSLATION_UNIT
#include "neon/kmeans_kernel.hpp"
