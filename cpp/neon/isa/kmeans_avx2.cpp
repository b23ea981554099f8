// The k-means row kernels compiled for avx2 (-mavx2 -mfma, set in
// CMakeLists.txt); KMeansCore runs them when the CPU supports them
// (neon/isa.hpp).  Include nothing else here: see the
// note on inline functions at the top of kmeans_kernel.hpp.
#if !defined(__AVX2__)
#error "compile this file with the avx2 flags (CMakeLists.txt)"
#endif
#define NEON_ISA avx2
#include "neon/kmeans_kernel.hpp"

namespace neon {
namespace avx2 {

KMeansKernelTable kmeans_kernels() {
    KMeansKernelTable table;
    table.f32 = &kmeans_rows<float, float>;
    table.f64 = &kmeans_rows<double, double>;
    table.f32_in_f64 = &kmeans_rows<float, double>;
    return table;
}

}  // namespace avx2
}  // namespace neon
