// NEON for k-means (NEON_SPEC.md, section 1): the fused row evaluator of
// the prototype model (prototype_model.hpp) for clusters of one prototype.
//
// The neuralized model of target cluster c:
//   layer 1  h_k = d(x, mu_k) - d(x, mu_c)              (linear in x)
//   layer 2  f_c = min_{k != c} h_k                      (hard min-pool)
// Explanation: soft-min redistribution of f_c onto the h_k (stiffness beta),
// then the midpoint rule onto the input features.  Rows are processed in
// fixed blocks, each by one fused pass (kmeans_kernel.hpp): distance
// product, O(K) scalar work per row, and the factorized midpoint rule;
// the N x K x D tensor of contributions is never formed.
//
// Precision: float64 input is computed in float64.  float32 input is
// computed in float32 in coordinates centred on the centroids (so offsets
// cost no precision), with the per-row scalars (logits, soft-min shares,
// coefficients) in float64 and exact float64 distances wherever the two
// nearest clusters are within rounding of each other.
#pragma once

#include <cstdint>
#include <limits>
#include <mutex>
#include <type_traits>
#include <vector>

#include "aligned_array.hpp"
#include "isa.hpp"
#include "kmeans_kernel_args.hpp"  // the table; the kernels: cpp/neon/isa/kmeans_<isa>.cpp
#include "outputs.hpp"
#include "parallel.hpp"
#include "prototype_model.hpp"
#include "prototypes.hpp"
#include "rows.hpp"

namespace neon {

// The row kernels of the explanation family for `requested` (isa.hpp): only
// the getter of the resolved, supported instruction set runs, since the
// AVX2/AVX-512 copies may use instructions this CPU lacks.
NEON_DECLARE_KERNEL_FAMILY(KMeansKernelTable, kmeans_kernels)

// The centroids in the kernel's layout and precision S (see
// KMeansModelView): centred on `center` rounded to S, so that an input row
// minus the centre is exact in S whenever row and centre are close (the
// far-from-origin case), rows padded to 64 bytes.
template <class S>
class PackedPrototypes {
public:
    PackedPrototypes() = default;
    explicit PackedPrototypes(const CenteredPrototypes& protos)
        : K_(protos.size()), D_(protos.dim()), Kp_(padded_to_line<S>(K_)), Dp_(padded_to_line<S>(D_)),
          PP_(K_ * 2 * Dp_), PT_(Dp_ * Kp_), sq_norm_(Kp_), center_(Dp_), e_pad_(Kp_), rows_(K_) {
        for (Index i = 0; i < D_; ++i) center_[i] = static_cast<S>(protos.center()[i]);
        center64_.assign(protos.center().data(), protos.center().data() + D_);
        for (Index k = K_; k < Kp_; ++k) e_pad_[k] = std::numeric_limits<double>::infinity();
        double max_sq = 0.0;
        finite_ = true;
        for (Index k = 0; k < K_; ++k) {
            S* row = PP_.data() + k * 2 * Dp_;
            rows_[k] = row;
            double sq = 0.0;
            for (Index i = 0; i < D_; ++i) {
                const S p = static_cast<S>(protos.raw()(k, i) - static_cast<double>(center_[i]));
                row[i] = p;
                row[Dp_ + i] = p * p;
                PT_[i * Kp_ + k] = p;
                sq += static_cast<double>(p) * static_cast<double>(p);
                finite_ = finite_ && std::isfinite(static_cast<double>(p * p));
            }
            sq_norm_[k] = static_cast<S>(sq);
            max_sq = std::max(max_sq, sq);
        }
        max_norm_ = std::sqrt(max_sq);
        // Bounds the distance product: with ||z||^2 finite in S, no entry of
        // E overflows (see kmeans_rows).
        finite_ = finite_ && std::isfinite(static_cast<S>(16.0 * max_sq));
        // Nor may the squared distances underflow S: below ~1e-31 (float32)
        // they are subnormal, h is quantized, and the midpoint rule divides by
        // it (a spread of 1e-22 gave relevance 1e-34 for logits of 1e-44).
        finite_ = finite_ && (protos.max_norm() == 0.0 || max_sq >= 0x1p-100);
    }
    PackedPrototypes(PackedPrototypes&&) = default;
    PackedPrototypes& operator=(PackedPrototypes&&) = default;

    // False when the centroids overflow S or their squares underflow it
    // (float32 only: |mu| beyond ~1e18, or spread below ~1e-15).
    bool finite() const { return finite_; }

    // raw: K x D float64 centroids; raw_t: the same transposed, rows
    // raw_t_stride >= Kp apart (shared by both precisions' layouts).
    KMeansModelView<S> view(const double* raw, const double* raw_t, Index raw_t_stride, const Index* representative,
                            bool has_duplicates, double eps) const {
        KMeansModelView<S> v;
        v.K = K_;
        v.D = D_;
        v.Kp = Kp_;
        v.Dp = Dp_;
        v.PP = PP_.data();
        v.rows = rows_.data();
        v.PT = PT_.data();
        v.sq_norm = sq_norm_.data();
        v.center = center_.data();
        v.center64 = center64_.data();
        v.e_pad = e_pad_.data();
        v.raw = raw;
        v.raw_t = raw_t;
        v.raw_t_stride = raw_t_stride;
        v.representative = representative;
        v.has_duplicates = has_duplicates;
        v.max_norm = max_norm_;
        v.eps = eps;
        return v;
    }

private:
    Index K_ = 0, D_ = 0, Kp_ = 0, Dp_ = 0;
    AlignedArray<S> PP_, PT_, sq_norm_, center_;
    AlignedArray<double> e_pad_;
    std::vector<const S*> rows_;  // point into PP_, whose buffer never moves
    std::vector<double> center64_;  // the centre in float64
    double max_norm_ = 0.0;
    bool finite_ = false;
};

// Per-thread scratch of the row kernel, allocated once per call.
template <class S>
class KMeansScratch {
public:
    KMeansScratch(Index Kp, Index Dp)
        : s_(kKMeansSubBlockRows * (Dp + Kp) + (kKMeansMaxLanes + 1) * Kp + kKMeansMaxLanes * Dp),
          d_(kKMeansSubBlockRows + (3 * kKMeansMaxLanes + 3) * Kp), rows_(Kp) {
        view_.Z = s_.data();
        view_.E = view_.Z + kKMeansSubBlockRows * Dp;
        view_.aT_s = view_.E + kKMeansSubBlockRows * Kp;
        view_.active_a = view_.aT_s + kKMeansMaxLanes * Kp;
        view_.Rg = view_.active_a + Kp;  // Kp, Dp: multiples of 64 bytes, so every row is aligned
        view_.z_sq = d_.data();
        view_.eT = view_.z_sq + kKMeansSubBlockRows;
        view_.wT = view_.eT + kKMeansMaxLanes * Kp;
        view_.aT = view_.wT + kKMeansMaxLanes * Kp;
        view_.e_row = view_.aT + kKMeansMaxLanes * Kp;
        view_.a_row = view_.e_row + Kp;
        view_.k_row = view_.a_row + Kp;
        view_.active_rows = rows_.data();
    }
    const KMeansScratchView<S>& view() const { return view_; }

private:
    AlignedArray<S> s_;
    AlignedArray<double> d_;
    std::vector<const S*> rows_;
    KMeansScratchView<S> view_;
};

// The fused row evaluator of a PrototypeModel whose clusters have one
// prototype each (every k-means model; a kernel k-means model with singleton
// clusters too, where S_k is the distance itself): the kernels above, with
// the model's twins (representatives), eps and centring.  Assignment,
// logits, relevance and midpoint-rule coefficients; the soft-min distances
// and leave-one-out are the pooled evaluator's (kernel_kmeans.hpp).
class FusedEvaluator {
public:
    // `model` must have singleton clusters and outlive the evaluator.
    explicit FusedEvaluator(const PrototypeModel& model) : model_(model) {
        if (!model.singleton_clusters())
            throw std::invalid_argument("the fused evaluator needs one prototype per cluster");
        packed64_ = PackedPrototypes<double>(model.prototypes());
        // One transposed float64 copy of the centroids for both layouts, rows
        // padded to the float32 layout's Kp (a multiple of the float64 one's).
        const Index K = model.n_clusters(), D = model.n_features();
        raw_t_stride_ = padded_to_line<float>(K);
        raw_t_ = AlignedArray<double>(D * raw_t_stride_);
        for (Index k = 0; k < K; ++k)
            for (Index i = 0; i < D; ++i) raw_t_[i * raw_t_stride_ + k] = model.prototypes().raw()(k, i);
        // The float32 layout is packed at the first float32 call: float64 users never hold it.
    }

    // Rows per block of the parallel loop: about 16K input values.  Depends
    // only on D, never on threads (results do not depend on it either: rows
    // are independent).  The k-means fit blocks its rows the same way.
    static Index block_rows(Index D) {
        const Index rows = 16384 / std::max<Index>(D, 1);
        return std::min<Index>(std::max<Index>(rows, 16), 1024);
    }

    // Fills the outputs asked for in `out` (not distances nor pair weights)
    // for the rows of X.  `first_row` is the index of X's first row in the
    // caller's whole array; it only makes error messages name rows the caller
    // can find.  `isa` picks the compiled kernels (automatic: the best this
    // CPU runs); each gives bitwise identical results for any n_threads.
    template <class T>
    void evaluate(const RowsView<T>& X, const TargetSpec& target, double beta, const ModelOutputs<T>& out,
                  int n_threads, Index first_row = 0, Isa isa = Isa::automatic) const;

private:
    template <class T, class S, class Kernel>
    void run(Kernel kernel, const PackedPrototypes<S>& packed, const RowsView<T>& X, const TargetSpec& target,
             double beta, const ModelOutputs<T>& out, int n_threads, Index first_row) const;

    const PrototypeModel& model_;
    PackedPrototypes<double> packed64_;
    AlignedArray<double> raw_t_;  // D x raw_t_stride_: the float64 centroids transposed (exact distances)
    Index raw_t_stride_ = 0;
    mutable std::once_flag packed32_once_;  // evaluate is const and runs from many threads
    mutable PackedPrototypes<float> packed32_;
};

template <class T>
void FusedEvaluator::evaluate(const RowsView<T>& X, const TargetSpec& target, double beta, const ModelOutputs<T>& out,
                              int n_threads, Index first_row, Isa isa) const {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value, "float32 or float64 rows");
    model_.check_call(X, beta, out, nullptr);
    const KMeansKernelTable& kernels = kmeans_kernels_for(isa);
    if constexpr (std::is_same<T, float>::value) {
        std::call_once(packed32_once_, [this] { packed32_ = PackedPrototypes<float>(model_.prototypes()); });
        if (packed32_.finite())
            run(kernels.f32, packed32_, X, target, beta, out, n_threads, first_row);
        else
            run(kernels.f32_in_f64, packed64_, X, target, beta, out, n_threads, first_row);
    } else {
        run(kernels.f64, packed64_, X, target, beta, out, n_threads, first_row);
    }
}

template <class T, class S, class Kernel>
void FusedEvaluator::run(Kernel kernel, const PackedPrototypes<S>& packed, const RowsView<T>& X,
                         const TargetSpec& target, double beta, const ModelOutputs<T>& out, int n_threads,
                         Index first_row) const {
    const Index N = X.n_rows, K = model_.n_clusters();
    const KMeansModelView<S> model = packed.view(model_.prototypes().raw().data(), raw_t_.data(), raw_t_stride_,
                                                 model_.representatives().data(), model_.has_twins(), model_.epsilon());
    KMeansJob<T> job;
    job.X = X.data;
    job.n_rows = N;
    job.row_stride = X.row_stride;
    job.col_stride = X.col_stride;
    job.target_per_row = target.per_row;
    job.target_fixed = target.fixed;
    job.beta = beta;
    job.assigned = out.assigned;
    job.logit = out.logit;
    job.logits_all = out.logits_all;
    job.relevance = out.relevance.data;
    job.relevance_stride = out.relevance.row_stride;
    // A large contiguous relevance output is written once and not read back
    // here: streamed past the caches (kmeans_kernel.hpp, stream_span).  A
    // small one stays cached for the caller, who reads it next.
    job.stream_relevance =
        out.relevance.data != nullptr && out.relevance.row_stride == model_.n_features() &&
        reinterpret_cast<std::uintptr_t>(out.relevance.data) % sizeof(T) == 0 &&
        static_cast<double>(N) * static_cast<double>(model_.n_features()) * sizeof(T) >= kStreamRelevanceBytes;
    job.coefficients = out.coefficients;
    // The kernel writes coefficients in cluster order; a caller whose
    // prototypes came in another order gets them permuted row by row.
    const bool permute = out.coefficients && !model_.identity_order();

    const Index B = block_rows(model_.n_features());
    const Index n_blocks = block_count(N, B);
    const int threads = resolve_thread_count(n_threads, n_blocks);
    std::vector<KMeansScratch<S>> scratch;
    scratch.reserve(threads);
    for (int t = 0; t < threads; ++t) scratch.emplace_back(model.Kp, model.Dp);
    std::vector<std::vector<double>> cluster_order(permute ? threads : 0, std::vector<double>(K));
    FirstBadRow bad_input(N), bad_target(N), too_far(N), unrepresentable(N);

    for_each_block(n_blocks, threads, [&](Index b, int tid) {
        KMeansRowStatus status;
        const Index r0 = b * B, r1 = std::min(N, (b + 1) * B);
        kernel(model, job, r0, r1, scratch[tid].view(), status);
        if (status.first_bad_input >= 0) bad_input.report(status.first_bad_input);
        if (status.first_bad_target >= 0) bad_target.report(status.first_bad_target);
        if (status.first_too_far >= 0) too_far.report(status.first_too_far);
        if (status.first_unrepresentable >= 0) unrepresentable.report(status.first_unrepresentable);
        if (permute) {
            std::vector<double>& a = cluster_order[tid];
            for (Index r = r0; r < r1; ++r) {
                std::copy(out.coefficients + r * K, out.coefficients + (r + 1) * K, a.begin());
                model_.export_coefficients(out, r, a.data(), nullptr, nullptr);
            }
        }
    });

    throw_if_bad_input(bad_input, first_row);
    throw_if_too_far(too_far, first_row, model_.what());
    throw_if_unrepresentable<T>(unrepresentable, first_row, model_.epsilon());
    throw_if_bad_target(bad_target, K, first_row);
}

}  // namespace neon
