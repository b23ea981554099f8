// What the kernel k-means row kernels (kernel_rows_kernel.hpp) read and the
// table of them per instruction set (isa.hpp's kernel families).  Only plain
// aggregates live here, no inline functions (see the note at the top of
// kmeans_kernel.hpp).
#pragma once

#include <cstddef>

namespace neon {

// The support vectors in the layouts the row kernels stream, packed once
// per model (kernel_rows.hpp), in the model's internal (cluster) order.
// Padding entries are 0.
struct KernelRowsModelView {
    std::ptrdiff_t M = 0, D = 0;
    std::ptrdiff_t Mp = 0;   // M rounded up to 32: whole column tiles of every instruction set
    std::ptrdiff_t Dp2 = 0;  // 2 Dp, Dp = D rounded up to 8: [u | u*u] rows
    const double* UT = nullptr;        // D x Mp: centred support vectors, transposed
    const double* sq_norm = nullptr;   // Mp: ||u_j||^2
    const float* UT_f = nullptr;       // D x Mp: the same rounded to float32
    const float* sq_norm_f = nullptr;  // Mp: ||fl32(u_j)||^2 (of the rounded rows)
    const double* PP = nullptr;        // M x Dp2: [u_j | u_j * u_j]
};

struct KernelRowsKernelTable {
    // E[r, j] = ||u_j||^2 - 2 z_r . u_j for rows r < rows (Z: rows x D,
    // row-major; E: row stride Mp; every entry of a row up to Mp written),
    // in float64 or in float32 against the rounded support vectors (E
    // holds the float32 results widened).
    void (*distances_f64)(const KernelRowsModelView& m, const double* Z, std::ptrdiff_t rows, double* E) = nullptr;
    void (*distances_f32)(const KernelRowsModelView& m, const float* Z, std::ptrdiff_t rows, double* E) = nullptr;
    // Whether e[0 .. n) are all finite.
    bool (*all_finite)(const double* e, std::ptrdiff_t n) = nullptr;
    // Pool weights of the n members of one cluster with offset distances e,
    // leaving out member `skip` (or none if < 0; its w is 0):
    // w_j = exp(-gamma (e_j - lo)) with lo their smallest e (0 where
    // gamma (e_j - lo) >= 700; from expm1 where w >= 1/2).  sums (7 entries):
    // {lo, sum w, sum (w - 1), sum (e - lo), sum t, sum t (e - lo), max t},
    // t = gamma (e - lo): the soft-min's moments (kernel_kmeans.hpp); lo is
    // +inf and the sums 0 when no member is left.
    void (*pool_weights)(const double* e, std::ptrdiff_t n, std::ptrdiff_t skip, double gamma, double* w,
                         double* sums) = nullptr;
    // The same with weights to about 1e-9 relative, for distances from the
    // float32 product (whose rounding is far coarser).
    void (*pool_weights_f32)(const double* e, std::ptrdiff_t n, std::ptrdiff_t skip, double gamma, double* w,
                             double* sums) = nullptr;
    // G[r, :] = sum_{t < M} A[r, t] PP[t, :] for rows r < rows (A: row
    // stride a_stride; G: row stride Dp2).
    void (*relevance_product)(const KernelRowsModelView& m, const double* A, std::ptrdiff_t a_stride,
                              std::ptrdiff_t rows, double* G) = nullptr;
    const char* isa = nullptr;  // the instruction set these were compiled for
};

}  // namespace neon
