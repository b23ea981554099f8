// One Lloyd iteration of a k-means fit: every row to its nearest centre on
// the dispatched kernels of fit_kernel.hpp (distance products in X's
// precision, as scikit-learn computes them), and the weighted means of the
// clusters in float64, with empty clusters relocated.  The final labels of
// a fit are not computed here but by the explanation's assignment
// (fit_labels.hpp), which settles near ties exactly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "fit_dispatch.hpp"
#include "fit_schedule.hpp"

namespace neon {

struct LloydResult {
    double inertia = 0.0;       // sum of w * squared distance to the assigned input centre
    double center_shift = 0.0;  // sum over clusters of ||new - old||^2 (update only)
    Index n_changed = 0;        // rows with weight whose label differs from the one in `labels` before
    Index n_relocated = 0;      // empty clusters given a far point (update only)
    Index n_empty = 0;          // clusters with no weight left after relocation (update only)
};

namespace detail {

// Clusters left without weight take the farthest rows (from their own
// centres; ties to the lower row) of clusters that keep at least one other
// row.  sums (K x D, of w (x - origin)), weight and count are updated.
template <class T>
Index relocate_empty_clusters(const RowsView<T>& X, const double* w, const std::int64_t* labels, const double* dist,
                              const double* origin, Index K, double* sums, double* weight, double* count) {
    const Index N = X.n_rows, D = X.n_cols;
    std::vector<Index> empty;
    for (Index k = 0; k < K; ++k)
        if (count[k] == 0.0) empty.push_back(k);
    if (empty.empty()) return 0;
    // The rows with weight that are not on their centre.  Rarely needed, so a plain sort.
    std::vector<Index> far;
    for (Index r = 0; r < N; ++r)
        if (w[r] > 0.0 && dist[r] > 0.0) far.push_back(r);
    std::sort(far.begin(), far.end(),
              [&](Index a, Index b) { return dist[a] > dist[b] || (dist[a] == dist[b] && a < b); });
    Index relocated = 0;
    auto next = far.begin();
    for (Index k : empty) {
        while (next != far.end() && count[labels[*next]] < 2.0) ++next;
        if (next == far.end()) break;
        const Index row = *next++;
        const Index from = static_cast<Index>(labels[row]);
        const double wr = w[row];
        for (Index i = 0; i < D; ++i) {
            const double z = static_cast<double>(X.row(row)[i * X.col_stride]) - origin[i];
            sums[from * D + i] -= wr * z;
            sums[k * D + i] = wr * z;
        }
        weight[from] -= wr;
        count[from] -= 1.0;
        weight[k] = wr;
        count[k] = 1.0;
        ++relocated;
    }
    return relocated;
}

}  // namespace detail

// One Lloyd iteration over all rows: assign every row to its nearest input
// centre (ties to the lowest index, no near-tie settling) and, when
// new_centers is given, compute the weighted means of the clusters.
// Clusters left without weight take the farthest rows of clusters that keep
// another row (detail::relocate_empty_clusters); a cluster that finds none
// keeps its centre.  centers: K x D row-major; labels: N (compared with and
// overwritten by the new labels); dist: N or null (each row's squared
// distance to its centre, and then the inertia; without it the pass skips
// both, and an update that has to relocate computes them in a second pass).
// Sums are float64: of the rows centred on the centres' mean for float64 X,
// of X's own rows for float32 X (whose values float64 sums hold exactly
// enough).
template <class T>
LloydResult lloyd_step(const RowsView<T>& X, const double* w, const double* centers, Index K, double* new_centers,
                       std::int64_t* labels, double* dist, int n_threads, Isa isa = Isa::automatic) {
    if (K < 1) throw std::invalid_argument("need at least one centre");
    const Index N = X.n_rows, D = X.n_cols;
    const bool update = new_centers != nullptr;
    const auto kernel = for_precision<T>(fit_kernels_for(isa).lloyd_f32, fit_kernels_for(isa).lloyd_f64);
    const CenteredPrototypes protos(centers, K, D, "centroids");
    const FitPacked<T> packed(protos);
    const FitPrototypesView<T> view = packed.view();
    constexpr bool centred_sums = std::is_same_v<T, double>;
    const Vector origin = centred_sums ? protos.center() : Vector::Zero(D);
    const FitRows<T> rows = fit_rows(X, w);
    // One pass; a group's partials: [sums K x D | weights K | counts K | inertia, labels changed].
    auto pass = [&](bool sums, double* distances) {
        LloydJob job;
        job.labels = labels;
        job.dist = distances;
        job.update = sums;
        job.sum_origin = centred_sums ? origin.data() : nullptr;
        const Index width = sums ? K * (D + 2) + 2 : 2;
        return reduce_over_groups(
            N, D, width, n_threads, double(N) * double(D) * double(K + 1),
            [&] { return FitScratch<T>(packed.padded_dim()); },
            [&](Index r0, Index r1, FitScratch<T>& scratch, double* part) {
                LloydPartials out;
                out.sums = part;
                out.weight = part + K * D;
                out.count = part + K * D + K;
                out.scalars = part + width - 2;
                kernel(view, rows, job, r0, r1, scratch.view(), out);
            });
    };
    std::vector<double> total = pass(update, dist);
    const Index width = static_cast<Index>(total.size());
    LloydResult result;
    result.inertia = total[width - 2];
    result.n_changed = static_cast<Index>(total[width - 1]);
    if (!update) return result;
    double* sums = total.data();
    double* weight = sums + K * D;
    double* count = weight + K;
    if (std::find(count, count + K, 0.0) != count + K) {
        // Relocation needs every row's distance: a second pass from the
        // same centres gives them (the labels stay as they are).
        std::vector<double> own;
        if (!dist) {
            own.resize(static_cast<std::size_t>(N));
            dist = own.data();
            result.inertia = pass(false, dist)[0];
        }
        result.n_relocated = detail::relocate_empty_clusters(X, w, labels, dist, origin.data(), K, sums, weight, count);
    }
    for (Index k = 0; k < K; ++k) {
        double* out = new_centers + k * D;
        const double* old = centers + k * D;
        if (count[k] == 0.0) {
            ++result.n_empty;
            std::copy(old, old + D, out);
            continue;
        }
        for (Index i = 0; i < D; ++i) {
            out[i] = origin[i] + sums[k * D + i] / weight[k];
            const double shift = out[i] - old[i];
            result.center_shift += shift * shift;
        }
    }
    return result;
}

}  // namespace neon
