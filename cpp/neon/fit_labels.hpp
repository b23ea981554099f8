// Rows under fitted centres: the final labelling pass of a fit (and of
// KMeans.score), and the distances of KMeans.transform.
//
// The labels come from the explanation's own assignment (FusedEvaluator in
// kmeans.hpp: dispatched kernels, near ties settled with exact float64
// distances, ties to the lowest index), so a fit's labels_ equal predict on
// the same rows by construction.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "fit_dispatch.hpp"
#include "fit_schedule.hpp"
#include "kmeans.hpp"

namespace neon {

struct LabelResult {
    double inertia = 0.0;    // sum of w * squared distance to the assigned centre (float64, term by term)
    double logit_sum = 0.0;  // sum of w * the assigned cluster's logit (second-nearest - nearest squared distance)
};

// labels[r] = the nearest of the K >= 2 centres to row r, as predict gives it.
template <class T>
LabelResult label_rows(const RowsView<T>& X, const double* w, const double* centers, Index K, std::int64_t* labels,
                       int n_threads, Isa isa = Isa::automatic) {
    const Index N = X.n_rows, D = X.n_cols;
    // eps only shapes explanations; the assignment does not depend on it.
    const PrototypeModel model(centers, nullptr, K, D, PrototypeModel::kNoGamma, PrototypeModel::kNoGamma, 0.0);
    const FusedEvaluator core(model);
    LabelResult result;
    // The logits in chunks, so that the pass keeps O(chunk) memory beyond labels.
    constexpr Index kChunk = Index(1) << 16;
    std::vector<T> logit(static_cast<std::size_t>(std::min(N, kChunk)));
    for (Index lo = 0; lo < N; lo += kChunk) {
        const Index hi = std::min(N, lo + kChunk);
        ModelOutputs<T> out;
        out.assigned = labels + lo;
        out.logit = logit.data();
        core.evaluate(X.slice(lo, hi), TargetSpec{}, 1.0, out, n_threads, lo, isa);
        for (Index r = lo; r < hi; ++r) result.logit_sum += w[r] * static_cast<double>(logit[r - lo]);
    }
    const auto kernel = for_precision<T>(fit_kernels_for(isa).inertia_f32, fit_kernels_for(isa).inertia_f64);
    const FitRows<T> rows = fit_rows(X, w);
    result.inertia = reduce_over_groups(
        N, D, 1, n_threads, double(N) * double(D), [] { return 0; },
        [&](Index r0, Index r1, int, double* part) { part[0] += kernel(rows, centers, labels, r0, r1); })[0];
    return result;
}

// Euclidean (or squared) distance of every row to every centre, N x K:
// products in float64 (also for float32 X) on the dispatched distance
// kernel, in coordinates centred on the centres, written in X's precision.
template <class T>
void center_distances(const RowsView<T>& X, const double* centers, Index K, bool squared, const RowsOut<T>& out,
                      int n_threads, Isa isa = Isa::automatic) {
    const Index N = X.n_rows, D = X.n_cols;
    const auto kernel = for_precision<T>(fit_kernels_for(isa).distances_f32_in_f64, fit_kernels_for(isa).distances_f64);
    const CenteredPrototypes protos(centers, K, D, "centroids");
    const FitPacked<double> packed(protos);
    const FitPrototypesView<double> view = packed.view();
    const FitRows<T> rows = fit_rows(X, static_cast<const double*>(nullptr));
    const Index B = FusedEvaluator::block_rows(D);
    const Index n_blocks = block_count(N, B);
    const int threads = fit_thread_count(n_threads, n_blocks, double(N) * double(D) * double(K));
    std::vector<FitScratch<double>> scratch;
    std::vector<RowMatrix> dist(static_cast<std::size_t>(threads), RowMatrix(K, B));
    for (int t = 0; t < threads; ++t) scratch.emplace_back(packed.padded_dim());
    FirstBadRow bad(N);
    for_each_block(n_blocks, threads, [&](Index b, int tid) {
        const Index r0 = b * B, n = std::min(B, N - r0);
        RowMatrix& Dk = dist[tid];
        kernel(view, rows, r0, r0 + n, scratch[tid].view(), Dk.data(), B);
        for (Index r = 0; r < n; ++r) {
            T* dst = out.row(r0 + r);
            for (Index k = 0; k < K; ++k) {
                const double d = Dk(k, r);
                // NaN or inf: a row that is not finite is bad input; a finite
                // row that far from the centres has an infinite distance.
                if (!(d - d == 0.0) && !row_is_finite(X.row(r0 + r), D, X.col_stride)) bad.report(r0 + r);
                dst[k] = static_cast<T>(squared ? d : std::sqrt(d));
            }
        }
    });
    if (bad.any()) throw_bad_fit_input(bad.row());
}

}  // namespace neon
