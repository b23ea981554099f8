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
#include "pair_sums_kernel.hpp"
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

// The cut of every series: the first dropped term is below 2^-60 of the
// pair it approximates (relative to that pair's |1 / (t - s)|, tail of the
// geometric series included).
constexpr double kCauchySeriesCut = 0x1p-60;
// Terms of the tree's series at most: 0.25^30 * 5/3 < 2^-59, and 2^-60 is
// reached earlier for ratios below 1/4.
constexpr int kCauchyMaxTerms = 30;
// Leaves of the tree: at most this many s, summed directly.
constexpr Index kCauchyLeafSize = 16;
// Near sources go through the tree when the target has at least this many
// members; fewer are summed directly (one vector pass over the s per
// source is cheaper than the tree's build and its serial series).
constexpr Index kCauchyTreeMinMembers = 1024;

// Terms a series of ratio `ratio` (|ratio| < 1) needs: the smallest P with
// ratio^P (1 + ratio) / (1 - ratio) <= 2^-60, the bound of the dropped tail
// relative to the pair's own |1 / (t - s)| (at least 1).
inline int cauchy_series_terms(double ratio) {
    ratio = std::abs(ratio);
    double bound = (1.0 + ratio) / (1.0 - ratio);
    int P = 0;
    while (bound > kCauchySeriesCut && P < kSeriesMaxTerms) {
        bound *= ratio;
        ++P;
    }
    return std::max(P, 1);
}

// Whether every pair of a source at distance `far` from a centre with the
// s within `r` of it is kept (|t - s| > eps): far - r > eps with a margin
// of 2^-48 for the rounding of far, r and t - s (far >= 2 r here).
inline bool cauchy_all_kept(double far, double r, double eps) {
    return (far - r) * (1.0 - 0x1p-48) > eps;
}

class CauchyTree {
public:
    // s sorted ascending, q their weights (n of each).  Builds the root only
    // (the far-field pass needs nothing else); the rest of the tree is built
    // when a near source needs it.  The buffers are reused from row to row.
    void build(const double* s, const double* q, Index n) {
        s_ = s;
        q_ = q;
        n_ = n;
        nodes_.clear();
        built_ = false;
        if (n == 0) return;
        add_node(0, n);
    }

    // The far-field pass (every s at once): the sources with
    // r <= |t_j - c| / 2 about the root (centre c, half-width r) and every
    // pair kept.  Their rho_j come from ONE expansion of the target about c
    // (moments M_p), and their share of every sigma_i from ONE local
    // expansion about c (coefficients L_p), with
    //   1 / (t - s) = sum_p y^p x^p / (t - c),  y = (s - c) / r in [-1, 1],
    //                                           x = r / (t - c),
    // cut after cauchy_series_terms(max |x|) terms; the sources are split
    // in two bands (|x| <= 1/4 and above), each with its own number of
    // terms, so that one close source does not lengthen every series.
    // O((|C_c| + nJ) P) vectorized work (pair_sums_kernels' series
    // kernels).  Writes rho for these sources and sigma (all of it: sigma
    // needs no zeroing); returns the other sources' indices in near().
    void far_field(const double* t, const double* R, Index nJ, double eps, double* rho, double* sigma) {
        near_.clear();
        const PairSumsKernelTable& kernels = pair_sums_kernels_for(Isa::automatic);
        const double c = nodes_[0].c, r = nodes_[0].r;
        // Band 0 (|x| <= 1/4) in place over all sources (0 elsewhere);
        // band 1 (1/4 < |x| <= 1/2) compacted, as it is usually small.
        for (std::vector<double>* v : {&x_, &inv_, &w_, &rho_}) v->resize(nJ);
        Index n0 = 0;
        const double ratio0 =
            kernels.series_sources(t, R, nJ, c, r, 0.25, eps, x_.data(), inv_.data(), w_.data(), &n0);
        band_.clear();
        double ratio1 = 0.0;
        if (n0 < nJ) {
            for (Index j = 0; j < nJ; ++j) {
                if (inv_[j] != 0.0) continue;  // in band 0
                const double d = t[j] - c, far = std::abs(d);
                if (r <= 0.5 * far && cauchy_all_kept(far, r, eps)) {
                    band_.push_back(j);
                    ratio1 = std::max(ratio1, r / far);
                } else {
                    near_.push_back(j);
                }
            }
        }
        const Index n1 = static_cast<Index>(band_.size());
        const int P0 = n0 > 0 ? cauchy_series_terms(ratio0) : 0;
        const int P1 = n1 > 0 ? cauchy_series_terms(ratio1) : 0;
        const int P = std::max(P0, P1);
        if (P == 0) {
            std::fill(sigma, sigma + n_, 0.0);
            return;
        }
        y_.resize(n_);
        for (Index i = 0; i < n_; ++i) y_[i] = r > 0.0 ? (s_[i] - c) / r : 0.0;
        double moments[kSeriesMaxTerms], local[kSeriesMaxTerms], local1[kSeriesMaxTerms];
        kernels.power_sums(y_.data(), q_, n_, P, moments);
        std::fill(local, local + P, 0.0);
        if (n0 > 0) {
            // rho over all sources (0 outside band 0: inv = 0 there; band 1
            // and the near ones are written afterwards).
            kernels.evaluate_series(x_.data(), inv_.data(), nJ, moments, P0, rho);
            kernels.power_sums(x_.data(), w_.data(), nJ, P0, local);
        }
        if (n1 > 0) {
            for (Index k = 0; k < n1; ++k) {
                const double d = t[band_[k]] - c;
                inv_[k] = 1.0 / d;
                x_[k] = r * inv_[k];
                w_[k] = R[band_[k]] * inv_[k];
            }
            kernels.evaluate_series(x_.data(), inv_.data(), n1, moments, P1, rho_.data());
            for (Index k = 0; k < n1; ++k) rho[band_[k]] = rho_[k];
            kernels.power_sums(x_.data(), w_.data(), n1, P1, local1);
            for (int p = 0; p < P1; ++p) local[p] += local1[p];
        }
        kernels.evaluate_series(y_.data(), nullptr, n_, local, P, sigma);
    }

    // The sources far_field left (near the target's members), in order.
    const std::vector<Index>& near() const { return near_; }
    // Buffers for the caller's direct pass over the near sources (k < 3).
    std::vector<double>& near_scratch(int k) { return near_buffers_[k]; }

    // For one t (weight R): returns sum_i q_i / (t - s_i) over the kept
    // pairs, and adds R / (t - s_i) to sigma[i] (sigma indexed like s) --
    // directly at leaves, through the local coefficients elsewhere
    // (finish() adds those).  Builds the tree at the first call.
    double add_source(double t, double R, double eps, double* sigma) {
        double rho = 0.0;
        if (nodes_.empty()) return 0.0;
        if (!built_) build_tree();
        Index stack[128];
        int top = 0;
        stack[top++] = 0;
        while (top > 0) {
            const Node& nd = nodes_[stack[--top]];
            const double dist = t - nd.c;
            const double far = std::abs(dist);
            if (nd.r <= 0.25 * far && cauchy_all_kept(far, nd.r, eps)) {
                // The series: u_p = (1 / dist) (r / dist)^p, until the tail
                // bound (r / far)^p (5/3 at ratio 1/4) falls below 2^-60.
                const Index k = &nd - nodes_.data();
                const double* m = moments_.data() + k * kCauchyMaxTerms;
                double* l = local_.data() + k * kCauchyMaxTerms;
                const double ratio = nd.r / dist;
                double u = 1.0 / dist, mag = 5.0 / 3.0;
                int p = 0;
                for (; p < kCauchyMaxTerms; ++p) {
                    rho += m[p] * u;
                    l[p] += R * u;
                    mag *= std::abs(ratio);
                    if (mag < kCauchySeriesCut) {
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
        if (!built_) return;
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
        Index lo, hi;     // range of the sorted s
        Index left = -1;  // first child (the second follows), or -1 for a leaf
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

    // The whole tree below the root, with every node's moments.
    void build_tree() {
        built_ = true;
        for (std::size_t k = 0; k < nodes_.size(); ++k) {  // children are added breadth first, after their parent
            if (nodes_[k].hi - nodes_[k].lo <= kCauchyLeafSize) continue;
            const Index lo = nodes_[k].lo, hi = nodes_[k].hi, mid = lo + (hi - lo) / 2;
            nodes_[k].left = static_cast<Index>(nodes_.size());
            add_node(lo, mid);
            add_node(mid, hi);
        }
        moments_.assign(nodes_.size() * kCauchyMaxTerms, 0.0);
        local_.assign(nodes_.size() * kCauchyMaxTerms, 0.0);
        used_.assign(nodes_.size(), 0);
        const PairSumsKernelTable& kernels = pair_sums_kernels_for(Isa::automatic);
        y_.resize(n_);
        for (std::size_t k = 0; k < nodes_.size(); ++k) {
            const Node& nd = nodes_[k];
            for (Index i = nd.lo; i < nd.hi; ++i) y_[i] = nd.r > 0.0 ? (s_[i] - nd.c) / nd.r : 0.0;
            kernels.power_sums(y_.data() + nd.lo, q_ + nd.lo, nd.hi - nd.lo, kCauchyMaxTerms,
                               moments_.data() + k * kCauchyMaxTerms);
        }
    }

    const double* s_ = nullptr;
    const double* q_ = nullptr;
    Index n_ = 0;
    bool built_ = false;
    std::vector<Node> nodes_;
    std::vector<double> moments_, local_, y_;
    std::vector<int> used_;
    // far_field's scratch: its sources' x, 1/d, R/d; band 1, the near ones.
    std::vector<double> x_, inv_, w_, rho_;
    std::vector<Index> band_, near_;
    std::vector<double> near_buffers_[3];
};

}  // namespace neon

namespace neon {

// Whether the fast sums pay off: enough pairs that one series pass over
// the sources beats the direct divisions (near sources cost what they cost
// the direct loop).
inline bool use_cauchy_tree(Index nI, Index nJ) {
    return nI >= 16 && nI * nJ >= 4096;
}

// The same sums as direct_cauchy_sums (s sorted ascending), by the fast
// code: equal to float64 rounding of the sums of absolute values.  Far
// sources by CauchyTree::far_field; near ones (among the s, or too close
// for the single expansion) by the tree when the target is large, else by
// the direct kernel over the near pairs only.
inline void tree_cauchy_sums(CauchyTree& tree, const double* s, const double* q, Index nI, const double* t,
                             const double* R, Index nJ, double eps, double* rho, double* sigma) {
    if (nI == 0) {
        std::fill(rho, rho + nJ, 0.0);
        return;
    }
    tree.build(s, q, nI);
    tree.far_field(t, R, nJ, eps, rho, sigma);
    const std::vector<Index>& near = tree.near();
    const Index nNear = static_cast<Index>(near.size());
    if (nNear == 0) return;
    if (nI >= kCauchyTreeMinMembers) {
        for (Index k = 0; k < nNear; ++k) {
            if ((k & 1023) == 1023) interrupt_point();
            rho[near[k]] = tree.add_source(t[near[k]], R[near[k]], eps, sigma);
        }
        tree.finish(sigma);
        return;
    }
    const PairSumsKernelTable& direct = pair_sums_table();
    if (nNear < nI) {
        // One pass over the s per near source: the direct kernel with the
        // roles swapped (h = s_i - t_j is exactly -(t_j - s_i), so the same
        // pairs are kept); returns -rho_j and adds R_j / (t_j - s_i).
        for (Index k = 0; k < nNear; ++k) {
            if ((k & 255) == 255) interrupt_point();
            const Index j = near[k];
            rho[j] = -direct.f64(t[j], -R[j], s, q, sigma, nI, eps);
        }
        return;
    }
    // One pass over the near sources per s, as the direct loop.
    std::vector<double>& tN = tree.near_scratch(0);
    std::vector<double>& RN = tree.near_scratch(1);
    std::vector<double>& rhoN = tree.near_scratch(2);
    tN.resize(nNear);
    RN.resize(nNear);
    rhoN.assign(nNear, 0.0);
    for (Index k = 0; k < nNear; ++k) {
        tN[k] = t[near[k]];
        RN[k] = R[near[k]];
    }
    for (Index i = 0; i < nI; ++i) {
        if ((i & 255) == 255) interrupt_point();
        sigma[i] += direct.f64(s[i], q[i], tN.data(), RN.data(), rhoN.data(), nNear, eps);
    }
    for (Index k = 0; k < nNear; ++k) rho[near[k]] = rhoN[k];
}

}  // namespace neon
