// NEON through an affine feature map (NEON_SPEC.md, section 6): a clustering
// model fitted on z = A x + b (a scikit-learn pipeline of scalers and PCA
// ending in k-means), explained in terms of the input features x.  The map
// is z = A (x - x_center) + b (see AffineFeatureMap).
//
// The first layer of the neuralized model stays linear in x, so the midpoint
// rule applies in input space with the root point x~ = x - B (z - m) for each
// pair's z-space midpoint m, B a right inverse of A (A B = I).  With
// a_ij the z-space midpoint-rule coefficients (what the model's core computes
// anyway), P_t = B u_t and Q_t = A^T u_t (u_t the prototypes centred on their
// mean) and p = B z (z centred likewise), the relevance of one row is
//   R = -2 p * G_Q + G_PQ + cross,   G = sum_t c_t [Q_t | P_t * Q_t | P_t],
//   cross = sum_ij a_ij (P_i * Q_j - P_j * Q_i)      (i in the target cluster),
// where c_t is the coefficient row (rho_j for competitors' members, -sigma_i
// for the target's), so G of a block of rows is one GEMM.  For a target with
// one prototype i (every k-means cluster) cross = P_i * G_Q - G_P * Q_i; when
// row d of B is parallel to column d of A for every d (scalers, orthonormal
// PCA, a scaler followed by an unwhitened PCA) it vanishes; otherwise (kernel
// k-means with whitening) it is diag(B (T - T^T) A) with the D_z x D_z
// accumulator T = sum_ij a_ij u_i u_j^T, formed per row from the pair weights.
// Work per row beyond the z-space model: O(M D_in + D_z D_in) in GEMMs, plus
// O(|C_c| M D_z + D_in D_z^2) on the pair-level path.
//
// One parallel loop over fixed blocks of rows (the core's own block size);
// each block, on one thread: z, the model's core on z (single-threaded, inside
// the block), relevance.  Block boundaries depend only on the problem size,
// so results are bitwise identical for any thread count; the first failing
// block (not the first to fail in time) names the error.  float32 input is
// computed in float64.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "outputs.hpp"
#include "parallel.hpp"
#include "pooling.hpp"
#include "prototype_core.hpp"
#include "rows.hpp"

namespace neon {

// z = A (x - x_center) + b (A: D_z x D_in) and a right inverse B
// (D_in x D_z) of A.  The centre is kept apart from b (rather than folded
// into b - A x_center) because it is exact where the map comes from a
// scaler or PCA (their mean): raw data with offsets of 1e3 then lose nothing
// to cancellation.  z enters h_ij = d(z, u_j) - d(z, u_i), which near ties
// turns an ulp of z into 1e-11 of relevance -- and the folded form cost 25
// ulps (1e-9 on a kernel k-means row behind a StandardScaler).
class AffineFeatureMap {
public:
    AffineFeatureMap(const double* A, const double* x_center, const double* b, const double* B, Index Dz, Index Din)
        : A_(Eigen::Map<const RowMatrix>(A, Dz, Din)), x_center_(Eigen::Map<const Vector>(x_center, Din)),
          b_(Eigen::Map<const Vector>(b, Dz)), B_(Eigen::Map<const RowMatrix>(B, Din, Dz)) {
        if (Dz < 1 || Din < 1) throw std::invalid_argument("the feature map must have at least one input and output");
        if (!A_.allFinite() || !x_center_.allFinite() || !b_.allFinite() || !B_.allFinite())
            throw std::invalid_argument("the feature map contains NaN or infinity");
        // Conservation rests on A B = I (sum_d (B v)_d (A^T w)_d = v . w).
        const RowMatrix AB = A_ * B_;
        const double err = (AB - RowMatrix::Identity(Dz, Dz)).cwiseAbs().maxCoeff();
        if (!(err <= 1e-8))
            throw std::invalid_argument("the feature map has no right inverse (A B differs from the identity by " +
                                        std::to_string(err) + "): it is not of full row rank");
    }
    Index dim_in() const { return A_.cols(); }
    Index dim_out() const { return A_.rows(); }
    const RowMatrix& A() const { return A_; }
    const Vector& x_center() const { return x_center_; }
    const Vector& b() const { return b_; }
    const RowMatrix& B() const { return B_; }

    // Whether row d of B is parallel to column d of A for every d: then
    // b_d^T S a_d = 0 for every antisymmetric S and the pair-level cross
    // term vanishes.  Residuals are relative; exact structure (diagonal
    // scalers, orthonormal components) leaves ~1e-16.
    bool rows_parallel_to_columns() const {
        for (Index d = 0; d < dim_in(); ++d) {
            const Vector a = A_.col(d), bd = B_.row(d).transpose();
            const double aa = a.squaredNorm(), bn = bd.norm();
            if (aa == 0.0 || bn == 0.0) continue;
            if ((bd - (bd.dot(a) / aa) * a).norm() > 1e-10 * bn) return false;
        }
        return true;
    }

private:
    RowMatrix A_;
    Vector x_center_, b_;
    RowMatrix B_;
};

// The input-space explanation of a model core on z = A (x - x_center) + b.
// The core must outlive this object.
class AffineCore {
public:
    AffineCore(const PrototypeCore& core, AffineFeatureMap map) : core_(&core), map_(std::move(map)) {
        const PrototypeModel& model = core.model();
        const Index Dz = map_.dim_out(), Din = map_.dim_in(), K = core.n_clusters(), M = core.n_prototypes();
        if (core.n_features() != Dz)
            throw std::invalid_argument("the model has " + std::to_string(core.n_features()) +
                                        " features but the feature map produces " + std::to_string(Dz));
        // The prototypes and their clusters in the caller's order (that of
        // the core's coefficient rows).
        RowMatrix U(M, Dz);
        labels_.resize(M);
        for (Index t = 0; t < M; ++t) {
            const Index p = model.positions()[t];
            U.row(t) = model.prototypes().raw().row(p);
            labels_[t] = model.cluster_of(p);
        }
        center_ = U.colwise().mean().transpose();
        Uc_ = U.rowwise() - center_.transpose();
        members_.assign(K, {});
        for (Index t = 0; t < M; ++t) members_[labels_[t]].push_back(t);
        // [Q | P * Q | P]: one product with a block's coefficient rows gives
        // the three sums of the factorized rule.
        const RowMatrix P = Uc_ * map_.B().transpose(), Q = Uc_ * map_.A();
        QPQP_.resize(M, 3 * Din);
        QPQP_.leftCols(Din) = Q;
        QPQP_.middleCols(Din, Din) = P.cwiseProduct(Q);
        QPQP_.rightCols(Din) = P;
        bool pooled = false;
        for (const auto& m : members_) pooled = pooled || m.size() > 1;
        pair_level_ = pooled && !map_.rows_parallel_to_columns();
        block_ = core.block_rows(Dz);
    }

    Index n_features() const { return map_.dim_in(); }
    Index n_clusters() const { return core_->n_clusters(); }
    double epsilon() const { return core_->epsilon(); }
    // Rows per block (the core's); calls whose chunks are multiples of it
    // keep every block boundary fixed.
    Index block_rows() const { return block_; }
    // Whether kernel k-means needs the per-row pair accumulator (slow path).
    bool pair_level() const { return pair_level_; }

    template <class T>
    void evaluate(const RowsView<T>& X, const TargetSpec& target, double beta, const ModelOutputs<T>& out,
                  int n_threads, Index first_row = 0) const;

private:
    struct Block {  // per-thread scratch
        RowMatrix Xb, Z, Pb, C, G, W, E, logits_all, Y, T, S, a;
        std::vector<std::int64_t> assigned;
        std::vector<double> logit;
        Eigen::ArrayXd R;
        Vector cross;
        std::vector<Index> I, J;
    };

    template <class T>
    void run_block(const RowsView<T>& X, const TargetSpec& target, double beta, const ModelOutputs<T>& out, Index r0,
                   Index n, Index first_row, Block& s, FirstBadRow& bad_input, FirstBadRow& unrepresentable) const;
    void pair_cross(const double* w, const double* e, Index c, Block& s) const;

    const PrototypeCore* core_;
    AffineFeatureMap map_;
    std::vector<std::int64_t> labels_;
    std::vector<std::vector<Index>> members_;
    Vector center_;
    RowMatrix Uc_, QPQP_;  // prototypes centred on their mean; [A^T u | B u * A^T u | B u] of them
    bool pair_level_ = false;
    Index block_ = 1;
};

// cross = diag(B (T - T^T) A), T = sum_ij a_ij u_i u_j^T over the target's
// members i and the competitors' members j, a_ij = q_i R_j / h_ij with the
// core's weights and absorbing rule.  Pairs of identical prototypes add a
// symmetric u u^T to T and nothing to the cross term.  Result in s.cross.
inline void AffineCore::pair_cross(const double* w, const double* e, Index c, Block& s) const {
    const Index M = static_cast<Index>(labels_.size()), Dz = map_.dim_out();
    s.I.clear();
    s.J.clear();
    for (Index t = 0; t < M; ++t) {
        if (w[t] == 0.0) continue;
        (labels_[t] == c ? s.I : s.J).push_back(t);
    }
    s.cross.setZero(map_.dim_in());
    if (s.I.empty() || s.J.empty()) return;
    const Index nI = static_cast<Index>(s.I.size()), nJ = static_cast<Index>(s.J.size());
    const double eps = core_->epsilon();
    s.a.resize(nI, nJ);
    for (Index i = 0; i < nI; ++i)
        for (Index j = 0; j < nJ; ++j)
            s.a(i, j) = w[s.I[i]] * w[s.J[j]] * stabilized_inverse(e[s.J[j]] - e[s.I[i]], eps);
    s.Y.setZero(nI, Dz);  // Y_i = sum_j a_ij u_j
    for (Index j = 0; j < nJ; ++j) s.Y.noalias() += s.a.col(j) * Uc_.row(s.J[j]);
    s.T.setZero(Dz, Dz);
    for (Index i = 0; i < nI; ++i) s.T.noalias() += Uc_.row(s.I[i]).transpose() * s.Y.row(i);
    s.S = s.T - s.T.transpose();
    s.cross = ((map_.B() * s.S).array() * map_.A().transpose().array()).rowwise().sum().matrix();
}

// Rows [r0, r0 + n): z, the core on z (one thread: this block is one unit of
// the caller's parallel loop), outputs, relevance.
template <class T>
void AffineCore::run_block(const RowsView<T>& X, const TargetSpec& target, double beta, const ModelOutputs<T>& out,
                           Index r0, Index n, Index first_row, Block& s, FirstBadRow& bad_input,
                           FirstBadRow& unrepresentable) const {
    const Index Din = map_.dim_in(), Dz = map_.dim_out(), K = n_clusters();
    const Index M = static_cast<Index>(labels_.size());
    const bool want_relevance = out.relevance.data != nullptr, pairs = want_relevance && pair_level_;
    s.Xb.resize(n, Din);
    for (Index r = 0; r < n; ++r) {
        const T* x = X.row(r0 + r);
        for (Index i = 0; i < Din; ++i) s.Xb(r, i) = static_cast<double>(x[i * X.col_stride]) - map_.x_center()[i];
        if (!row_is_finite(x, Din, X.col_stride)) bad_input.report(r0 + r);
    }
    if (bad_input.any()) return;  // the caller throws
    s.Z.noalias() = s.Xb * map_.A().transpose();
    s.Z.rowwise() += map_.b().transpose();

    ModelOutputs<double> zout;
    s.assigned.resize(n);
    zout.assigned = s.assigned.data();
    if (out.logit) {
        s.logit.resize(n);
        zout.logit = s.logit.data();
    }
    if (out.logits_all) {
        s.logits_all.resize(n, K);
        zout.logits_all = s.logits_all.data();
    }
    if (want_relevance) {
        s.C.setZero(n, M);
        zout.coefficients = s.C.data();
    }
    if (pairs) {
        s.W.setZero(n, M);
        s.E.setZero(n, M);
        zout.pair_weights = s.W.data();
        zout.pair_offsets = s.E.data();
    }
    RowsView<double> zv;
    zv.data = s.Z.data();
    zv.n_rows = n;
    zv.n_cols = Dz;
    zv.row_stride = Dz;
    TargetSpec t = target;
    if (t.per_row) t.per_row += r0;
    core_->evaluate(zv, t, beta, zout, 1, first_row + r0);

    for (Index r = 0; r < n; ++r) {
        const Index row = r0 + r;
        if (out.assigned) out.assigned[row] = s.assigned[r];
        if (out.logit) out.logit[row] = representable<T>(s.logit[r], row, unrepresentable);
        if (out.logits_all)
            for (Index k = 0; k < K; ++k)
                out.logits_all[row * K + k] = representable<T>(s.logits_all(r, k), row, unrepresentable);
    }
    if (!want_relevance) return;

    s.Z.rowwise() -= center_.transpose();  // centred, as the prototypes
    s.Pb.noalias() = s.Z * map_.B().transpose();
    s.G.noalias() = s.C * QPQP_;
    for (Index r = 0; r < n; ++r) {
        const Index row = r0 + r;
        const Index c = target_of(target, row, s.assigned[r], K);
        T* dst = out.relevance.row(row);
        if (c < 0) {  // reported by the core, which has thrown already
            std::fill(dst, dst + Din, T(0));
            continue;
        }
        const auto p = s.Pb.row(r).array();
        const auto GQ = s.G.row(r).segment(0, Din).array();
        s.R = s.G.row(r).segment(Din, Din).array() - 2.0 * p * GQ;
        if (members_[c].size() == 1) {
            const Index i = members_[c][0];
            s.R += QPQP_.row(i).segment(2 * Din, Din).array() * GQ -
                   s.G.row(r).segment(2 * Din, Din).array() * QPQP_.row(i).segment(0, Din).array();
        } else if (pairs) {
            pair_cross(s.W.row(r).data(), s.E.row(r).data(), c, s);
            s.R += s.cross.array();
        }
        for (Index i = 0; i < Din; ++i) dst[i] = representable<T>(s.R[i], row, unrepresentable);
    }
}

template <class T>
void AffineCore::evaluate(const RowsView<T>& X, const TargetSpec& target, double beta, const ModelOutputs<T>& out,
                          int n_threads, Index first_row) const {
    const Index N = X.n_rows;
    if (X.n_cols != map_.dim_in()) throw std::invalid_argument("X has the wrong number of features");
    const Index n_blocks = block_count(N, block_);
    const int threads = resolve_thread_count(n_threads, n_blocks);
    std::vector<Block> scratch(threads);
    FirstBadRow bad_input(N), unrepresentable(N);
    // The core's errors (a bad target, a row too far) are kept per block and
    // the lowest block's is thrown, whatever order the threads finished in;
    // an interruption stops everything at once.
    std::vector<std::exception_ptr> errors(n_blocks);
    for_each_block(n_blocks, threads, [&](Index b, int tid) {
        const Index r0 = b * block_;
        try {
            run_block(X, target, beta, out, r0, std::min(block_, N - r0), first_row, scratch[tid], bad_input,
                      unrepresentable);
        } catch (const Interrupted&) {
            throw;
        } catch (...) {
            errors[b] = std::current_exception();
        }
    });
    throw_if_bad_input(bad_input, first_row);
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
    throw_if_unrepresentable<T>(unrepresentable, first_row, epsilon());
}

}  // namespace neon
