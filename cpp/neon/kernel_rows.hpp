// The support vectors of kernel k-means packed for the row kernels of
// kernel_rows_kernel.hpp, and the choice of those kernels per instruction set
// (isa.hpp's kernel families; NEON_EXT_ISA governs them as every family).
#pragma once

#include <algorithm>

#include "aligned_array.hpp"
#include "isa.hpp"
#include "kernel_rows_args.hpp"  // the table; the kernels: cpp/neon/isa/kernel_rows_<isa>.cpp
#include "prototypes.hpp"

namespace neon {

NEON_DECLARE_KERNEL_FAMILY(KernelRowsKernelTable, kernel_rows_kernels)

inline const KernelRowsKernelTable& kernel_rows_table() {
    return kernel_rows_kernels_for(Isa::automatic);
}

// Packed once per model: the centred support vectors transposed (float64
// and float32, for the distance products) and [u | u*u] row by row (the
// relevance product), padded with zeros.
class PackedSupport {
public:
    PackedSupport() = default;
    explicit PackedSupport(const CenteredPrototypes& protos) {
        const Index M = protos.size(), D = protos.dim();
        Mp_ = (M + 31) / 32 * 32;
        Dp_ = (D + 7) / 8 * 8;
        UT_ = AlignedArray<double>(D * Mp_);
        UT_f_ = AlignedArray<float>(D * Mp_);
        sq_ = AlignedArray<double>(Mp_);
        sq_f_ = AlignedArray<float>(Mp_);
        PP_ = AlignedArray<double>(M * 2 * Dp_);
        const RowMatrix& U = protos.centered();
        for (Index j = 0; j < M; ++j) {
            double norm_f = 0.0;  // of the rounded row: the offsets stay distances of the rounded vectors
            for (Index i = 0; i < D; ++i) {
                const double u = U(j, i);
                const float uf = static_cast<float>(u);
                UT_[i * Mp_ + j] = u;
                UT_f_[i * Mp_ + j] = uf;
                norm_f += static_cast<double>(uf) * static_cast<double>(uf);
                PP_[packed_at(j, i, M)] = u;
                PP_[packed_at(j, Dp_ + i, M)] = u * u;
            }
            sq_[j] = protos.sq_norm()[j];
            sq_f_[j] = static_cast<float>(norm_f);
        }
        view_.M = M;
        view_.D = D;
        view_.Mp = Mp_;
        view_.Dp2 = 2 * Dp_;
        view_.UT = UT_.data();
        view_.sq_norm = sq_.data();
        view_.UT_f = UT_f_.data();
        view_.sq_norm_f = sq_f_.data();
        view_.PP = PP_.data();
    }
    PackedSupport(const PackedSupport& other) : PackedSupport() { *this = other; }
    PackedSupport& operator=(const PackedSupport& other) {
        if (this == &other) return *this;
        Mp_ = other.Mp_;
        Dp_ = other.Dp_;
        UT_ = copy(other.UT_);
        UT_f_ = copy(other.UT_f_);
        sq_ = copy(other.sq_);
        sq_f_ = copy(other.sq_f_);
        PP_ = copy(other.PP_);
        view_ = other.view_;
        view_.UT = UT_.data();
        view_.sq_norm = sq_.data();
        view_.UT_f = UT_f_.data();
        view_.sq_norm_f = sq_f_.data();
        view_.PP = PP_.data();
        return *this;
    }
    PackedSupport(PackedSupport&&) = default;
    PackedSupport& operator=(PackedSupport&&) = default;

    const KernelRowsModelView& view() const { return view_; }
    Index padded_size() const { return Mp_; }
    Index padded_dim() const { return Dp_; }

private:
    // Where entry (j, col) of [u | u*u] lives (KernelRowsModelView::PP).
    Index packed_at(Index j, Index col, Index M) const {
        const Index chunk = col / kPackedChunk * kPackedChunk;
        return chunk * M + j * std::min<Index>(kPackedChunk, 2 * Dp_ - chunk) + (col - chunk);
    }

    template <class S>
    static AlignedArray<S> copy(const AlignedArray<S>& a) {
        AlignedArray<S> c(a.size());
        std::copy(a.data(), a.data() + a.size(), c.data());
        return c;
    }

    Index Mp_ = 0, Dp_ = 0;
    AlignedArray<double> UT_, sq_, PP_;
    AlignedArray<float> UT_f_, sq_f_;
    KernelRowsModelView view_;
};

}  // namespace neon
