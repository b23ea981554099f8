// Prototypes (k-means centroids or kernel k-means support vectors) in
// coordinates centred on their mean, with what the distance product and the
// factorized midpoint rule need precomputed once per model.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "rows.hpp"

namespace neon {

// The range of scales the kernels accept: the largest distance of a
// prototype from the prototypes' mean must be 0 or lie in
// [kMinSpread, kMaxSpread].  Every model output (h, logits, relevance) is a
// difference of squared distances, homogeneous of degree 2 in the data
// scale, so prototypes spread by more than ~1e154 give logits beyond the
// float64 range whatever is done inside, and a spread below ~1e-154 gives
// squared distances that underflow (every point a tie).  The margins leave
// room for sums over many features and for points far from the prototypes.
// Data outside the range can be rescaled by a power of two s exactly, and
// the relevance scaled back: R(sX; sC, beta / s^2) = s^2 R(X; C, beta).
constexpr double kMinSpread = 1e-140;
constexpr double kMaxSpread = 1e140;

class CenteredPrototypes {
public:
    CenteredPrototypes() = default;

    // `prototypes` is M x D, row-major, finite; `what` names them in errors.
    // The evaluators pack their own layouts for the products (kmeans.hpp,
    // kernel_rows.hpp): only the raw and centred float64 rows are kept here.
    CenteredPrototypes(const double* prototypes, Index M, Index D, const char* what = "prototypes") : raw_(M, D) {
        if (M < 1 || D < 1) throw std::invalid_argument(std::string(what) + " must be a non-empty M x D matrix");
        raw_ = Eigen::Map<const RowMatrix>(prototypes, M, D);
        if (!raw_.allFinite()) throw std::invalid_argument(std::string(what) + " contain NaN or infinity");
        center_ = raw_.colwise().mean().transpose();
        // Values near the float64 limit: the sum overflowed; an exact power-
        // of-two scaling keeps it in range (differs only in this case).
        if (!center_.allFinite()) center_ = (raw_ * 0x1p-64).colwise().mean().transpose() * 0x1p64;
        centered_ = raw_.rowwise() - center_.transpose();
        check_spread(what);
        sq_norm_ = centered_.rowwise().squaredNorm();
        max_norm_ = std::sqrt(sq_norm_.maxCoeff());
    }

    Index size() const { return raw_.rows(); }
    Index dim() const { return raw_.cols(); }
    const RowMatrix& raw() const { return raw_; }
    const RowMatrix& centered() const { return centered_; }
    const Vector& center() const { return center_; }
    const Vector& sq_norm() const { return sq_norm_; }
    double max_norm() const { return max_norm_; }

    // Scale of the layer-1 outputs h (squared distances between
    // prototypes); the stabilizer epsilon is taken relative to it.
    double h_scale() const { return std::max(4.0 * max_norm_ * max_norm_, std::numeric_limits<double>::min()); }

    // Exact squared distance between a raw input row and prototype j,
    // summed term by term (used to settle near ties exactly).
    template <class T>
    double direct_sq_distance(const T* x, Index col_stride, Index j) const {
        double d = 0.0;
        const double* u = raw_.row(j).data();
        for (Index i = 0; i < dim(); ++i) {
            const double diff = static_cast<double>(x[i * col_stride]) - u[i];
            d += diff * diff;
        }
        return d;
    }

private:
    void check_spread(const char* what) const {
        // Norms without squaring (no overflow); inf if the mean overflowed.
        double spread = center_.allFinite() ? 0.0 : std::numeric_limits<double>::infinity();
        for (Index j = 0; j < centered_.rows(); ++j) spread = std::max(spread, centered_.row(j).stableNorm());
        if (spread == 0.0 || (spread >= kMinSpread && spread <= kMaxSpread)) return;
        char msg[320];
        std::snprintf(msg, sizeof msg,
                      "%s span %.3g from their mean, outside the supported range [%.0e, %.0e]: squared "
                      "distances would leave the float64 range. Rescale the data by a power of two s; "
                      "the relevance scales exactly as s^2 (with beta / s^2)",
                      what, spread, kMinSpread, kMaxSpread);
        throw std::invalid_argument(msg);
    }

    RowMatrix raw_;
    RowMatrix centered_;
    Vector center_;
    Vector sq_norm_;
    double max_norm_ = 0.0;
};

// The nearest and second-nearest entries of a row of K distances (or
// distance offsets); ties go to the lowest index.
struct NearestTwo {
    Index nearest = 0;
    double lo = std::numeric_limits<double>::infinity();
    double second = std::numeric_limits<double>::infinity();
};

template <class S>
NearestTwo nearest_two(const S* e, Index K) {
    NearestTwo t;
    for (Index k = 0; k < K; ++k) {
        if (e[k] < t.lo) {
            t.second = t.lo;
            t.lo = e[k];
            t.nearest = k;
        } else if (e[k] < t.second) {
            t.second = e[k];
        }
    }
    return t;
}

// E from the distance product carries rounding of order u (|z| |p| + |p|^2),
// u the unit roundoff of its arithmetic (float64, or float32 for a float32
// product).
// When the two nearest prototypes are closer than that, the row's entries
// e (a row of distance offsets, z_norm = ||z|| of its centred row)
// are replaced by exact term-by-term squared distances, so that exact ties
// in the data stay exact ties (and go to the lowest index).  Returns true
// when it replaced them (and updated `two`): e then holds full squared
// distances, not offsets.  Term-by-term distances round at
// eps (|z| + |p|)^2, coarser than E for a point far from the prototypes
// (|z| >> |p|: a float32 point at 1e30, or 1e160 in float64, came out as an
// exact tie, or NaN), so they are only used for |z| <= 7 max |p|, where
// that is at most 8x E's bound.
inline double near_tie_tolerance(const CenteredPrototypes& protos, double z_norm, double unit) {
    const double m = protos.max_norm();
    return 8.0 * static_cast<double>(protos.dim() + 4) * unit * (z_norm * m + m * m);
}

template <class T>
bool settle_near_ties(const CenteredPrototypes& protos, const RowsView<T>& X, Index row, double z_norm, double* e,
                      NearestTwo& two, double unit = std::numeric_limits<double>::epsilon()) {
    if (!(z_norm <= 7.0 * protos.max_norm())) return false;
    if (two.second - two.lo > near_tie_tolerance(protos, z_norm, unit)) return false;
    const T* x = X.row(row);
    for (Index k = 0; k < protos.size(); ++k) e[k] = protos.direct_sq_distance(x, X.col_stride, k);
    two = nearest_two(e, protos.size());
    return true;
}

// Factorized midpoint rule.  With coefficients A (rows x M), where each
// row's coefficients sum to zero over the prototypes it involves,
//   R = sum_j A_j (x - p_j)^2 = -2 z * (A P) + A (P*P)     (x*x cancels),
// so the relevance of a block is one product G = A [P | P*P] (G's rows:
// A P in the first half, A (P*P) in the second, each half padded to G's
// width / 2) and this elementwise pass.  Rows whose relevance is not
// representable in T (overflow, or NaN/inf from a singular midpoint rule
// with eps = 0) are reported to `unrepresentable`.
template <class T>
void midpoint_relevance(const RowMatrix& Z, const RowMatrix& G, Index rows, const RowsOut<T>& out, Index r0,
                        FirstBadRow* unrepresentable = nullptr) {
    const Index D = Z.cols(), half = G.cols() / 2;
    for (Index r = 0; r < rows; ++r) {
        const double* z = Z.row(r).data();
        const double* g = G.row(r).data();
        T* dst = out.row(r0 + r);
        bool ok = true;
        for (Index i = 0; i < D; ++i) {
            const double v = g[half + i] - 2.0 * (z[i] * g[i]);  // z g = 0 stays 0 for huge z
            const bool fits = fits_in<T>(v);
            ok &= fits;
            dst[i] = static_cast<T>(fits ? v : 0.0);
        }
        if (!ok && unrepresentable) unrepresentable->report(r0 + r);
    }
}

}  // namespace neon
