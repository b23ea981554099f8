// The caller's side of the fit kernels (fit_kernel.hpp): their family in
// the instruction-set mechanism of isa.hpp, the prototypes packed into the
// kernels' layout, per-thread scratch, and the pick of a kernel by the
// precision of X.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "aligned_array.hpp"
#include "fit_kernel_args.hpp"  // the table; the kernels: cpp/neon/isa/fit_<isa>.cpp
#include "isa.hpp"
#include "prototypes.hpp"
#include "rows.hpp"

namespace neon {

// fit_kernels_for(isa): the FitKernelTable of an instruction set.
NEON_DECLARE_KERNEL_FAMILY(FitKernelTable, fit_kernels)

// f32 or f64, whichever matches the input precision T.
template <class T, class F32, class F64>
constexpr auto for_precision(F32 f32, F64 f64) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "float32 or float64 rows");
    if constexpr (std::is_same_v<T, float>)
        return f32;
    else
        return f64;
}

template <class T>
FitRows<T> fit_rows(const RowsView<T>& X, const double* w) {
    FitRows<T> r;
    r.X = X.data;
    r.n_cols = X.n_cols;
    r.row_stride = X.row_stride;
    r.col_stride = X.col_stride;
    r.w = w;
    return r;
}

// Prototypes in the fit kernels' layout and precision S: centred on their
// mean rounded to S (so that the rows, centred on the same rounded origin,
// and the prototypes differ exactly where they are close), then rounded.
template <class S>
class FitPacked {
public:
    FitPacked() = default;
    explicit FitPacked(const CenteredPrototypes& protos)
        : K_(protos.size()), D_(protos.dim()), Kp_(padded_to_line<S>(K_)), Dp_(padded_to_line<S>(D_)), PT2_(Dp_ * Kp_),
          sq_norm_(Kp_), origin_(Dp_) {
        // The kernels carry a centre's index in S (exact below 2^24 in float32).
        if (K_ >= (Index(1) << std::numeric_limits<S>::digits))
            throw std::invalid_argument("too many centres for this precision");
        for (Index i = 0; i < D_; ++i) origin_[i] = static_cast<S>(protos.center()[i]);
        for (Index k = 0; k < Kp_; ++k) sq_norm_[k] = std::numeric_limits<S>::infinity();
        for (Index k = 0; k < K_; ++k) {
            double sq = 0.0;
            for (Index i = 0; i < D_; ++i) {
                const S p = static_cast<S>(protos.raw()(k, i) - static_cast<double>(origin_[i]));
                PT2_[i * Kp_ + k] = S(-2) * p;
                sq += static_cast<double>(p) * static_cast<double>(p);
            }
            sq_norm_[k] = static_cast<S>(sq);
        }
    }

    Index padded_dim() const { return Dp_; }

    FitPrototypesView<S> view() const {
        FitPrototypesView<S> v;
        v.K = K_;
        v.D = D_;
        v.Kp = Kp_;
        v.Dp = Dp_;
        v.PT2 = PT2_.data();
        v.sq_norm = sq_norm_.data();
        v.origin = origin_.data();
        return v;
    }

private:
    Index K_ = 0, D_ = 0, Kp_ = 0, Dp_ = 0;
    AlignedArray<S> PT2_, sq_norm_, origin_;
};

// Per-thread scratch of the kernels that centre rows.
template <class S>
class FitScratch {
public:
    FitScratch() = default;
    explicit FitScratch(Index Dp) : Z_(kFitSubBlockRows * Dp), z_sq_(kFitSubBlockRows) {}
    FitScratchView<S> view() {
        FitScratchView<S> v;
        v.Z = Z_.data();
        v.z_sq = z_sq_.data();
        return v;
    }

private:
    AlignedArray<S> Z_;
    AlignedArray<double> z_sq_;
};

}  // namespace neon
