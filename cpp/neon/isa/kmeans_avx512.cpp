// The k-means row kernels compiled for avx512 (-mavx512f -mavx2 -mfma, set in
// CMakeLists.txt); KMeansCore runs them when the CPU supports them
// (neon/isa.hpp).  Include nothing else here: see the
// note on inline functions at the top of kmeans_kernel.hpp.
#if !defined(__AVX512F__)
#error "compile this file with the avx512 flags (CMakeLists.txt)"
#endif
#define NEON_ISA avx512
#include "neon/kmeans_kernel.hpp"

namespace neon {
namespace avx512 {

KMeansKernelTable kmeans_kernels() {
    KMeansKernelTable table;
    table.f32 = &kmeans_rows<float, float>;
    table.f64 = &kmeans_rows<double, double>;
    table.f32_in_f64 = &kmeans_rows<float, double>;
    return table;
}

}  // namespace avx512
}  // namespace neon
