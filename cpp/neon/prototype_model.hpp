// The one prototype model behind both neuralized clusterings (NEON_SPEC.md
// sections 1 and 2): prototypes u_j with cluster labels.  k-means is the
// case of one prototype per cluster (its centroid); kernel k-means pools
// several per cluster with the soft-min distance
//   S_k(x) = LME^{-gamma}_{j in C_k} d(x, u_j),
// which for one member is d(x, u_j) itself, whatever gamma.
//
// This header defines the model once: validation, the prototypes in cluster
// order (cluster k is the range [start_k, start_{k+1}) of the internal
// order) with the map from the caller's order, the twins (identical
// prototypes of different clusters), the stabilizer eps (relative x the
// scale of h) and the centring (CenteredPrototypes).  How rows are evaluated
// lives in the two evaluators (FusedEvaluator in kmeans.hpp: one prototype
// per cluster; PooledEvaluator in kernel_kmeans.hpp: any clusters), and
// PrototypeCore (prototype_core.hpp) picks one per call.  The tie rule
// (nearest_two, settle_near_ties in prototypes.hpp) and the output checks
// (outputs.hpp) are shared by both evaluators.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "outputs.hpp"
#include "prototypes.hpp"
#include "rows.hpp"

namespace neon {

class PrototypeModel {
public:
    // gamma of a model whose clusters all have one prototype (k-means): the
    // soft-min of one distance is that distance, so no kernel width is needed.
    static constexpr double kNoGamma = std::numeric_limits<double>::quiet_NaN();

    // `prototypes` is M x D row-major; `labels` M cluster indices in [0, K)
    // with every cluster non-empty and K >= 2, or null for one prototype per
    // cluster in the given order (k-means: the centroids).  gamma: kernel
    // width (kNoGamma allowed only when every cluster has one prototype);
    // pool_stiffness: gamma' of the two LME redistributions (kNoGamma: gamma);
    // eps_relative: stabilizer of the midpoint rule relative to h_scale.
    PrototypeModel(const double* prototypes, const std::int64_t* labels, Index M, Index D, double gamma,
                   double pool_stiffness, double eps_relative)
        : what_(labels ? "support vectors" : "centroids"), gamma_(gamma),
          pool_stiffness_(std::isnan(pool_stiffness) ? gamma : pool_stiffness) {
        if (M < 1 || D < 1) throw std::invalid_argument(std::string(what_) + " must be a non-empty M x D matrix");
        if (!(eps_relative >= 0.0) || !std::isfinite(eps_relative))
            throw std::invalid_argument("eps must be finite and >= 0");
        order_clusters(labels, M);
        singletons_ = largest_cluster() == 1;
        if (std::isnan(gamma_) && !singletons_)
            throw std::invalid_argument(
                "gamma (the kernel width) is needed when a cluster has several support vectors");
        if (!std::isnan(gamma_) && (!(gamma_ > 0.0) || !std::isfinite(gamma_)))
            throw std::invalid_argument("gamma must be finite and > 0");
        if (!std::isnan(pool_stiffness_) && (!(pool_stiffness_ > 0.0) || !std::isfinite(pool_stiffness_)))
            throw std::invalid_argument("pool_stiffness must be finite and > 0");
        position_.resize(M);
        if (identity_order_) {
            std::iota(position_.begin(), position_.end(), Index{0});
            protos_ = CenteredPrototypes(prototypes, M, D, what_);
        } else {
            RowMatrix sorted(M, D);
            const Eigen::Map<const RowMatrix> given(prototypes, M, D);
            for (Index p = 0; p < M; ++p) {
                sorted.row(p) = given.row(order_[p]);
                position_[order_[p]] = p;
            }
            protos_ = CenteredPrototypes(sorted.data(), M, D, what_);
        }
        order_.clear();
        order_.shrink_to_fit();
        find_twins();
        eps_ = eps_relative * protos_.h_scale();
    }

    Index n_clusters() const { return static_cast<Index>(start_.size()) - 1; }
    Index n_features() const { return protos_.dim(); }
    Index n_prototypes() const { return protos_.size(); }
    Index cluster_size(Index k) const { return start_[k + 1] - start_[k]; }
    Index largest_cluster() const {
        Index largest = 0;
        for (Index k = 0; k < n_clusters(); ++k) largest = std::max(largest, cluster_size(k));
        return largest;
    }
    // Whether every cluster has exactly one prototype (k-means): then the
    // internal position of a prototype is its cluster index.
    bool singleton_clusters() const { return singletons_; }
    // Whether the caller's order is the internal (cluster) order.
    bool identity_order() const { return identity_order_; }
    // What the prototypes are called in error messages.
    const char* what() const { return what_; }
    double gamma() const { return gamma_; }
    double pool_stiffness() const { return pool_stiffness_; }
    double epsilon() const { return eps_; }

    // The prototypes in cluster order, centred (see CenteredPrototypes).
    const CenteredPrototypes& prototypes() const { return protos_; }
    // K + 1 cluster boundaries in the internal order.
    const std::vector<Index>& cluster_starts() const { return start_; }
    // Caller's index -> internal position.
    const std::vector<Index>& positions() const { return position_; }
    // Internal position -> lowest position of the group of identical
    // prototypes (in the centred coordinates) it belongs to, when that group
    // spans clusters; -1 otherwise.
    const std::vector<Index>& twins() const { return twin_; }
    bool has_twins() const { return has_twins_; }
    // For one prototype per cluster: cluster -> lowest-index identical
    // cluster (itself when it has no twin), what the fused kernel reads.
    const std::vector<Index>& representatives() const { return representative_; }

    Index cluster_of(Index p) const {
        return static_cast<Index>(std::upper_bound(start_.begin(), start_.end(), p) - start_.begin()) - 1;
    }

    // The arguments of an evaluate call that every evaluator shares.
    template <class T>
    void check_call(const RowsView<T>& X, double beta, const ModelOutputs<T>& out, const std::int64_t* exclude) const {
        if (X.n_cols != n_features()) throw std::invalid_argument("X has the wrong number of features");
        const bool want_relevance = out.relevance.data != nullptr || out.coefficients != nullptr;
        if (want_relevance && !(beta > 0.0 && std::isfinite(beta)))
            throw std::invalid_argument("beta must be finite and > 0");
        if (want_relevance && exclude)
            throw std::invalid_argument("relevance is not defined with left-out support vectors");
    }

    // The per-prototype outputs affine.hpp asks for (coefficients, pair
    // weights, distance offsets; row `row`, each M entries), from internal
    // order to the caller's.
    template <class T>
    void export_coefficients(const ModelOutputs<T>& out, Index row, const double* a, const double* w,
                             const double* e) const {
        const Index M = n_prototypes();
        if (out.coefficients)
            for (Index j = 0; j < M; ++j) out.coefficients[row * M + j] = a[position_[j]];
        if (out.pair_weights)
            for (Index j = 0; j < M; ++j) out.pair_weights[row * M + j] = w[position_[j]];
        if (out.pair_offsets)
            for (Index j = 0; j < M; ++j) out.pair_offsets[row * M + j] = e[position_[j]];
    }

private:
    // Cluster order: the prototypes sorted (stably) by label; start_ the
    // cluster boundaries, order_ the caller's index at each position.
    void order_clusters(const std::int64_t* labels, Index M) {
        if (!labels) {
            if (M < 2) throw std::invalid_argument("k-means needs at least 2 clusters");
            start_.resize(M + 1);
            std::iota(start_.begin(), start_.end(), Index{0});
            identity_order_ = true;
            return;
        }
        std::int64_t max_label = -1;
        for (Index j = 0; j < M; ++j) {
            if (labels[j] < 0 || labels[j] >= M)
                throw std::invalid_argument("support label " + std::to_string(labels[j]) + " at index " +
                                            std::to_string(j) + " is not a cluster index in [0, M)");
            max_label = std::max(max_label, labels[j]);
        }
        const Index K = static_cast<Index>(max_label) + 1;
        if (K < 2) throw std::invalid_argument("kernel k-means needs at least 2 clusters");
        start_.assign(K + 1, 0);
        for (Index j = 0; j < M; ++j) ++start_[labels[j] + 1];
        for (Index k = 0; k < K; ++k) {
            if (start_[k + 1] == 0)
                throw std::invalid_argument("cluster " + std::to_string(k) + " has no support vector");
            start_[k + 1] += start_[k];
        }
        order_.resize(M);
        std::iota(order_.begin(), order_.end(), Index{0});
        std::stable_sort(order_.begin(), order_.end(), [&](Index a, Index b) { return labels[a] < labels[b]; });
        identity_order_ = true;
        for (Index p = 0; p < M && identity_order_; ++p) identity_order_ = order_[p] == p;
    }

    // Identical prototypes in different clusters: h between them is 0 for
    // every x and their midpoint-rule contribution is exactly zero (w = 0,
    // b = 0), so the evaluators absorb their pairs (k-means: the twin of the
    // target leaves the soft-min).  Compared in the centred coordinates the
    // kernels compute in: prototypes closer than the rounding of the centring
    // are the same point there, and a non-twin with h = 0 would get a
    // coefficient R / eps whose factorized terms cancel catastrophically.
    // Found by a lexicographic sort of the rows, O(M log M D).
    void find_twins() {
        const Index M = n_prototypes(), D = n_features();
        const RowMatrix& U = protos_.centered();
        std::vector<Index> by_value(M);
        std::iota(by_value.begin(), by_value.end(), Index{0});
        auto less = [&](Index a, Index b) {
            for (Index i = 0; i < D; ++i)
                if (U(a, i) != U(b, i)) return U(a, i) < U(b, i);
            return a < b;
        };
        std::sort(by_value.begin(), by_value.end(), less);
        twin_.assign(M, -1);
        for (Index g = 0; g < M;) {
            Index end = g + 1;
            while (end < M && U.row(by_value[end]) == U.row(by_value[g])) ++end;
            bool spans = false;
            for (Index t = g + 1; t < end; ++t) spans = spans || cluster_of(by_value[t]) != cluster_of(by_value[g]);
            if (spans)
                for (Index t = g; t < end; ++t) twin_[by_value[t]] = by_value[g];  // the group's lowest position
            has_twins_ = has_twins_ || spans;
            g = end;
        }
        if (!singletons_) return;
        representative_.resize(M);
        for (Index k = 0; k < M; ++k) representative_[k] = twin_[k] >= 0 ? twin_[k] : k;
    }

    const char* what_;
    CenteredPrototypes protos_;    // in cluster order
    std::vector<Index> start_;     // K + 1 cluster boundaries in that order
    std::vector<Index> order_;     // during construction: internal position -> caller's index
    std::vector<Index> position_;  // caller's index -> internal position
    std::vector<Index> twin_;
    std::vector<Index> representative_;
    bool identity_order_ = false, singletons_ = false, has_twins_ = false;
    double gamma_, pool_stiffness_;
    double eps_ = 0.0;
};

}  // namespace neon
