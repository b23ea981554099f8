// The pooling layers of a neuralized clustering model and their
// redistribution rules (NEON_SPEC.md, sections 1 and 2).
#pragma once

#include <cmath>
#include <limits>

#include "parallel.hpp"

namespace neon {

// sign(0) = +1, as the stabilizer of the midpoint rule requires.
inline double sign_of(double v) { return v < 0.0 ? -1.0 : 1.0; }

// Midpoint-rule coefficient R_k / (h_k + eps * sign(h_k)): the factor by
// which the layer-1 contributions (x - m) * w of a competitor are scaled.
// No relevance means no contribution, also where h_k = 0 with eps = 0
// (a point on a decision boundary whose logit is 0) instead of 0/0.
inline double stabilized_ratio(double relevance, double h, double eps) {
    return relevance == 0.0 ? 0.0 : relevance / (h + eps * sign_of(h));
}

// Soft-min redistribution of a min-pool output f = min_k v_k over the
// entries with mask[k] true:  R_k = f * exp(-s (v_k - f)) / sum_k' ...
// Shifting by the minimum keeps every exponent <= 0, so nothing overflows
// whatever the stiffness s; entries that underflow get exactly zero.
// Writes R_k into `share` (0 where masked out).
template <class Mask>
void softmin_redistribute(const double* v, Index n, double f, double stiffness, Mask&& mask,
                          double* share) {
    double total = 0.0;
    for (Index k = 0; k < n; ++k) {
        if (!mask(k)) {
            share[k] = 0.0;
            continue;
        }
        const double w = std::exp(-stiffness * (v[k] - f));
        share[k] = w;
        total += w;
    }
    // total >= 1: the minimizing entry contributes exp(0) = 1.
    const double scale = f / total;
    for (Index k = 0; k < n; ++k) share[k] *= scale;
}

}  // namespace neon
