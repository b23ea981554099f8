// The layer-1 pair sums of kernel k-means NEON (NEON_SPEC.md section 2) as
// 1-D Cauchy sums, by a tree code with a controlled error.
//
// With s_i = d(x, u_i) for the target's members i (weights q_i) and
// t_j = d(x, u_j) for the competitors' members j (weights R_j), the midpoint
// rule needs, over the kept pairs (|t_j - s_i| > eps, NEON_SPEC.md section 5),
//   rho_j   = sum_i q_i / (t_j - s_i)      (for every j)
//   sigma_i = sum_j R_j / (t_j - s_i)      (for every i)
// -- O(|C_c| M) divisions done directly.  Here the s_i, sorted, are the leaves
// of a binary tree; a node holds the s in [c - r, c + r].  For a t far from a
// node (r <= |t - c| / 4 and |t - c| - r > eps: every pair kept, none near
// the pole)
//   1 / (t - s) = sum_p (s - c)^p / (t - c)^(p + 1),
// a geometric series in (s - c) / (t - c), of ratio at most 1/4 in modulus.
// So the node's contribution to rho_j is sum_p M_p u_p with the node's
// moments M_p = sum_i q_i ((s_i - c) / r)^p and u_p = r^p / (t - c)^(p + 1),
// and t_j's contribution to the sigma_i below it is q_i sum_p L_p
// ((s_i - c) / r)^p with the local coefficients L_p += R_j u_p, evaluated at
// each s_i once all j are done.  The series is cut where the next term
// (ratio^p) falls below 2^-60 relative: the truncation error of every node
// is below 2^-58 of the sum of |q_i / (t_j - s_i)| over the node, i.e. the
// fast sums agree with the direct ones to float64 rounding of the sum of
// absolute values.  Nodes that are not far enough are opened; leaves are
// summed directly, pair by pair, with the stabilizer's exact test, so
// absorbed pairs (|t - s| <= eps, always in the near field) are left out
// exactly as by the direct loop.
//
// Cost per j: O(P) when all of C_c is far (clusters apart: the usual case
// for the assigned target), O(P log |C_c|) when t_j falls among the s_i.
// Scaled coordinates ((s - c) / r in [-1, 1], r / (t - c) <= 1/4) keep every
// power in range whatever the data scale.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "isa.hpp"
#include "pair_sums_table.hpp"  // the table; the kernels: cpp/neon/isa/pair_sums_<isa>.cpp
#include "parallel.hpp"

namespace neon {

// The direct pair loop per instruction set (isa.hpp's kernel families).
NEON_DECLARE_KERNEL_FAMILY(PairSumsKernelTable, pair_sums_kernels)

inline const PairSumsKernelTable& pair_sums_table() {
    return pair_sums_kernels_for(Isa::automatic);
}

// The direct sums, pair by pair (the reference for the tree, and the method
// for small clusters): rho[j] = sum_i q_i / (t_j - s_i) and
// sigma[i] = sum_j R_j / (t_j - s_i) over the kept pairs.
inline void direct_cauchy_sums(const double* s, const double* q, Index nI, const double* t, const double* R, Index nJ,
                               double eps, double* rho, double* sigma) {
    std::fill(rho, rho + nJ, 0.0);
    for (Index i = 0; i < nI; ++i) {
        if ((i & 255) == 255) interrupt_point();
        sigma[i] = pair_sums_table().f64(s[i], q[i], t, R, rho, nJ, eps);
    }
}

// Terms of the series at most: 0.25^27 < 2^-53, and 2^-60 is reached
// earlier for ratios below 1/4.
constexpr int kCauchyMaxTerms = 30;
// Leaves of the tree: at most this many s, summed directly.
constexpr Index kCauchyLeafSize = 16;

class CauchyTree {
public:
    // s sorted ascending, q their weights (n of each).  Rebuilt per row;
    // the buffers are reused.
    void build(const double* s, const double* q, Index n) {
        s_ = s;
        q_ = q;
        n_ = n;
        nodes_.clear();
        if (n == 0) return;
        add_node(0, n);  // children are added breadth first, after their parent
        for (std::size_t k = 0; k < nodes_.size(); ++k) {
            if (nodes_[k].hi - nodes_[k].lo <= kCauchyLeafSize) continue;
            const Index lo = nodes_[k].lo, hi = nodes_[k].hi, mid = lo + (hi - lo) / 2;
            nodes_[k].left = static_cast<Index>(nodes_.size());
            add_node(lo, mid);
            add_node(mid, hi);
        }
        moments_.assign(nodes_.size() * kCauchyMaxTerms, 0.0);
        local_.assign(nodes_.size() * kCauchyMaxTerms, 0.0);
        used_.assign(nodes_.size(), 0);
        for (std::size_t k = 0; k < nodes_.size(); ++k) {
            const Node& nd = nodes_[k];
            double* m = moments_.data() + k * kCauchyMaxTerms;
            for (Index i = nd.lo; i < nd.hi; ++i) {
                const double d = nd.r > 0.0 ? (s_[i] - nd.c) / nd.r : 0.0;
                double pw = q_[i];
                for (int p = 0; p < kCauchyMaxTerms; ++p) {
                    m[p] += pw;
                    pw *= d;
                }
            }
        }
    }

    // For one t (weight R): returns sum_i q_i / (t - s_i) over the kept
    // pairs, and adds R / (t - s_i) to sigma[i] (sigma indexed like s) --
    // directly at leaves, through the local coefficients elsewhere
    // (finish() adds those).
    double add_source(double t, double R, double eps, double* sigma) {
        double rho = 0.0;
        if (nodes_.empty()) return 0.0;
        Index stack[128];
        int top = 0;
        stack[top++] = 0;
        while (top > 0) {
            const Node& nd = nodes_[stack[--top]];
            const double dist = t - nd.c;
            const double far = std::abs(dist);
            if (nd.r <= 0.25 * far && far - nd.r > eps) {
                // The series: u_p = (1 / dist) (r / dist)^p, until (r / far)^p < 2^-60.
                const Index k = &nd - nodes_.data();
                const double* m = moments_.data() + k * kCauchyMaxTerms;
                double* l = local_.data() + k * kCauchyMaxTerms;
                const double ratio = nd.r / dist;
                const double limit = 0x1p-60;
                double u = 1.0 / dist, mag = 1.0;
                int p = 0;
                for (; p < kCauchyMaxTerms; ++p) {
                    rho += m[p] * u;
                    l[p] += R * u;
                    mag *= std::abs(ratio);
                    if (mag < limit) {
                        ++p;
                        break;
                    }
                    u *= ratio;
                }
                used_[k] = std::max(used_[k], p);
                continue;
            }
            if (nd.left < 0) {
                for (Index i = nd.lo; i < nd.hi; ++i) {
                    const double h = t - s_[i];
                    if (!(h > eps || h < -eps)) continue;  // absorbed: exactly the direct loop's test
                    const double inv = 1.0 / h;
                    rho += q_[i] * inv;
                    sigma[i] += R * inv;
                }
                continue;
            }
            stack[top++] = nd.left + 1;
            stack[top++] = nd.left;
        }
        return rho;
    }

    // Adds the local coefficients' part of sigma: sigma[i] += sum over the
    // nodes above s_i of sum_p L_p ((s_i - c) / r)^p.
    void finish(double* sigma) const {
        for (std::size_t k = 0; k < nodes_.size(); ++k) {
            const int P = used_[k];
            if (P == 0) continue;
            const Node& nd = nodes_[k];
            const double* l = local_.data() + k * kCauchyMaxTerms;
            for (Index i = nd.lo; i < nd.hi; ++i) {
                const double d = nd.r > 0.0 ? (s_[i] - nd.c) / nd.r : 0.0;
                double v = l[P - 1];
                for (int p = P - 2; p >= 0; --p) v = v * d + l[p];  // Horner
                sigma[i] += v;
            }
        }
    }

private:
    struct Node {
        Index lo, hi;         // range of the sorted s
        Index left = -1;      // first child (the second follows), or -1 for a leaf
        double c = 0.0, r = 0.0;
    };

    void add_node(Index lo, Index hi) {
        Node nd;
        nd.lo = lo;
        nd.hi = hi;
        nd.c = 0.5 * (s_[lo] + s_[hi - 1]);
        nd.r = std::max(s_[hi - 1] - nd.c, nd.c - s_[lo]);  // the rounding of c is covered
        nodes_.push_back(nd);
    }

    const double* s_ = nullptr;
    const double* q_ = nullptr;
    Index n_ = 0;
    std::vector<Node> nodes_;
    std::vector<double> moments_, local_;
    std::vector<int> used_;
};

}  // namespace neon

namespace neon {

// Whether the tree code pays off: enough target members for a few levels,
// and enough pairs.
inline bool use_cauchy_tree(Index nI, Index nJ) {
    return nI >= 64 && nI * nJ >= 32768;
}

// The same sums as direct_cauchy_sums (s sorted ascending), by the tree code:
// equal to float64 rounding of the sums of absolute values.
inline void tree_cauchy_sums(CauchyTree& tree, const double* s, const double* q, Index nI, const double* t,
                             const double* R, Index nJ, double eps, double* rho, double* sigma) {
    tree.build(s, q, nI);
    std::fill(sigma, sigma + nI, 0.0);
    for (Index j = 0; j < nJ; ++j) {
        if ((j & 1023) == 1023) interrupt_point();
        rho[j] = tree.add_source(t[j], R[j], eps, sigma);
    }
    tree.finish(sigma);
}

}  // namespace neon
