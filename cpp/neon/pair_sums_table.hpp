// The direct layer-1 pair loop of kernel k-means (pair_sums_kernel.hpp),
// compiled once per instruction set: a kernel family of isa.hpp
// (pair_sums_kernels_for, declared in cauchy_sums.hpp).  Only this aggregate lives here (see the note on inline
// functions in kmeans_kernel.hpp).
#pragma once

#include <cstddef>

namespace neon {

struct PairSumsKernelTable {
    // For one target member (distance e_i, weight q_i) over n competitor
    // members (distances e, weights R): returns sum_j R_j / h_ij and adds
    // q_i / h_ij to u[j], h_ij = e_j - e_i, over the pairs with |h| > eps.
    double (*f64)(double e_i, double q_i, const double* e, const double* R, double* u, std::ptrdiff_t n,
                  double eps) = nullptr;
    const char* isa = nullptr;  // the instruction set these were compiled for
};

}  // namespace neon
