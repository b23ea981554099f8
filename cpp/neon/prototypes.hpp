// Prototypes (k-means centroids or kernel k-means support vectors) in
// coordinates centred on their mean, with what the distance product and the
// factorized midpoint rule need precomputed once per model.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "rows.hpp"

namespace neon {

class CenteredPrototypes {
public:
    CenteredPrototypes() = default;

    // `prototypes` is M x D, row-major, finite.
    CenteredPrototypes(const double* prototypes, Index M, Index D) : raw_(M, D) {
        if (M < 1 || D < 1) throw std::invalid_argument("prototypes must be a non-empty M x D matrix");
        raw_ = Eigen::Map<const RowMatrix>(prototypes, M, D);
        if (!raw_.allFinite()) throw std::invalid_argument("prototypes contain NaN or infinity");
        center_ = raw_.colwise().mean().transpose();
        centered_ = raw_.rowwise() - center_.transpose();
        // [P | P*P]: one product with a coefficient matrix A yields both
        // A P and A (P*P), the two sums of the factorized midpoint rule.
        stacked_.resize(M, 2 * D);
        stacked_.leftCols(D) = centered_;
        stacked_.rightCols(D) = centered_.array().square().matrix();
        sq_norm_ = centered_.rowwise().squaredNorm();
        max_norm_ = std::sqrt(sq_norm_.maxCoeff());
        // float32 copies for distance products in float32 (fast, for
        // fitting): norms of the rounded rows, so that offsets stay the
        // distances of the rounded prototypes.
        centered_f_ = centered_.cast<float>();
        sq_norm_f_ = centered_f_.cast<double>().rowwise().squaredNorm().cast<float>();
    }

    Index size() const { return raw_.rows(); }
    Index dim() const { return raw_.cols(); }
    const RowMatrix& raw() const { return raw_; }
    const RowMatrix& centered() const { return centered_; }
    const RowMatrix& stacked() const { return stacked_; }
    const Vector& center() const { return center_; }
    const Vector& sq_norm() const { return sq_norm_; }
    const RowMatrixOf<float>& centered_float() const { return centered_f_; }
    const Eigen::VectorXf& sq_norm_float() const { return sq_norm_f_; }
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
    RowMatrix raw_;
    RowMatrix centered_;
    RowMatrix stacked_;
    Vector center_;
    Vector sq_norm_;
    double max_norm_ = 0.0;
    RowMatrixOf<float> centered_f_;
    Eigen::VectorXf sq_norm_f_;
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

// E from the GEMM carries rounding of order eps * (|z| |p| + |p|^2).
// When the two nearest prototypes are closer than that, the row's entries
// e (an offset row of distance_offsets, z_norm = ||z|| of its centred row)
// are replaced by exact term-by-term squared distances, so that exact ties
// in the data stay exact ties (and go to the lowest index).  Returns true
// when it replaced them (and updated `two`): e then holds full squared
// distances, not offsets.
template <class T>
bool settle_near_ties(const CenteredPrototypes& protos, const RowsView<T>& X, Index row, double z_norm, double* e,
                      NearestTwo& two) {
    const double m = protos.max_norm();
    const double tol = 8.0 * static_cast<double>(protos.dim() + 4) * std::numeric_limits<double>::epsilon() *
                       (z_norm * m + m * m + z_norm * z_norm);
    if (two.second - two.lo > tol) return false;
    const T* x = X.row(row);
    for (Index k = 0; k < protos.size(); ++k) e[k] = protos.direct_sq_distance(x, X.col_stride, k);
    two = nearest_two(e, protos.size());
    return true;
}

template <class T>
bool settle_near_ties(const CenteredPrototypes& protos, const RowsView<T>& X, Index row, double z_norm, double* e) {
    NearestTwo two = nearest_two(e, protos.size());
    return settle_near_ties(protos, X, row, z_norm, e, two);
}

// Per block: E = ||p_j||^2 - 2 Z P^T, i.e. the squared distance to each
// prototype minus the common ||z||^2 (which cancels in every difference the
// model uses).  One GEMM per block of rows, in float64 or (Z float32) in
// float32 against the rounded prototypes.
template <class S>
void distance_offsets(const CenteredPrototypes& protos, const RowMatrixOf<S>& Z, Index rows, RowMatrixOf<S>& E) {
    static_assert(std::is_same_v<S, double> || std::is_same_v<S, float>, "float32 or float64");
    if constexpr (std::is_same_v<S, double>) {
        E.topRows(rows).noalias() = Z.topRows(rows) * protos.centered().transpose();
        E.topRows(rows) *= -2.0;
        E.topRows(rows).rowwise() += protos.sq_norm().transpose();
    } else {
        E.topRows(rows).noalias() = Z.topRows(rows) * protos.centered_float().transpose();
        E.topRows(rows) *= -2.0f;
        E.topRows(rows).rowwise() += protos.sq_norm_float().transpose();
    }
}

// Factorized midpoint rule.  With coefficients A (rows x M), where each
// row's coefficients sum to zero over the prototypes it involves,
//   R = sum_j A_j (x - p_j)^2 = -2 z * (A P) + A (P*P)     (x*x cancels),
// so the relevance of a block is one GEMM and one elementwise pass.
template <class T>
void midpoint_relevance(const CenteredPrototypes& protos, const RowMatrix& Z, const RowMatrix& A,
                        Index rows, RowMatrix& G, const RowsOut<T>& out, Index r0) {
    const Index D = protos.dim();
    G.topRows(rows).noalias() = A.topRows(rows) * protos.stacked();
    for (Index r = 0; r < rows; ++r) {
        const double* z = Z.row(r).data();
        const double* g = G.row(r).data();
        T* dst = out.row(r0 + r);
        for (Index i = 0; i < D; ++i) dst[i] = static_cast<T>(g[D + i] - 2.0 * z[i] * g[i]);
    }
}

}  // namespace neon
