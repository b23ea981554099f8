// Weighted mean and (biased) variance of every feature, in one pass: the
// scale of a k-means fit's tolerance, and the one check that X is finite
// (the iterations after it do not check again).
#pragma once

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "fit_dispatch.hpp"
#include "fit_schedule.hpp"

namespace neon {

// Sums of w z and w z^2 for z = x - x_0 (the first row), which keeps the
// cancellation small because x_0 lies within the data; float64 throughout.
template <class T>
void weighted_moments(const RowsView<T>& X, const double* w, int n_threads, double* mean, double* var,
                      Isa isa = Isa::automatic) {
    const Index N = X.n_rows, D = X.n_cols;
    if (N < 1 || D < 1) throw std::invalid_argument("X must have at least one row and one column");
    const auto kernel = for_precision<T>(fit_kernels_for(isa).moments_f32, fit_kernels_for(isa).moments_f64);
    std::vector<double> origin(static_cast<std::size_t>(D));
    for (Index i = 0; i < D; ++i) origin[i] = static_cast<double>(X.row(0)[i * X.col_stride]);
    const FitRows<T> rows = fit_rows(X, w);
    FirstBadRow bad(N);
    const std::vector<double> s = reduce_over_groups(
        N, D, 2 * D + 1, n_threads, double(N) * double(D), [] { return 0; },
        [&](Index r0, Index r1, int, double* sums) {
            const Index row = kernel(rows, origin.data(), r0, r1, sums);
            if (row >= 0) bad.report(row);
        });
    if (bad.any()) throw_bad_fit_input(bad.row());
    const double W = s[2 * D];
    if (!(W > 0.0)) throw std::invalid_argument("the sample weights sum to zero");
    for (Index i = 0; i < D; ++i) {
        const double m = s[i] / W;
        mean[i] = origin[i] + m;
        var[i] = std::max(0.0, s[D + i] / W - m * m);
    }
}

}  // namespace neon
