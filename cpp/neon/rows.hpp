// A read-only view of caller memory as rows of a matrix with arbitrary
// element strides (C order, Fortran order, slices, negative strides), and
// the block loader that turns such rows into centred float64 scratch.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "parallel.hpp"

namespace neon {

template <class S>
using RowMatrixOf = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrix = RowMatrixOf<double>;
using Vector = Eigen::VectorXd;

template <class T>
struct RowsView {
    const T* data = nullptr;
    Index n_rows = 0;
    Index n_cols = 0;
    Index row_stride = 0;  // in elements, may be negative
    Index col_stride = 1;  // in elements, may be negative

    const T* row(Index r) const { return data + r * row_stride; }
    RowsView slice(Index begin, Index end) const {
        RowsView v = *this;
        v.data = row(begin);
        v.n_rows = end - begin;
        return v;
    }
};

template <class T>
bool row_is_finite(const T* x, Index D, Index col_stride) {
    for (Index i = 0; i < D; ++i) {
        const double v = static_cast<double>(x[i * col_stride]);
        if (!(v - v == 0.0)) return false;
    }
    return true;
}

// Writes rows [r0, r0 + rows) of X minus `center` into the first `rows` rows
// of Z (float64; or float32 where a caller trades precision for speed: the
// difference is taken in float64 and rounded once).  Working in coordinates centred on the model's prototypes
// keeps the distance products free of the cancellation that large offsets
// (raw pixels, uncentred embeddings) would cause.  Returns false if a value
// is not finite; `bad` receives the first such row.
template <class T, class S>
bool load_centered_block(const RowsView<T>& X, Index r0, Index rows, const Vector& center, RowMatrixOf<S>& Z,
                         FirstBadRow& bad) {
    const Index D = X.n_cols;
    bool all_finite = true;
    const double* c = center.data();
    for (Index r = 0; r < rows; ++r) {
        const T* x = X.row(r0 + r);
        S* z = Z.row(r).data();
        if (X.col_stride == 1) {
            for (Index i = 0; i < D; ++i) z[i] = static_cast<S>(static_cast<double>(x[i]) - c[i]);
        } else {
            for (Index i = 0; i < D; ++i) z[i] = static_cast<S>(static_cast<double>(x[i * X.col_stride]) - c[i]);
        }
        // z * 0 is 0 for a finite value and NaN otherwise.  Eigen's sum
        // (unlike a plain loop, which the compiler must keep in order)
        // runs on SIMD packets.  Only then is the row itself scanned: a
        // finite x whose difference overflowed is not NaN input (it is a
        // row too far from the prototypes, which the kernels report).
        if (!((Z.row(r).head(D).array() * S(0)).sum() == S(0)) && !row_is_finite(x, D, X.col_stride)) {
            bad.report(r0 + r);
            all_finite = false;
        }
    }
    return all_finite;
}

// Whether a float64 result is finite and within the range of the output
// type T (a float32 output cannot hold a logit of 1e39).  NaN fails.
template <class T>
inline bool fits_in(double v) {
    return std::abs(v) <= static_cast<double>(std::numeric_limits<T>::max());
}

// Output rows written by a kernel: contiguous rows of `n_cols` elements,
// `row_stride` apart (a C-contiguous array, or a row slice of one).
template <class T>
struct RowsOut {
    T* data = nullptr;
    Index row_stride = 0;
    T* row(Index r) const { return data + r * row_stride; }
};

}  // namespace neon
