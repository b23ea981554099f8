// The compiled core of every neuralized model: one PrototypeModel
// (prototype_model.hpp) and its two row evaluators, picked per call.
//
// When every cluster has one prototype (k-means, or a kernel k-means model
// with singleton clusters) the fused kernel (FusedEvaluator, kmeans.hpp)
// answers assignment, logits, relevance and coefficients; the pooled
// evaluator (PooledEvaluator, kernel_kmeans.hpp) answers what the fused
// kernel does not compute -- soft-min distances, leave-one-out, the pair
// weights of affine.hpp -- and everything for models with pooled clusters.
// For a singleton cluster both evaluators compute the same quantities (the
// soft-min of one distance is that distance, its layer-2/3 weights are 1),
// equal to rounding (tests/test_prototype_core.py).
#pragma once

#include <cstdint>
#include <optional>

#include "isa.hpp"
#include "kernel_kmeans.hpp"
#include "kmeans.hpp"
#include "outputs.hpp"
#include "prototype_model.hpp"

namespace neon {

class PrototypeCore {
public:
    // See PrototypeModel: `labels` null means one prototype per cluster in
    // the given order.  fused_kernel = false runs everything on the pooled
    // evaluator (tests compare the two evaluators with it).
    PrototypeCore(const double* prototypes, const std::int64_t* labels, Index M, Index D, double gamma,
                  double pool_stiffness, double eps_relative, bool fused_kernel = true)
        : model_(prototypes, labels, M, D, gamma, pool_stiffness, eps_relative), pooled_(model_) {
        if (fused_kernel && model_.singleton_clusters()) fused_.emplace(model_);
    }
    // k-means: K centroids, one cluster each.
    PrototypeCore(const double* centroids, Index K, Index D, double eps_relative)
        : PrototypeCore(centroids, nullptr, K, D, PrototypeModel::kNoGamma, PrototypeModel::kNoGamma, eps_relative) {}
    // The evaluators refer to model_: the core stays where it was built.
    PrototypeCore(const PrototypeCore&) = delete;
    PrototypeCore& operator=(const PrototypeCore&) = delete;

    const PrototypeModel& model() const { return model_; }
    Index n_clusters() const { return model_.n_clusters(); }
    Index n_features() const { return model_.n_features(); }
    Index n_prototypes() const { return model_.n_prototypes(); }
    double epsilon() const { return model_.epsilon(); }
    // Whether assignment, logits and relevance run on the fused kernel.
    bool fused() const { return fused_.has_value(); }

    // Rows per block of the evaluator that explains rows of this many
    // features (D is the model's, or a caller's guess before validation).
    Index block_rows(Index D) const {
        if (fused()) return FusedEvaluator::block_rows(D);
        return PooledEvaluator::block_rows(D, model_.n_prototypes(), model_.largest_cluster());
    }

    // Fills the outputs asked for in `out` for the rows of X (see
    // ModelOutputs).  `exclude` (N entries, caller's prototype order, -1 =
    // none) leaves one prototype out of its cluster per row (no relevance
    // then).  `first_row`: index of X's first row in the caller's array, for
    // error messages.  `isa`: which compiled fused kernels run.  Results are
    // bitwise identical for any n_threads.
    template <class T>
    void evaluate(const RowsView<T>& X, const TargetSpec& target, double beta, const ModelOutputs<T>& out,
                  int n_threads, Index first_row = 0, const std::int64_t* exclude = nullptr,
                  Isa isa = Isa::automatic) const {
        model_.check_call(X, beta, out, exclude);
        if (!fused_ || exclude) {
            pooled_.evaluate(X, target, beta, out, n_threads, first_row, exclude);
            return;
        }
        // What only the pooled evaluator computes (the coefficients go with
        // the pair weights: affine.hpp combines them row by row).
        ModelOutputs<T> pooled_part, fused_part = out;
        pooled_part.distances = out.distances;
        pooled_part.pair_weights = out.pair_weights;
        pooled_part.pair_offsets = out.pair_offsets;
        if (out.pair_weights || out.pair_offsets) {
            pooled_part.coefficients = out.coefficients;
            fused_part.coefficients = nullptr;
        }
        fused_part.distances = nullptr;
        fused_part.pair_weights = fused_part.pair_offsets = nullptr;
        const bool pooled_work = pooled_part.distances || pooled_part.pair_weights || pooled_part.pair_offsets;
        const bool fused_work = fused_part.assigned || fused_part.logit || fused_part.logits_all ||
                                fused_part.relevance.data || fused_part.coefficients;
        if (pooled_work) pooled_.evaluate(X, target, beta, pooled_part, n_threads, first_row);
        if (fused_work || !pooled_work) fused_->evaluate(X, target, beta, fused_part, n_threads, first_row, isa);
    }

private:
    PrototypeModel model_;
    PooledEvaluator pooled_;
    std::optional<FusedEvaluator> fused_;
};

}  // namespace neon
