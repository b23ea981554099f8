// The pooling layers of a neuralized clustering model and their
// redistribution rules (NEON_SPEC.md, sections 1 and 2).
#pragma once

#include <cmath>
#include <limits>

#include "parallel.hpp"

namespace neon {

// The stabilized inverse of a layer-1 output h in the midpoint rule:
// 1 / (h + eps * sign(h)) (sign(0) = +1), and 0 where |h| <= eps.  A pair
// with |h| <= eps (an exact or rounding-level tie, e.g. two support vectors
// at equal distance from x in integer data) has contributions (x - m) * w
// that sum to ~0 but need not be small one by one; divided by ~eps they
// would swamp every other feature.  Such a pair's relevance is absorbed
// instead (NEON_SPEC.md section 5): it contributes nothing.
inline double stabilized_inverse(double h, double eps) {
    // Divide unconditionally and select afterwards: branch-free, so the
    // pair loops that call this still vectorize (1/0 -> inf is discarded).
    const double inv = 1.0 / (h + (h < 0.0 ? -eps : eps));
    return (h > eps || h < -eps) ? inv : 0.0;
}

// Midpoint-rule coefficient R_k * stabilized_inverse(h_k): the factor by
// which the layer-1 contributions (x - m) * w of a competitor are scaled.
// No relevance means no contribution, also where h_k = 0 with eps = 0
// (a point on a decision boundary whose logit is 0) instead of 0/0.
inline double stabilized_ratio(double relevance, double h, double eps) {
    return relevance == 0.0 ? 0.0 : relevance * stabilized_inverse(h, eps);  // 0 * inf (h subnormal, eps = 0)
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
