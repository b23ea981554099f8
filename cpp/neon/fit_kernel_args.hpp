// Plain data handed from the k-means fitting passes (fit_lloyd.hpp,
// fit_seeding.hpp, fit_moments.hpp, fit_labels.hpp) to their row kernels
// (fit_kernel.hpp), which are compiled once per instruction set.
//
// Only aggregates here, no functions: this header is included by the
// translation units built with -mavx2 / -mavx512f (see isa.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace neon {

// Prototypes (centres, or k-means++ candidates) in the layout the fit
// kernels read, in compute precision S: centred on `origin`, transposed and
// scaled by -2 (so that a distance offset is ||p||^2 + z . (-2 p), with the
// scaling exact), padded with zeros to Dp x Kp, multiples of 64 bytes.
template <class S>
struct FitPrototypesView {
    std::ptrdiff_t K = 0, D = 0, Kp = 0, Dp = 0;
    const S* PT2 = nullptr;      // Dp x Kp: -2 P^T (padding 0)
    const S* sq_norm = nullptr;  // Kp: ||P_k||^2 (padding +inf: never the nearest)
    const S* origin = nullptr;   // Dp: subtracted from every input row (padding 0)
};

// The rows of one pass and their weights.  Row r starts at X + r * row_stride.
template <class T>
struct FitRows {
    const T* X = nullptr;
    std::ptrdiff_t n_cols = 0, row_stride = 0, col_stride = 1;
    const double* w = nullptr;  // one weight per row
};

// Per-thread scratch of the kernels that centre rows (allocated once per
// pass by the caller): Z is kFitSubBlockRows x Dp, z_sq kFitSubBlockRows.
template <class S>
struct FitScratchView {
    S* Z = nullptr;
    double* z_sq = nullptr;
};

// Rows centred and kept in L1 at a time (a multiple of the 4-row tile).
constexpr std::ptrdiff_t kFitSubBlockRows = 32;

// What one Lloyd pass writes per row, and where one group of rows books
// its partial sums (each group sums its rows in order: see fit_schedule.hpp).
struct LloydJob {
    std::int64_t* labels = nullptr;      // compared with and overwritten by the nearest centre
    double* dist = nullptr;              // squared distance to it (and the inertia), or null: neither
    bool update = false;                 // also sum the rows of each cluster
    const double* sum_origin = nullptr;  // D: the sums are of w (x - sum_origin); null: of w x
};

struct LloydPartials {
    double* sums = nullptr;     // K x D (update only)
    double* weight = nullptr;   // K (update only)
    double* count = nullptr;    // K: rows with positive weight (update only)
    double* scalars = nullptr;  // [inertia (with dist only), labels changed]
};

// The fit kernels of one instruction set (isa.hpp): per input precision,
//  - lloyd: for rows [r0, r1), the nearest prototype (lowest index among
//    equals) in X's precision, booked into LloydJob / LloydPartials;
//  - distances: out[j * ld + r - r0] = squared distance of row r to
//    prototype j (float64, from products in X's precision, or in float64
//    for float32 X: f32_in_f64), j < K;
//  - moments: sums[i] += w z_i, sums[D + i] += w z_i^2, sums[2D] += w for
//    z = x - origin (float64); returns the first row that is not finite, or -1;
//  - inertia: sum of w ||x - centers[label]||^2 in float64, term by term.
struct FitKernelTable {
    const char* isa = nullptr;  // the instruction set these were compiled for
    void (*lloyd_f32)(const FitPrototypesView<float>&, const FitRows<float>&, const LloydJob&, std::ptrdiff_t,
                      std::ptrdiff_t, const FitScratchView<float>&, const LloydPartials&) = nullptr;
    void (*lloyd_f64)(const FitPrototypesView<double>&, const FitRows<double>&, const LloydJob&, std::ptrdiff_t,
                      std::ptrdiff_t, const FitScratchView<double>&, const LloydPartials&) = nullptr;
    void (*distances_f32)(const FitPrototypesView<float>&, const FitRows<float>&, std::ptrdiff_t, std::ptrdiff_t,
                          const FitScratchView<float>&, double*, std::ptrdiff_t) = nullptr;
    void (*distances_f64)(const FitPrototypesView<double>&, const FitRows<double>&, std::ptrdiff_t, std::ptrdiff_t,
                          const FitScratchView<double>&, double*, std::ptrdiff_t) = nullptr;
    void (*distances_f32_in_f64)(const FitPrototypesView<double>&, const FitRows<float>&, std::ptrdiff_t,
                                 std::ptrdiff_t, const FitScratchView<double>&, double*, std::ptrdiff_t) = nullptr;
    std::ptrdiff_t (*moments_f32)(const FitRows<float>&, const double*, std::ptrdiff_t, std::ptrdiff_t,
                                  double*) = nullptr;
    std::ptrdiff_t (*moments_f64)(const FitRows<double>&, const double*, std::ptrdiff_t, std::ptrdiff_t,
                                  double*) = nullptr;
    double (*inertia_f32)(const FitRows<float>&, const double*, const std::int64_t*, std::ptrdiff_t,
                          std::ptrdiff_t) = nullptr;
    double (*inertia_f64)(const FitRows<double>&, const double*, const std::int64_t*, std::ptrdiff_t,
                          std::ptrdiff_t) = nullptr;
};

}  // namespace neon
