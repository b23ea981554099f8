// NEON for kernel k-means with a Gaussian kernel, in the soft-min-distance
// form of the paper (NEON_SPEC.md, section 2).
//
// Support vectors u_j carry cluster labels (member sets C_1..C_K); the
// soft-min distance of x to cluster k is
//   S_k(x) = LME^{-gamma}_{j in C_k} d(x, u_j)
//          = -(1/gamma) log( mean_{j in C_k} exp(-gamma d(x, u_j)) ),
// x is assigned to argmin_k S_k (ties to the lowest index) and the logit of
// target c is f_c = min_{k != c} (S_k - S_c).  Its four-layer neuralization
//   h_ijk = d(x, u_j) - d(x, u_i)           i in C_c, j in C_k    (linear)
//   h_jk  = LME^{+gamma}_{i in C_c} h_ijk                          (soft max)
//   h_k   = LME^{-gamma}_{j in C_k} h_jk                           (soft min)
//   f_c   = min_{k != c} h_k                                       (hard min)
// is explained by redistributing f_c with a soft-min of stiffness beta over
// the competitors, with softmin weights of stiffness gamma' (the pooling
// stiffness) over the members of each competitor (layer 3) and of the
// target (layer 2), and with the midpoint rule at the bottom.  Writing
//   a_ij = R_jk q_i / h_ijk,   rho_j = sum_i a_ij,   sigma_i = sum_j a_ij,
// the relevance is  sum_j rho_j (x - u_j)^2 - sum_i sigma_i (x - u_i)^2,  a
// coefficient row over the support vectors whose entries sum to zero, so one
// product per block evaluates it (midpoint_relevance).  Per row: one row of
// the distance product (O(M D)), O(M) exponentials, the layer-1 pair sums
// (the tree code of cauchy_sums.hpp: O(M P) when clusters are apart) and one
// row of the relevance product (O(M D)); the products, the exponentials and
// the compaction of the members that enter the pair sums run on the
// per-instruction-set kernels of kernel_rows_kernel.hpp.  The
// triple sum over i, j and features is never formed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cauchy_sums.hpp"
#include "kernel_rows.hpp"
#include "outputs.hpp"
#include "parallel.hpp"
#include "pooling.hpp"
#include "prototype_model.hpp"
#include "prototypes.hpp"
#include "rows.hpp"

namespace neon {

// A pooling weight below 2^-64 of the largest weight of its pool (which is 1
// after the log-sum-exp shift) changes no digit of the pool's float64 sum,
// and the relevance it would carry is below the float64 resolution of the
// pool's relevance: its pairs are skipped in the O(|C_c| M) pair loop.
constexpr double kNegligibleWeight = 0x1p-64;

// The pooled row evaluator of a PrototypeModel (prototype_model.hpp): any
// number of prototypes per cluster, the soft-min distances, leave-one-out
// and the pair weights of affine.hpp.  It reads the model's definition
// through the members below, named as the model names them.
class PooledEvaluator {
public:
    // `model` must outlive the evaluator.
    explicit PooledEvaluator(const PrototypeModel& model)
        : model_(model), protos_(model.prototypes()), start_(model.cluster_starts()), position_(model.positions()),
          twin_(model.twins()), gamma_(width(model.gamma())), pool_stiffness_(width(model.pool_stiffness())),
          eps_(model.epsilon()) {}

    Index n_clusters() const { return model_.n_clusters(); }
    Index n_features() const { return model_.n_features(); }
    Index n_support() const { return model_.n_prototypes(); }
    Index largest_cluster() const { return model_.largest_cluster(); }

    // Multiply-adds (or their equivalent) one row costs: the distance and
    // relevance products (3 M D), the pool weights and the tree code's pair
    // sums (~60 M), and the direct pair loop of targets below the tree
    // code's 64 members (cauchy_sums.hpp; divisions: ~8 each).
    static double work_per_row(Index D, Index M, Index largest_cluster) {
        return 3.0 * M * D + 8.0 * std::min<Index>(largest_cluster, 64) * M + 60.0 * M + 500.0;
    }

    // Rows per block: about 16K doubles of centred input, at most about
    // 2^19 doubles in each of the block's N x M scratch matrices (distances,
    // coefficients), and about 2^24 multiply-adds of work, but at least 32
    // rows: the products stream the support vectors once per block
    // (kernel_rows_kernel.hpp), so a block of fewer rows reads them for few
    // rows.  Rows spread over every thread as long as a compiled call holds a
    // few blocks per thread (_chunks.py: >= 8 at any size); Ctrl-C is polled
    // inside long rows (interrupt_point), so blocks need not be short for
    // that.  Depends only on D, M and the largest cluster, never on threads.
    // largest_cluster <= 0: M (the bound for any labelling).
    static Index block_rows(Index D, Index M, Index largest_cluster = 0) {
        if (largest_cluster <= 0) largest_cluster = M;
        Index rows = std::min<Index>(std::max<Index>(16384 / std::max<Index>(D, 1), 16), 1024);
        rows = std::min(rows, std::max<Index>((Index{1} << 19) / std::max<Index>(M, 1), 8));
        const double by_work = 16777216.0 / work_per_row(D, M, largest_cluster);
        if (by_work < static_cast<double>(rows))
            rows = std::max<Index>(static_cast<Index>(by_work), std::min<Index>(rows, 32));
        return rows;
    }

    // Fills the outputs asked for in `out` for the rows of X.  `exclude`
    // (optional, N entries, in the caller's support-vector order; -1 = none)
    // leaves one support vector out of the member set of its cluster for that
    // row -- the leave-one-out distances of fitting; a cluster left without
    // members has S = +inf.  Relevance cannot be asked for together with it.
    // `first_row` is the index of X's first row in the caller's whole array,
    // for error messages.
    template <class T>
    void evaluate(const RowsView<T>& X, const TargetSpec& target, double beta, const ModelOutputs<T>& out,
                  int n_threads, Index first_row = 0, const std::int64_t* exclude = nullptr) const;

private:
    // A model of singleton clusters may have no kernel width (k-means); the
    // soft-min of one distance is that distance for any, so 1 serves.
    static double width(double gamma) { return std::isnan(gamma) ? 1.0 : gamma; }

    const PrototypeModel& model_;
    const CenteredPrototypes& protos_;      // support vectors in cluster order
    const std::vector<Index>& start_;       // K + 1 cluster boundaries in that order
    const std::vector<Index>& position_;    // caller's index -> internal position
    const std::vector<Index>& twin_;  // internal position -> group of exact duplicates spanning clusters, or -1
    const double gamma_, pool_stiffness_;
    const double eps_;
    // The support vectors in the row kernels' layouts (kernel_rows.hpp),
    // packed at the first call: a k-means model, whose rows go to the fused
    // kernel, asks this evaluator only for distances or leave-one-out.
    mutable std::once_flag packed_once_;
    mutable PackedSupport packed_;

    const PackedSupport& packed() const {
        std::call_once(packed_once_, [this] { packed_ = PackedSupport(protos_); });
        return packed_;
    }

    struct Scratch {
        RowMatrix Z, E, A, G;
        RowMatrixOf<float> Z32;  // centred rows for the float32 distance product (predict)
        Vector W, Wp;              // pool weights exp(-gamma (e_j - m_k)), and with gamma'
        Vector S, lo, total, total_p, h, share;  // per cluster
        Vector eI, qI, eJ, RJ, uJ;  // compacted target (nearest first, farthest last) and competitor members
        Vector q_prefix, Q, P;  // prefix sums of qI; kept layer-2 weight per member, kept layer-3 weight per cluster
        Vector sigma;  // layer-1 sums of the target's members
        CauchyTree tree;
        std::vector<Index> I, J;  // I, eI, qI, J, eJ and RJ have room for 8 entries past M (the compaction kernels)
        std::vector<Index> kept_from, mask_from;  // per competitor: first of its kept members in J, its first mask
        std::vector<unsigned char> apart;  // per competitor: no pair absorbed (Q_j = 1 for its weighted members)
        std::vector<unsigned char> kept_masks;  // which members keep_members kept, 8 per byte, cluster by cluster
        std::vector<std::pair<double, Index>> by_distance;  // the target's members by distance
        Vector Wpair;  // pair weights of one row (affine.hpp's pair-level stage)
    };

    // Soft-min distances S_k (up to the row's common offset) from the offset
    // distances e, leaving out internal position `skip` (or none if < 0).
    // Also stores the shifted pool weights W_j = exp(-gamma (e_j - lo_k)), the
    // shifts lo_k and the pool sums total_k.
    // `from_float32`: e comes from the float32 product, whose rounding is far
    // above the weights' 1e-9 of the fast exponential.
    void soft_min_distances(const double* e, Index skip, Scratch& s, bool from_float32 = false) const {
        const Index K = n_clusters();
        const KernelRowsKernelTable& kernels = kernel_rows_table();
        const auto pool_weights = from_float32 ? kernels.pool_weights_f32 : kernels.pool_weights;
        for (Index k = 0; k < K; ++k) {
            const Index first = start_[k], members = model_.cluster_size(k) - (skip >= first && skip < start_[k + 1]);
            // S_k = lo - log(1 + mean_j (w_j - 1)) / gamma, with w_j - 1 summed
            // directly (expm1) where w_j is near 1: as gamma (e - lo) -> 0 the
            // soft-min tends to the mean distance, which log(total / members)
            // would lose to rounding (error eps / gamma; at gamma = 1e-300 it
            // returned the minimum instead of the mean).
            double m[7];  // lo, total, total_m1, sum_d, sum_t, sum_td, t_max
            pool_weights(e + first, model_.cluster_size(k), skip - first, gamma_, s.W.data() + first, m);
            const double lo = m[0], sum_d = m[3], sum_t = m[4], sum_td = m[5];
            s.lo[k] = lo;
            s.total[k] = m[1];
            // total >= 1 and total_m1 > -members: the nearest member has w = 1.
            const double n_k = static_cast<double>(members);
            if (members == 0) {
                s.S[k] = std::numeric_limits<double>::infinity();
            } else if (m[6] < kMomentsBelow) {
                // gamma (e - lo) below 1e-8 (down to underflow): the cumulant
                // expansion S = lo + mean - gamma var / 2 is exact to
                // O(t^2) = 1e-16 relative, and var is formed from t (no overflow).
                s.S[k] = lo + sum_d / n_k - 0.5 * (sum_td / n_k - (sum_t / n_k) * (sum_d / n_k));
            } else {
                s.S[k] = lo - std::log1p(m[2] / n_k) / gamma_;
            }
        }
    }

    // midpoint_pair_sums for a target member with exact duplicates in other
    // clusters: the pairs with its twins are left out.
    double pair_sums_without_twins(Index i, double e_i, double q_i, const Scratch& s, Index nJ, double* uJ) const {
        double sum = 0.0;
        for (Index j = 0; j < nJ; ++j) {
            if (twin_[s.J[j]] == twin_[i]) continue;
            const double h = s.eJ[j] - e_i;
            const double inv = stabilized_inverse(h, eps_);
            sum += s.RJ[j] * inv;
            uJ[j] += q_i * inv;
        }
        return sum;
    }

    void relevance_coefficients(const double* e, Index c, double f, double beta, Scratch& s, double* a,
                                double* pair_weights = nullptr) const;

    // Offsets e_j = ||u_j||^2 - 2 z . u_j of one row in float64 from the raw
    // row (rows whose float32 product left the float32 range); returns
    // ||z||^2.  O(M D), rare.
    template <class T>
    double offsets_in_float64(const RowsView<T>& X, Index row, double* e) const {
        const Index M = n_support(), D = n_features();
        Vector z(D);
        for (Index i = 0; i < D; ++i) z[i] = static_cast<double>(X.row(row)[i * X.col_stride]) - protos_.center()[i];
        for (Index j = 0; j < M; ++j) e[j] = protos_.sq_norm()[j] - 2.0 * protos_.centered().row(j).dot(z);
        return z.squaredNorm();
    }
};

// Fills `a` (M entries, internal order) with the midpoint-rule coefficients of
// one row: rho_j for the members of competitors, -sigma_i for the target's.
//
// The absorbing stabilizer, pool by pool (NEON_SPEC.md sections 2 and 5): a
// pair (i, j) with |h_ij| <= eps (or twins) leaves the layer-2 pool of j, so
// R_ijk = R_jk q_i / Q_j with Q_j the weight of j's kept pairs; a member j
// left with no kept pair leaves the layer-3 pool of its cluster (R_jk =
// R_k p_j / P_k), and a competitor left with no kept member leaves the
// layer-4 soft-min.  Every absorbed share goes to the others, so the
// relevance sums to f unless every pair is absorbed.  Where nothing is
// absorbed (the usual case) Q_j = P_k = 1 exactly and the rule is the plain
// spec.
inline void PooledEvaluator::relevance_coefficients(const double* e, Index c, double f, double beta, Scratch& s,
                                                    double* a, double* pair_weights) const {
    const Index K = n_clusters(), M = n_support();
    const KernelRowsKernelTable& kernels = kernel_rows_table();
    std::fill(a, a + M, 0.0);

    // Pool weights with stiffness gamma' (the forward ones when gamma' = gamma).
    const bool same = pool_stiffness_ == gamma_;
    const double* W = s.W.data();
    const double* total = s.total.data();
    if (!same) {
        for (Index k = 0; k < K; ++k) {
            double m[7];
            kernels.pool_weights(e + start_[k], model_.cluster_size(k), -1, pool_stiffness_, s.Wp.data() + start_[k],
                                 m);
            s.total_p[k] = m[1];
        }
        W = s.Wp.data();
        total = s.total_p.data();
    }

    // Layer 2: q_i = softmin over the target's members (independent of j).
    // Every member with a weight takes part (not only those above
    // kNegligibleWeight): where the stabilizer absorbs the pairs of the
    // heavy members, a light one may carry all of j's share (Q_j tiny).
    // They are gathered in index order with the nearest first and the
    // farthest last, and sorted by distance only where the order is needed:
    // when a competitor member lies within eps of the target's distances
    // (the pairs it absorbs, |e_j - e_i| <= eps, are then one range of the
    // sorted members, whose weight prefix sums of q give) or the tree code
    // has near sources.  Clusters apart (the usual case) skip the sort.
    const Index nI = kernels.weighted_members(e + start_[c], W + start_[c], start_[c + 1] - start_[c], start_[c],
                                              total[c], s.I.data(), s.eI.data(), s.qI.data());
    bool target_twins = false;
    if (model_.has_twins())
        for (Index t = 0; t < nI; ++t) target_twins = target_twins || twin_[s.I[t]] >= 0;
    auto swap_members = [&s](Index x, Index y) {
        std::swap(s.I[x], s.I[y]);
        std::swap(s.eI[x], s.eI[y]);
        std::swap(s.qI[x], s.qI[y]);
    };
    if (nI > 1) {
        Index nearest = 0, farthest = 0;
        for (Index t = 1; t < nI; ++t) {
            nearest = s.eI[t] < s.eI[nearest] ? t : nearest;
            farthest = s.eI[t] > s.eI[farthest] ? t : farthest;
        }
        swap_members(0, nearest);
        swap_members(nI - 1, farthest == 0 ? nearest : farthest);
    }
    bool sorted = false;
    // Sorted as (distance, index) pairs: no indirection in the comparisons.
    auto sort_target = [&] {
        if (sorted) return;
        sorted = true;
        for (Index t = 0; t < nI; ++t) s.by_distance[t] = {s.eI[t], s.I[t]};
        std::sort(s.by_distance.begin(), s.by_distance.begin() + nI);
        s.q_prefix[0] = 0.0;
        for (Index t = 0; t < nI; ++t) {
            const Index i = s.by_distance[t].second;
            s.I[t] = i;
            s.eI[t] = e[i];
            s.qI[t] = W[i] / total[c];
            s.q_prefix[t + 1] = s.q_prefix[t] + s.qI[t];
        }
    };
    const double* eI = s.eI.data();
    // Weight Q_j of the target's members whose pair with a member j is kept.
    auto kept_weight = [&](Index j) {
        const double ej = e[j];
        const bool twins = target_twins && twin_[j] >= 0;
        // e_j outside the target's distances by more than eps (clusters
        // apart: the usual case): no pair absorbed.
        if (!twins && (ej - eI[nI - 1] > eps_ || ej - eI[0] < -eps_)) return 1.0;
        sort_target();
        // fl(e_j - e_i) falls as e_i grows: absorbed pairs are [lo, hi).
        const Index lo = std::partition_point(eI, eI + nI, [&](double ei) { return ej - ei > eps_; }) - eI;
        if (!twins && (lo == nI || !(ej - eI[lo] >= -eps_))) return 1.0;  // nothing absorbed: the spec's q
        const Index hi = std::partition_point(eI + lo, eI + nI, [&](double ei) { return ej - ei >= -eps_; }) - eI;
        if (lo == hi && !twins) return 1.0;
        auto absorbed = [&](Index t) { return (t >= lo && t < hi) || (twins && twin_[s.I[t]] == twin_[j]); };
        double gone = s.q_prefix[hi] - s.q_prefix[lo];
        if (twins)
            for (Index t = 0; t < nI; ++t)
                if (absorbed(t) && !(t >= lo && t < hi)) gone += s.qI[t];
        if (gone <= 0.5) return 1.0 - gone;
        double kept = 0.0;  // most of the weight absorbed: sum the rest directly (no cancellation)
        for (Index t = 0; t < nI; ++t)
            if (!absorbed(t)) kept += s.qI[t];
        return kept;
    };

    // Layer 3 weights p_j of the competitors' members, with what the
    // absorbing rule leaves of them: s.RJ holds p_j / Q_j for kept members
    // (0 for absorbed ones), s.P[k] the kept weight of cluster k.
    for (Index k = 0; k < K; ++k) {
        s.P[k] = 0.0;
        s.apart[k] = 0;
        if (k == c) continue;
        if (nI > 0 && !target_twins) {
            // Every member with a weight outside the target's distances by
            // more than eps (clusters apart: the usual case), in one vector
            // pass: Q_j = 1 for them (left implicit: keep_members reads it
            // from the weight), nothing absorbed, P_k = 1.
            const Index first = start_[k];
            if (kernels.weighted_within(e + first, W + first, start_[k + 1] - first, eI[0], eI[nI - 1], eps_) == 0) {
                s.P[k] = 1.0;
                s.apart[k] = 1;
                continue;
            }
        }
        double gone = 0.0;
        for (Index j = start_[k]; j < start_[k + 1]; ++j) {
            s.Q[j] = 0.0;
            if (!(W[j] > 0.0)) continue;
            const double q = nI > 0 ? kept_weight(j) : 0.0;
            s.Q[j] = q;
            if (!(q > 0.0)) gone += W[j] / total[k];
        }
        if (gone <= 0.5) {
            s.P[k] = gone == 0.0 ? 1.0 : 1.0 - gone;
            continue;
        }
        double kept = 0.0;  // most of the weight gone: sum the rest directly (no cancellation)
        for (Index j = start_[k]; j < start_[k + 1]; ++j)
            if (s.Q[j] > 0.0) kept += W[j] / total[k];
        s.P[k] = kept;
    }

    // Layer 4: soft-min of f over the competitors' h_k = S_k - S_c that
    // keep a member.
    for (Index k = 0; k < K; ++k) s.h[k] = s.S[k] - s.S[c];
    const double* P = s.P.data();
    softmin_redistribute(s.h.data(), K, f, beta, [c, P](Index k) { return k != c && P[k] > 0.0; }, s.share.data());

    // Layer 3: R_jk = R_k p_j / P_k over the kept members of competitor k,
    // rescaled by 1 / Q_j for layer 2.
    Index nJ = 0;
    const double f_scale = std::abs(f);
    // Whether the tree code's root expansion serves every source (then it
    // needs no order of the target's members).
    double root_c = 0.0, root_r = 0.0;
    if (nI > 0) cauchy_centre(eI[0], eI[nI - 1], root_c, root_r);
    bool root_serves_all = true;
    // Kept members whose share of R_k, p_j / (P_k Q_j), is below 2^-64 are
    // skipped: below float64 resolution of R_k.  Compacted by a vector
    // kernel (keep_members), which also records which members it kept, so
    // that the coefficients go back in place by the inverse (expand_products).
    Index chunks = 0;
    for (Index k = 0; k < K; ++k) {
        s.kept_from[k] = -1;
        if (k == c || !(std::abs(s.share[k]) >= kNegligibleWeight * f_scale) || s.share[k] == 0.0) continue;
        const double scale = s.share[k] / total[k];
        const double pool = P[k];
        const Index first = start_[k], n = start_[k + 1] - first;
        s.kept_from[k] = nJ;
        s.mask_from[k] = chunks;
        nJ += kernels.keep_members(e + first, W + first, s.apart[k] ? nullptr : s.Q.data() + first, n, first,
                                   kNegligibleWeight * total[k] * pool, scale, pool, root_c, root_r, eps_,
                                   s.J.data() + nJ, s.eJ.data() + nJ, s.RJ.data() + nJ, s.kept_masks.data() + chunks,
                                   &root_serves_all);
        chunks += (n + 7) / 8;
    }
    // The coefficients rho_j R_j of the kept competitors' members, in place.
    auto expand_competitors = [&] {
        for (Index k = 0; k < K; ++k)
            if (s.kept_from[k] >= 0)
                kernels.expand_products(s.kept_masks.data() + s.mask_from[k], start_[k + 1] - start_[k],
                                        s.RJ.data() + s.kept_from[k], s.uJ.data() + s.kept_from[k], a + start_[k]);
    };
    if (pair_weights) {  // internal order; the weights the pair loop below uses
        std::fill(pair_weights, pair_weights + M, 0.0);
        for (Index t = 0; t < nI; ++t) pair_weights[s.I[t]] = s.qI[t];
        for (Index t = 0; t < nJ; ++t) pair_weights[s.J[t]] = s.RJ[t];
    }
    if (nJ == 0) return;
    // Layer 1: a_ij = R_ijk / h_ij over the kept pairs;  sigma_i = q_i sum_j R_j / h_ij,
    // rho_j = R_j sum_i q_i / h_ij.
    double* uJ = s.uJ.data();
    if (!target_twins && use_cauchy_tree(nI, nJ)) {
        // The same sums by the tree code (cauchy_sums.hpp): O(M P) for
        // clusters apart instead of O(|C_c| M) divisions.
        if (!root_serves_all) sort_target();
        tree_cauchy_sums(s.tree, s.eI.data(), s.qI.data(), nI, s.eJ.data(), s.RJ.data(), nJ, eps_, uJ, s.sigma.data());
        for (Index t = 0; t < nI; ++t) a[s.I[t]] = -s.qI[t] * s.sigma[t];
        expand_competitors();
        return;
    }
    std::fill(uJ, uJ + nJ, 0.0);
    for (Index t = 0; t < nI; ++t) {
        if ((t & 255) == 255) interrupt_point();  // O(|C_c| M): seconds at M = 40,000
        const Index i = s.I[t];
        const double sum = twin_[i] >= 0
                               ? pair_sums_without_twins(i, s.eI[t], s.qI[t], s, nJ, uJ)
                               : pair_sums_table().f64(s.eI[t], s.qI[t], s.eJ.data(), s.RJ.data(), uJ, nJ, eps_);
        a[i] = -s.qI[t] * sum;
    }
    expand_competitors();
}

template <class T>
void PooledEvaluator::evaluate(const RowsView<T>& X, const TargetSpec& target, double beta, const ModelOutputs<T>& out,
                               int n_threads, Index first_row, const std::int64_t* exclude) const {
    const Index N = X.n_rows, D = n_features(), K = n_clusters(), M = n_support();
    model_.check_call(X, beta, out, exclude);
    const bool want_relevance = out.relevance.data != nullptr || out.coefficients != nullptr;
    // The assignment alone of float32 input (predict): the distance product
    // in float32 against the rounded support vectors; where the two nearest
    // clusters are within its rounding the row is settled in float64 (exact
    // distances, or the centred float64 form far from the support vectors),
    // so the assignment is the float64 path's.  Logits, distances and
    // relevance run in float64 for any input: explain's logit stays bitwise
    // logits()'s, and the midpoint rule amplifies the rounding of h_ij by
    // 1 / h_ij.
    const bool in_float32 =
        std::is_same_v<T, float> && !want_relevance && !exclude && !out.logit && !out.logits_all && !out.distances;
    const Index B = block_rows(D, M, largest_cluster());
    const PackedSupport& packed = this->packed();
    const Index Mp = packed.padded_size(), Dp2 = 2 * packed.padded_dim();
    const Index n_blocks = block_count(N, B);
    const int threads = resolve_thread_count(n_threads, n_blocks);
    const KernelRowsKernelTable& kernels = kernel_rows_table();
    const KernelRowsModelView& pm = packed.view();

    std::vector<Scratch> scratch(threads);
    for (auto& s : scratch) {
        if (in_float32)
            s.Z32.resize(B, D);
        else
            s.Z.resize(B, D);
        s.E.resize(B, Mp);
        s.W.resize(M);
        for (Vector* v : {&s.S, &s.lo, &s.total}) v->resize(K);
        if (want_relevance) {
            s.A.setZero(B, Mp);
            s.G.resize(B, Dp2);
            for (Vector* v : {&s.Wp, &s.uJ, &s.Q, &s.sigma}) v->resize(M);
            for (Vector* v : {&s.eI, &s.qI, &s.eJ, &s.RJ}) v->resize(M + 8);
            s.q_prefix.resize(M + 1);
            for (Vector* v : {&s.total_p, &s.h, &s.share, &s.P}) v->resize(K);
            s.I.resize(M + 8);
            s.J.resize(M + 8);
            s.kept_from.resize(K);
            s.apart.resize(K);
            s.mask_from.resize(K);
            s.kept_masks.resize(M / 8 + K + 1);
            s.by_distance.resize(M);
            if (out.pair_weights) s.Wpair.resize(M);
        }
    }
    FirstBadRow bad_input(N), bad_target(N), bad_exclude(N), too_far(N), unrepresentable(N);

    for_each_block(n_blocks, threads, [&](Index b, int tid) {
        Scratch& s = scratch[tid];
        const Index r0 = b * B, rows = std::min(B, N - r0);
        if (in_float32) {
            if (!load_centered_block(X, r0, rows, protos_.center(), s.Z32, bad_input)) return;
            kernels.distances_f32(pm, s.Z32.data(), rows, s.E.data());
        } else {
            if (!load_centered_block(X, r0, rows, protos_.center(), s.Z, bad_input)) return;
            kernels.distances_f64(pm, s.Z.data(), rows, s.E.data());
        }

        for (Index r = 0; r < rows; ++r) {
            const Index row = r0 + r;
            interrupt_point();  // a block may be one long row
            double* e = s.E.row(r).data();  // d(x, u_j) - offset
            double offset = in_float32 ? s.Z32.row(r).template cast<double>().squaredNorm() : s.Z.row(r).squaredNorm();
            bool finite = kernels.all_finite(e, M);
            if (in_float32 && !(finite && std::isfinite(offset))) {
                // Beyond the float32 range (a far point): the row in float64.
                offset = offsets_in_float64(X, row, e);
                finite = kernels.all_finite(e, M);
            }
            if (!finite) {  // |x - center| |u| beyond float64
                too_far.report(row);
                if (want_relevance) s.A.row(r).setZero();
                continue;
            }
            Index skip = -1;
            if (exclude && exclude[row] >= 0) {
                if (exclude[row] >= M) {
                    bad_exclude.report(row);
                    continue;
                }
                skip = position_[exclude[row]];
            }

            soft_min_distances(e, skip, s, in_float32);
            NearestTwo rank = nearest_two(s.S.data(), K);
            // The product's e carries rounding of order eps (|z| |u| + |u|^2),
            // and so do the S_k: when the two nearest clusters are that close,
            // the distances are recomputed term by term (settle_near_ties,
            // which then leaves full distances in e) so that exact ties stay
            // ties.
            const double unit = in_float32 ? static_cast<double>(std::numeric_limits<float>::epsilon())
                                           : std::numeric_limits<double>::epsilon();
            if (settle_near_ties(protos_, X, row, std::sqrt(offset), e, rank, unit)) {
                offset = 0.0;
                soft_min_distances(e, skip, s);
                rank = nearest_two(s.S.data(), K);
            } else if (in_float32 && !(rank.second - rank.lo > near_tie_tolerance(protos_, std::sqrt(offset), unit))) {
                // Far from the support vectors (no term-by-term settling): the
                // float64 path's centred form.
                offset = offsets_in_float64(X, row, e);
                soft_min_distances(e, skip, s);
                rank = nearest_two(s.S.data(), K);
            }

            write_ranking(out, row, rank, s.S.data(), K, unrepresentable);
            if (out.distances) {
                T* dst = out.distances + row * K;
                for (Index k = 0; k < K; ++k) {
                    // +inf: a cluster left without members (leave-one-out).
                    const double v = s.S[k] + offset;
                    dst[k] = std::isinf(s.S[k]) ? static_cast<T>(s.S[k]) : representable<T>(v, row, unrepresentable);
                }
            }
            const Index c = target_of(target, row, rank.nearest, K);
            if (c < 0) {
                bad_target.report(row);
                if (want_relevance) s.A.row(r).setZero();
                continue;
            }
            const double f = cluster_logit(rank, s.S.data(), c);
            if (out.logit) out.logit[row] = representable<T>(f, row, unrepresentable);
            if (want_relevance) {
                relevance_coefficients(e, c, f, beta, s, s.A.row(r).data(),
                                       out.pair_weights ? s.Wpair.data() : nullptr);
                model_.export_coefficients(out, row, s.A.row(r).data(), s.Wpair.data(), e);
            }
        }
        if (out.relevance.data) {
            kernels.relevance_product(pm, s.A.data(), Mp, rows, s.G.data());
            midpoint_relevance(s.Z, s.G, rows, out.relevance, r0, &unrepresentable);
        }
    });

    throw_if_bad_input(bad_input, first_row);
    throw_if_too_far(too_far, first_row, model_.what());
    throw_if_unrepresentable<T>(unrepresentable, first_row, eps_);
    if (bad_exclude.any())
        throw std::out_of_range("left-out support vector out of range [-1, " + std::to_string(M) + ") at row " +
                                std::to_string(first_row + bad_exclude.row()));
    throw_if_bad_target(bad_target, K, first_row);
}

}  // namespace neon
