// The layer-1 pair sums of kernel k-means (pair_sums_kernel.hpp): the
// direct loop and the series kernels of the fast sums (cauchy_sums.hpp),
// compiled once per instruction set: a kernel family of isa.hpp
// (pair_sums_kernels_for, declared in cauchy_sums.hpp).  Only this aggregate
// lives here (see the note on inline functions in kmeans_kernel.hpp).
#pragma once

#include <cstddef>

namespace neon {

// Most terms of a series the kernels below take (P <= this).
constexpr int kSeriesMaxTerms = 64;

struct PairSumsKernelTable {
    // For one target member (distance e_i, weight q_i) over n competitor
    // members (distances e, weights R): returns sum_j R_j / h_ij and adds
    // q_i / h_ij to u[j], h_ij = e_j - e_i, over the pairs with |h| > eps.
    double (*f64)(double e_i, double q_i, const double* e, const double* R, double* u, std::ptrdiff_t n,
                  double eps) = nullptr;
    // Power sums out[p] = sum_k w_k x_k^p for p < P (P <= kSeriesMaxTerms):
    // the moments of a far-field expansion (x scaled into [-1, 1]) or the
    // coefficients of a local one.
    void (*power_sums)(const double* x, const double* w, std::ptrdiff_t n, int P, double* out) = nullptr;
    // out[k] = scale[k] * sum_{p < P} c_p x_k^p (Horner; scale null: 1).
    void (*evaluate_series)(const double* x, const double* scale, std::ptrdiff_t n, const double* c, int P,
                            double* out) = nullptr;
    // The sources of a far-field expansion about c (radius r): t_k is in
    // where r <= ratio_limit |d| and (|d| - r)(1 - 2^-48) > eps (every pair
    // with an s within r of c kept), d = t_k - c; then x_k = r / d,
    // inv_k = 1 / d (never 0), w_k = R_k / d, else all three are 0.
    // Returns the largest |x_k| of those in (0 if none), their number in
    // *count.
    double (*series_sources)(const double* t, const double* R, std::ptrdiff_t n, double c, double r, double ratio_limit,
                             double eps, double* x, double* inv, double* w, std::ptrdiff_t* count) = nullptr;
    const char* isa = nullptr;  // the instruction set these were compiled for
};

}  // namespace neon
