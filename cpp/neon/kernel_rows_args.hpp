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
    // [u_j | u_j * u_j] (M x Dp2) in column chunks of kPackedChunk: entry
    // (j, col) at chunk M + j width + (col - chunk), chunk = col rounded
    // down to kPackedChunk, width = min(kPackedChunk, Dp2 - chunk), so that
    // the rows of one chunk are contiguous (relevance_product).
    const double* PP = nullptr;
};

// Columns per chunk of the packed [u | u*u] (a multiple of every
// instruction set's 4 W for float64 tiles up to AVX-512's 32).
constexpr std::ptrdiff_t kPackedChunk = 32;

// Below this largest gamma (e - lo) of a pool the soft-min is its cumulant
// expansion (kernel_kmeans.hpp), which needs the pool's moments.
constexpr double kMomentsBelow = 1e-8;

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
    // +inf and the sums 0 when no member is left.  The three moments are
    // summed only where max t < kMomentsBelow (0 elsewhere): the soft-min
    // reads them only there.
    void (*pool_weights)(const double* e, std::ptrdiff_t n, std::ptrdiff_t skip, double gamma, double* w,
                         double* sums) = nullptr;
    // The same with weights to about 1e-9 relative, for distances from the
    // float32 product (whose rounding is far coarser).
    void (*pool_weights_f32)(const double* e, std::ptrdiff_t n, std::ptrdiff_t skip, double gamma, double* w,
                             double* sums) = nullptr;
    // How many of the n members with a weight (w_j > 0) lie within eps of
    // [lo, hi]: neither e_j - hi > eps nor e_j - lo < -eps (kernel k-means'
    // test of a competitor's members against the target's distances,
    // kernel_kmeans.hpp).
    std::ptrdiff_t (*weighted_within)(const double* e, const double* w, std::ptrdiff_t n, double lo, double hi,
                                      double eps) = nullptr;
    // The members of one competitor cluster that keep a share of its
    // relevance (kernel_kmeans.hpp, layer 3), appended in order: member j < n
    // is kept where q_j > 0 and w_j >= floor q_j (q null: q_j = 1 where
    // w_j > 0, 0 elsewhere); then J = first + j,
    // t = e_j and R = (scale w_j) / (pool q_j) are written at the next
    // position (each array needs room for 8 entries past the last one kept,
    // whatever the instruction set), and bit j % 8 of masks[j / 8] says
    // whether j was kept.  *served is cleared where a kept member fails
    // cauchy_root_serves(e_j, c, r, eps) (cauchy_sums.hpp).  Returns how many
    // were kept.
    std::ptrdiff_t (*keep_members)(const double* e, const double* w, const double* q, std::ptrdiff_t n,
                                   std::ptrdiff_t first, double floor, double scale, double pool, double c, double r,
                                   double eps, std::ptrdiff_t* J, double* t, double* R, unsigned char* masks,
                                   bool* served) = nullptr;
    // The target's members with a weight (w_j > 0), in order: I = first + j,
    // s = e_j and q = w_j / total written at the next position (room for 8
    // entries past the last, as keep_members); returns how many.
    std::ptrdiff_t (*weighted_members)(const double* e, const double* w, std::ptrdiff_t n, std::ptrdiff_t first,
                                       double total, std::ptrdiff_t* I, double* s, double* q) = nullptr;
    // The inverse of keep_members for one cluster: a[j] = R_k u_k for the
    // k-th kept member j < n (masks as keep_members wrote them), 0 for the
    // members not kept.
    void (*expand_products)(const unsigned char* masks, std::ptrdiff_t n, const double* R, const double* u,
                            double* a) = nullptr;
    // G[r, :] = sum_{t < M} A[r, t] PP[t, :] for rows r < rows (A: row
    // stride a_stride; G: row stride Dp2).
    void (*relevance_product)(const KernelRowsModelView& m, const double* A, std::ptrdiff_t a_stride,
                              std::ptrdiff_t rows, double* G) = nullptr;
    const char* isa = nullptr;  // the instruction set these were compiled for
};

}  // namespace neon
