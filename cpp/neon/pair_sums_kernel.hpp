// The direct layer-1 pair loop of kernel k-means NEON, compiled once per
// instruction set like the k-means row kernel (kmeans_kernel.hpp): the
// portable build includes it through cauchy_sums.hpp (namespace
// neon::portable), the x86 builds compile cpp/neon/isa/pair_sums_<isa>.cpp
// with -mavx2 -mfma or -mavx512f: a kernel family of isa.hpp
// (pair_sums_kernels_for; NEON_EXT_ISA governs it as every family).
// Everything stays inside namespace neon::NEON_ISA (no inline helper from
// outside: the linker could merge an AVX copy into the portable callers).
//
// The loop is bound by its divisions.  Eight fixed partial sums, combined in
// a fixed order: results do not depend on where a row runs.
#pragma once

#include <cstddef>

#include "isa_unit.hpp"
#include "pair_sums_table.hpp"

namespace neon {
namespace NEON_ISA {

// Layer-1 sums of one target member i over competitor members j = 0..n-1:
// returns sum_j R_j / h_ij and adds q_i / h_ij to u[j], with h_ij = e_j - e_i;
// pairs with |h| <= eps are absorbed (contribute nothing; NEON_SPEC.md
// section 5).  Divide unconditionally and select afterwards: branch-free, so
// the loop vectorizes (1/0 -> inf is discarded).
inline double midpoint_pair_sums(double e_i, double q_i, const double* __restrict e, const double* __restrict R,
                                 double* __restrict u, std::ptrdiff_t n, double eps) {
    constexpr int kLanes = 8;
    double acc[kLanes] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    std::ptrdiff_t j = 0;
    for (; j + kLanes <= n; j += kLanes) {
        for (int l = 0; l < kLanes; ++l) {
            const double h = e[j + l] - e_i;
            const double inv = (h > eps || h < -eps) ? 1.0 / h : 0.0;
            acc[l] += R[j + l] * inv;
            u[j + l] += q_i * inv;
        }
    }
    double tail = 0.0;
    for (; j < n; ++j) {
        const double h = e[j] - e_i;
        const double inv = (h > eps || h < -eps) ? 1.0 / h : 0.0;
        tail += R[j] * inv;
        u[j] += q_i * inv;
    }
    return (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) + tail;
}

NEON_ISA_KERNEL_TABLE_GETTER(PairSumsKernelTable) pair_sums_kernels() {
    PairSumsKernelTable table;
    table.f64 = &midpoint_pair_sums;
    table.isa = NEON_ISA_NAME;
    return table;
}

}  // namespace NEON_ISA
}  // namespace neon
