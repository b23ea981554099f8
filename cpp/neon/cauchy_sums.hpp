// The layer-1 pair sums of kernel k-means NEON (NEON_SPEC.md section 2) as
// 1-D Cauchy sums, by expansions with a controlled error.
//
// With s_i = d(x, u_i) for the target's members i (weights q_i) and
// t_j = d(x, u_j) for the competitors' members j (weights R_j), the midpoint
// rule needs, over the kept pairs (|t_j - s_i| > eps, NEON_SPEC.md section 5),
//   rho_j   = sum_i q_i / (t_j - s_i)      (for every j)
//   sigma_i = sum_j R_j / (t_j - s_i)      (for every i)
// -- O(|C_c| M) divisions done directly.  For the s in [c - r, c + r] and a
// source t far from them (r <= ratio |t - c|, ratio < 1, and |t - c| - r >
// eps: every pair kept)
//   1 / (t - s) = sum_p y^p x^p / (t - c),   y = (s - c) / r in [-1, 1],
//                                            x = r / (t - c), |x| <= ratio,
// a geometric series.  So the group's contribution to rho_j is
// (1 / (t_j - c)) sum_p M_p x_j^p with the moments M_p = sum_i q_i y_i^p,
// and the far sources' contribution to sigma_i is sum_p L_p y_i^p with the
// local coefficients L_p = sum_j (R_j / (t_j - c)) x_j^p: O((n + m) P) work
// for n s and m sources instead of O(n m) divisions, as vector kernels
// (pair_sums_kernel.hpp: series_sources, power_sums, evaluate_series).  The
// series is cut after P terms with ratio^P (1 + ratio) / (1 - ratio) <=
// 2^-60, a bound of the dropped tail relative to each pair's own
// |1 / (t - s)|: the fast sums agree with the direct ones to float64
// rounding of the sums of absolute values.  P comes from the largest ratio
// actually present, not from a worst case.
//
// The steps (CauchyTree::sums):
//   1. Root: ONE expansion of all the s about their centre serves every
//      source with |t - c| >= 2 r (clusters apart: the usual case for the
//      assigned target), in two bands of ratio (<= 1/4, <= 1/2) each with
//      its own P, so that one close source does not lengthen every series.
//   2. The other (near) sources go down a binary tree over the sorted s
//      (halves by count): at each node, those with r <= |t - c| / 2 and
//      every pair kept are served by the node's expansion, the rest pass to
//      both children; a node with few s (or few sources times s) sums its
//      sources directly, pair by pair, with the stabilizer's exact test, so
//      absorbed pairs (|t - s| <= eps, never far) are left out exactly as by
//      the direct loop.  Every node works on its whole list of sources at
//      once, so this is vector work too.
// Scaled coordinates (y in [-1, 1], |x| <= 1/2) keep every power in range
// whatever the data scale.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "isa.hpp"
#include "pair_sums_table.hpp"  // the table; the kernels: cpp/neon/isa/pair_sums_<isa>.cpp
#include "parallel.hpp"

namespace neon {

// The direct pair loop and the series kernels per instruction set (isa.hpp's kernel families).
NEON_DECLARE_KERNEL_FAMILY(PairSumsKernelTable, pair_sums_kernels)

inline const PairSumsKernelTable& pair_sums_table() {
    return pair_sums_kernels_for(Isa::automatic);
}

// The direct sums, pair by pair (the reference for the fast sums, and the
// method for small clusters): rho[j] = sum_i q_i / (t_j - s_i) and
// sigma[i] = sum_j R_j / (t_j - s_i) over the kept pairs.
inline void direct_cauchy_sums(const double* s, const double* q, Index nI, const double* t, const double* R, Index nJ,
                               double eps, double* rho, double* sigma) {
    std::fill(rho, rho + nJ, 0.0);
    for (Index i = 0; i < nI; ++i) {
        if ((i & 255) == 255) interrupt_point();
        sigma[i] = pair_sums_table().f64(s[i], q[i], t, R, rho, nJ, eps);
    }
}

// The cut of every series: the dropped tail is below 2^-60 of the pair it
// approximates (relative to that pair's |1 / (t - s)|).
constexpr double kCauchySeriesCut = 0x1p-60;
// A tree node with at most this many s sums its sources directly; so does
// one whose (sources x s) is at most kCauchyDirectPairs.
constexpr Index kCauchyLeafSize = 16;
constexpr Index kCauchyDirectPairs = 1024;
// Sources with r <= this * |t - c| are far from a tree node (one band: the
// node's series has as many terms as its largest ratio needs, up to 62;
// 1/2 measured faster than 1/4 on interleaved layouts, where fewer sources
// then reach the direct leaves).
constexpr double kCauchyNodeRatio = 0.5;

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
// of 2^-48 for the rounding of far, r and t - s (far >= 2 r here).  The
// same test as series_sources (pair_sums_kernel.hpp).
inline bool cauchy_all_kept(double far, double r, double eps) {
    return (far - r) * (1.0 - 0x1p-48) > eps;
}

// The centre c and half-width r of the s in [lo, hi] (the root's, and a
// node's, expansion point); r covers the rounding of c.
inline void cauchy_centre(double lo, double hi, double& c, double& r) {
    c = 0.5 * (lo + hi);
    r = std::max(hi - c, c - lo);
}

// Whether the root's expansion about c (half-width r, from cauchy_centre of
// the smallest and largest s) serves a source t: the root's band-1 test,
// which band 0 implies up to rounding (a source failing it may still be
// taken by band 0, so this is conservative).  When every source passes,
// CauchyTree::sums builds no tree and needs the s only with their minimum
// first and maximum last, in any order between.
inline bool cauchy_root_serves(double t, double c, double r, double eps) {
    const double far = std::abs(t - c);
    return (r <= 0.5 * far) & cauchy_all_kept(far, r, eps);
}

// The fast sums (see the top of this file), with buffers reused from row to
// row (no allocation once they have grown).
class CauchyTree {
public:
    // rho[j] and sigma[i] as direct_cauchy_sums computes them (s sorted
    // ascending; or, where cauchy_root_serves holds for every source, with
    // only the minimum first and the maximum last), to float64 rounding of the sums
    // of absolute values.
    void sums(const double* s, const double* q, Index nI, const double* t, const double* R, Index nJ, double eps,
              double* rho, double* sigma) {
        s_ = s;
        q_ = q;
        eps_ = eps;
        rho_ = rho;
        sigma_ = sigma;
        if (nI == 0) {
            std::fill(rho, rho + nJ, 0.0);
            return;
        }
        int depth = 1;
        for (Index n = nI; n > kCauchyLeafSize; n = n - n / 2) ++depth;
        if (static_cast<int>(lists_.size()) < depth + 1) lists_.resize(depth + 1);
        y_.resize(nI);
        values_.resize(nI);
        root(t, R, nJ);
        Sources& near = lists_[0];
        if (near.size() == 0) return;
        for (Index k = 0; k < near.size(); ++k) rho[near.j[k]] = 0.0;
        if (nI <= kCauchyLeafSize) {
            near.reserve_scratch();
            direct(0, nI, near);
            return;
        }
        // The root's halves take its near sources (they only write deeper lists).
        const Index mid = nI / 2;
        node(0, mid, 0);
        node(mid, nI, 0);
    }

    // How many sources the root's single expansion left to the tree in the
    // last call (for tests and benchmarks).
    Index near_count() const { return lists_.empty() ? 0 : lists_[0].size(); }

private:
    // Sources (compacted) and the per-source scratch of the kernels.
    struct Sources {
        std::vector<double> t, R, x, inv, w, value;
        std::vector<Index> j;
        Index size() const { return static_cast<Index>(j.size()); }
        void clear() {
            t.clear();
            R.clear();
            j.clear();
        }
        void push(double tj, double Rj, Index jj) {
            t.push_back(tj);
            R.push_back(Rj);
            j.push_back(jj);
        }
        void reserve_scratch() {
            for (std::vector<double>* v : {&x, &inv, &w, &value}) v->resize(j.size());
        }
    };

    // Step 1: the sources far from all the s (two bands of ratio), over the
    // caller's arrays in place; writes rho for them and all of sigma, and
    // leaves the others in lists_[0].
    void root(const double* t, const double* R, Index nJ) {
        const PairSumsKernelTable& kernels = pair_sums_table();
        double c, r;
        cauchy_centre(s_[0], s_[n_s() - 1], c, r);
        Sources& all = root_;
        for (std::vector<double>* v : {&all.x, &all.inv, &all.w, &all.value}) v->resize(nJ);
        Index n0 = 0;
        const double ratio0 =
            kernels.series_sources(t, R, nJ, c, r, 0.25, eps_, all.x.data(), all.inv.data(), all.w.data(), &n0);
        Sources& band1 = band_;
        Sources& near = lists_[0];
        band1.clear();
        near.clear();
        if (n0 < nJ) {
            for (Index j = 0; j < nJ; ++j) {
                if (all.inv[j] != 0.0) continue;  // in band 0
                if (cauchy_root_serves(t[j], c, r, eps_))
                    band1.push(t[j], R[j], j);
                else
                    near.push(t[j], R[j], j);
            }
        }
        const Index n1 = band1.size();
        band1.reserve_scratch();
        double ratio1 = 0.0;
        if (n1 > 0) {
            Index count = 0;
            ratio1 = kernels.series_sources(band1.t.data(), band1.R.data(), n1, c, r, 0.5, eps_, band1.x.data(),
                                            band1.inv.data(), band1.w.data(), &count);
        }
        const int P0 = n0 > 0 ? cauchy_series_terms(ratio0) : 0;
        const int P1 = n1 > 0 ? cauchy_series_terms(ratio1) : 0;
        const int P = std::max(P0, P1);
        if (P == 0) {
            std::fill(sigma_, sigma_ + n_s(), 0.0);
            return;
        }
        double moments[kSeriesMaxTerms], local[kSeriesMaxTerms], local1[kSeriesMaxTerms];
        scaled(0, n_s(), c, r);
        kernels.power_sums(y_.data(), q_, n_s(), P, moments);
        std::fill(local, local + P, 0.0);
        if (n0 > 0) {
            // rho over all sources (0 outside band 0: inv = 0 there; band 1
            // and the near ones are written afterwards).
            kernels.evaluate_series(all.x.data(), all.inv.data(), nJ, moments, P0, rho_);
            kernels.power_sums(all.x.data(), all.w.data(), nJ, P0, local);
        }
        if (n1 > 0) {
            kernels.evaluate_series(band1.x.data(), band1.inv.data(), n1, moments, P1, band1.value.data());
            for (Index k = 0; k < n1; ++k) rho_[band1.j[k]] = band1.value[k];
            kernels.power_sums(band1.x.data(), band1.w.data(), n1, P1, local1);
            for (int p = 0; p < P1; ++p) local[p] += local1[p];
        }
        kernels.evaluate_series(y_.data(), nullptr, n_s(), local, P, sigma_);
    }

    // Step 2: the sources in lists_[depth] against the s in [lo, hi).
    void node(Index lo, Index hi, int depth) {
        interrupt_point();
        Sources& S = lists_[depth];
        const Index m = S.size(), n = hi - lo;
        if (m == 0) return;
        S.reserve_scratch();
        if (n <= kCauchyLeafSize || m * n <= kCauchyDirectPairs) {
            direct(lo, hi, S);
            return;
        }
        const PairSumsKernelTable& kernels = pair_sums_table();
        double c, r;
        cauchy_centre(s_[lo], s_[hi - 1], c, r);
        Index far = 0;
        const double ratio = kernels.series_sources(S.t.data(), S.R.data(), m, c, r, kCauchyNodeRatio, eps_, S.x.data(),
                                                    S.inv.data(), S.w.data(), &far);
        if (far > 0) {
            const int P = cauchy_series_terms(ratio);
            double moments[kSeriesMaxTerms], local[kSeriesMaxTerms];
            scaled(lo, hi, c, r);
            kernels.power_sums(y_.data() + lo, q_ + lo, n, P, moments);
            kernels.evaluate_series(S.x.data(), S.inv.data(), m, moments, P, S.value.data());
            for (Index k = 0; k < m; ++k) rho_[S.j[k]] += S.value[k];  // 0 for the sources passed down
            kernels.power_sums(S.x.data(), S.w.data(), m, P, local);
            kernels.evaluate_series(y_.data() + lo, nullptr, n, local, P, values_.data() + lo);
            for (Index i = lo; i < hi; ++i) sigma_[i] += values_[i];
        }
        if (far == m) return;
        // Both children see the rest; they only write deeper lists, so this
        // one stays intact for the second child.
        Sources& down = lists_[depth + 1];
        down.clear();
        for (Index k = 0; k < m; ++k)
            if (S.inv[k] == 0.0) down.push(S.t[k], S.R[k], S.j[k]);
        const Index mid = lo + n / 2;
        node(lo, mid, depth + 1);
        node(mid, hi, depth + 1);
    }

    // The sources S against the s in [lo, hi), pair by pair (the direct
    // kernel's exact absorbing test), in the orientation with the longer
    // inner loop.
    void direct(Index lo, Index hi, Sources& S) {
        const PairSumsKernelTable& kernels = pair_sums_table();
        const Index m = S.size(), n = hi - lo;
        if (n <= m) {
            std::fill(S.value.begin(), S.value.begin() + m, 0.0);
            for (Index i = lo; i < hi; ++i)
                sigma_[i] += kernels.f64(s_[i], q_[i], S.t.data(), S.R.data(), S.value.data(), m, eps_);
            for (Index k = 0; k < m; ++k) rho_[S.j[k]] += S.value[k];
        } else {
            // The roles swapped: h = s_i - t_j is exactly -(t_j - s_i), so
            // the same pairs are kept; returns -rho_j and adds R_j / (t_j - s_i).
            for (Index k = 0; k < m; ++k) {
                if ((k & 255) == 255) interrupt_point();
                rho_[S.j[k]] -= kernels.f64(S.t[k], -S.R[k], s_ + lo, q_ + lo, sigma_ + lo, n, eps_);
            }
        }
    }

    // y_i = (s_i - c) / r for i in [lo, hi) (0 when r = 0).
    void scaled(Index lo, Index hi, double c, double r) {
        for (Index i = lo; i < hi; ++i) y_[i] = r > 0.0 ? (s_[i] - c) / r : 0.0;
    }

    Index n_s() const { return static_cast<Index>(y_.size()); }

    const double* s_ = nullptr;
    const double* q_ = nullptr;
    double eps_ = 0.0;
    double* rho_ = nullptr;
    double* sigma_ = nullptr;
    std::vector<double> y_, values_;
    Sources root_, band_;
    std::vector<Sources> lists_;  // lists_[d]: the sources reaching the nodes at depth d
};

// Whether the fast sums pay off: enough pairs that one series pass over
// the sources beats the direct divisions (near sources cost at most what
// they cost the direct loop).
inline bool use_cauchy_tree(Index nI, Index nJ) {
    return nI >= 16 && nI * nJ >= 4096;
}

// The same sums as direct_cauchy_sums (s sorted ascending, or ordered as
// CauchyTree::sums allows), by the fast code: equal to float64 rounding of the sums of absolute values.
inline void tree_cauchy_sums(CauchyTree& tree, const double* s, const double* q, Index nI, const double* t,
                             const double* R, Index nJ, double eps, double* rho, double* sigma) {
    tree.sums(s, q, nI, t, R, nJ, eps, rho, sigma);
}

}  // namespace neon
