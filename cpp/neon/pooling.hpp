// The pooling layers of a neuralized clustering model and their
// redistribution rules (NEON_SPEC.md, sections 1 and 2).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "parallel.hpp"

namespace neon {

// The absorbing stabilizer of the midpoint rule (NEON_SPEC.md sections 1
// and 5): 1 / h where |h| > eps, and 0 where |h| <= eps.  A pair with
// |h| <= eps (an exact or rounding-level tie, e.g. two support vectors at
// equal distance from x in integer data, or twins) has contributions
// (x - m) * w that sum to ~0 but need not be small one by one; divided by
// ~eps they would swamp every other feature.  Such a pair is absorbed
// instead: it leaves its pool and its share goes to the others.  Dividing
// by h itself (not h + eps sign h) keeps every kept contribution exact.
inline double stabilized_inverse(double h, double eps) {
    // Divide unconditionally and select afterwards: branch-free, so the
    // pair loops that call this still vectorize (1/0 -> inf is discarded).
    const double inv = 1.0 / h;
    return (h > eps || h < -eps) ? inv : 0.0;
}

// Whether the stabilizer keeps a layer-1 output h (|h| > eps).
inline bool kept_by_stabilizer(double h, double eps) {
    return h > eps || h < -eps;
}

// Midpoint-rule coefficient R_k * stabilized_inverse(h_k): the factor by
// which the layer-1 contributions (x - m) * w of a competitor are scaled.
// No relevance means no contribution, also where h_k = 0 with eps = 0
// (a point on a decision boundary whose logit is 0) instead of 0/0.
inline double stabilized_ratio(double relevance, double h, double eps) {
    return relevance == 0.0 ? 0.0 : relevance * stabilized_inverse(h, eps);  // 0 * inf (h subnormal, eps = 0)
}

// Soft-min redistribution of f over the entries with mask[k] true:
//   R_k = f * exp(-s (v_k - v_min)) / sum_k' ...,   v_min = min over the mask,
// so that the R_k sum to f.  Shifting by the masked minimum keeps every
// exponent <= 0, so nothing overflows whatever the stiffness s; entries
// that underflow get exactly zero.  Writes R_k into `share` (0 where masked
// out; all 0 when the mask is empty).
template <class Mask>
void softmin_redistribute(const double* v, Index n, double f, double stiffness, Mask&& mask, double* share) {
    double lo = std::numeric_limits<double>::infinity();
    for (Index k = 0; k < n; ++k)
        if (mask(k)) lo = std::min(lo, v[k]);
    double total = 0.0;
    for (Index k = 0; k < n; ++k) {
        if (!mask(k)) {
            share[k] = 0.0;
            continue;
        }
        const double w = v[k] == lo ? 1.0 : std::exp(-stiffness * (v[k] - lo));  // exactly 1 even if lo = inf
        share[k] = w;
        total += w;
    }
    // total >= 1 (the minimizing entry contributes 1) unless the mask is empty.
    const double scale = total > 0.0 ? f / total : 0.0;
    for (Index k = 0; k < n; ++k) share[k] *= scale;
}

}  // namespace neon
