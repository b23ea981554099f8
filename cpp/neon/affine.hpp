// NEON through an affine feature map (NEON_SPEC.md, section 6): a clustering
// model fitted on z = A x + b (a scikit-learn pipeline of scalers and PCA
// ending in k-means), explained in terms of the input features x.  The map
// is z = A (x - x_center) + b (see AffineFeatureMap).
//
// The first layer of the neuralized model stays linear in x, so the midpoint
// rule applies in input space with the root point x~ = x - B (z - m) for each
// pair's z-space midpoint m, B a right inverse of A (A B = I).  With
// a_ij the z-space midpoint-rule coefficients (what the model's core computes
// anyway), and coordinates relative to a reference prototype u_r of the
// target cluster (k-means: the target centroid; kernel k-means: the target's
// member nearest to z), P_t = B (u_t - u_r), Q_t = A^T (u_t - u_r) and
// y = B (z - u_r), the relevance of one row is
//   R = -2 y * (sum_t c_t Q_t) + sum_t c_t P_t * Q_t + cross,
//   cross = sum_ij a_ij (P_i * Q_j - P_j * Q_i)      (i in the target cluster),
// where c_t is the coefficient row (rho_j for competitors' members, -sigma_i
// for the target's).  For a target with one prototype (every k-means
// cluster) P_i = Q_i = 0 and cross = 0; when row d of B is parallel to column
// d of A for every d (scalers, orthonormal PCA, a scaler followed by an
// unwhitened PCA) cross vanishes too; otherwise (kernel k-means with
// whitening) it is diag(B (T - T^T) A) with the D_z x D_z accumulator
// T = sum_ij a_ij u_i u_j^T, formed per row from the pair weights.
// Relative to u_r nothing large cancels (a form centred on the prototypes'
// mean lost up to 1e-11 of sum |R| to cancellation on breast-cancer data;
// this one conserves to ~1e-15).  Work per row beyond the z-space model:
// O(M D_in + D_z D_in), plus O(|C_c| M D_z + D_in D_z^2) on the pair-level
// path.
//
// Rows are processed in fixed sub-chunks (their z, coefficients and outputs
// in float64 scratch), each in three passes: z in parallel blocks, the
// model's core on z (its own parallel blocks), relevance in parallel blocks.
// Block boundaries depend only on the problem size, so results are bitwise
// identical for any thread count.  float32 input is computed in float64.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel_kmeans.hpp"
#include "kmeans.hpp"
#include "outputs.hpp"
#include "parallel.hpp"
#include "pooling.hpp"
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

// The input-space explanation of a model core (KMeansCore or
// KernelKMeansCore) on z = A x + b.  `prototypes` (M x D_z, the core's
// prototypes in the caller's order) and `labels` (their clusters; k-means:
// 0..K-1) must be the ones the core was built from; the core must outlive
// this object.
template <class Core>
class AffineCore {
public:
    AffineCore(const Core& core, AffineFeatureMap map, const double* prototypes, const std::int64_t* labels, Index M)
        : core_(&core), map_(std::move(map)), labels_(labels, labels + M) {
        const Index Dz = map_.dim_out(), K = core.n_clusters();
        if (core.n_features() != Dz)
            throw std::invalid_argument("the model has " + std::to_string(core.n_features()) +
                                        " features but the feature map produces " + std::to_string(Dz));
        const RowMatrix U = Eigen::Map<const RowMatrix>(prototypes, M, Dz);
        center_ = U.colwise().mean().transpose();
        Uc_ = U.rowwise() - center_.transpose();
        members_.assign(K, {});
        for (Index t = 0; t < M; ++t) {
            if (labels_[t] < 0 || labels_[t] >= K) throw std::invalid_argument("prototype label out of range");
            members_[labels_[t]].push_back(t);
        }
        P_ = Uc_ * map_.B().transpose();
        Q_ = Uc_ * map_.A();
        bool pooled = false;
        for (const auto& m : members_) pooled = pooled || m.size() > 1;
        pair_level_ = pooled && !map_.rows_parallel_to_columns();
        block_ = block_rows_of(core);
        // Sub-chunks of about 2^17 float64 scratch values (1 MiB), whole
        // blocks: memory-mapped data stream through in small pieces.
        const Index per_row = Dz + K + (pair_level_ ? 3 : 1) * M + 4;
        sub_ = block_ * std::max<Index>(1, (Index{1} << 17) / (per_row * block_));
    }

    Index n_features() const { return map_.dim_in(); }
    Index n_clusters() const { return core_->n_clusters(); }
    double epsilon() const { return core_->epsilon(); }
    // Rows per sub-chunk: a multiple of the core's block rows; chunks of
    // calls that are multiples of it keep every block boundary fixed.
    Index sub_rows() const { return sub_; }
    // Whether kernel k-means needs the per-row pair accumulator (slow path).
    bool pair_level() const { return pair_level_; }

    template <class T>
    void evaluate(const RowsView<T>& X, const TargetSpec& target, double beta, const KMeansOutputs<T>& out,
                  int n_threads, Index first_row = 0) const;

private:
    static Index block_rows_of(const KMeansCore& core) { return KMeansCore::block_rows(core.n_features()); }
    static Index block_rows_of(const KernelKMeansCore& core) {
        return KernelKMeansCore::block_rows(core.n_features(), core.n_support());
    }

    struct Block {  // per-thread scratch of the relevance pass
        RowMatrix Xb, Y, T, S;
        Vector y, gq, gpq, dp, dq, cross;
        std::vector<Index> I, J;
        RowMatrix a;
    };

    // The member of cluster c nearest to z (the reference point: small
    // differences, little cancellation).
    Index nearest_member(Index c, const double* z) const {
        Index best = members_[c][0];
        if (members_[c].size() == 1) return best;
        double best_d = std::numeric_limits<double>::infinity();
        for (Index t : members_[c]) {
            double d = 0.0;
            for (Index i = 0; i < map_.dim_out(); ++i) {
                const double v = (z[i] - center_[i]) - Uc_(t, i);
                d += v * v;
            }
            if (d < best_d) {
                best_d = d;
                best = t;
            }
        }
        return best;
    }

    void pair_cross(const double* w, const double* e, Index c, Index ref, Block& s) const;
    void row_relevance(const double* z, const double* coef, Index ref, Block& s) const;

    const Core* core_;
    AffineFeatureMap map_;
    std::vector<std::int64_t> labels_;
    std::vector<std::vector<Index>> members_;
    Vector center_;
    RowMatrix Uc_, P_, Q_;  // prototypes centred on their mean; B and A^T of them
    bool pair_level_ = false;
    Index block_ = 1, sub_ = 1;
};

// cross = diag(B (T - T^T) A), T = sum_ij a_ij u_i u_j^T over the target's
// members i and the competitors' members j, a_ij = q_i R_j / h_ij with the
// core's weights and absorbing rule.  Pairs of identical prototypes add a
// symmetric u u^T to T and nothing to the cross term.  Result in s.cross.
template <class Core>
void AffineCore<Core>::pair_cross(const double* w, const double* e, Index c, Index ref, Block& s) const {
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
    for (Index j = 0; j < nJ; ++j) s.Y.noalias() += s.a.col(j) * (Uc_.row(s.J[j]) - Uc_.row(ref));
    s.T.setZero(Dz, Dz);
    for (Index i = 0; i < nI; ++i) s.T.noalias() += (Uc_.row(s.I[i]) - Uc_.row(ref)).transpose() * s.Y.row(i);
    s.S = s.T - s.T.transpose();
    s.cross = ((map_.B() * s.S).array() * map_.A().transpose().array()).rowwise().sum().matrix();
}

// R = -2 y * G_Q + G_PQ relative to prototype `ref` (see the top of the
// file) into s.gpq, from the row's z and coefficient row; zero
// coefficients (underflowed shares, absorbed pairs) are skipped.
template <class Core>
void AffineCore<Core>::row_relevance(const double* z, const double* coef, Index ref, Block& s) const {
    const Index M = static_cast<Index>(labels_.size()), Dz = map_.dim_out(), Din = map_.dim_in();
    s.dp.resize(Dz);  // z - u_ref
    for (Index i = 0; i < Dz; ++i) s.dp[i] = (z[i] - center_[i]) - Uc_(ref, i);
    s.y.noalias() = map_.B() * s.dp;
    s.gq.setZero(Din);
    s.gpq.setZero(Din);
    s.dq.resize(Din);
    for (Index t = 0; t < M; ++t) {
        const double ct = coef[t];
        if (ct == 0.0 || t == ref) continue;
        s.dq = Q_.row(t) - Q_.row(ref);
        s.gq += ct * s.dq;
        s.gpq.array() += ct * (P_.row(t) - P_.row(ref)).transpose().array() * s.dq.array();
    }
    s.gpq.array() -= 2.0 * s.y.array() * s.gq.array();
}

template <class Core>
template <class T>
void AffineCore<Core>::evaluate(const RowsView<T>& X, const TargetSpec& target, double beta,
                                const KMeansOutputs<T>& out, int n_threads, Index first_row) const {
    const Index N = X.n_rows, Din = map_.dim_in(), Dz = map_.dim_out(), K = n_clusters();
    const Index M = static_cast<Index>(labels_.size());
    if (X.n_cols != Din) throw std::invalid_argument("X has the wrong number of features");
    const bool want_relevance = out.relevance.data != nullptr;
    const bool pairs = want_relevance && pair_level_;
    const Index S = std::min(sub_, std::max<Index>(N, 1));
    RowMatrix Z(S, Dz), C, W, E, logits_all;
    std::vector<std::int64_t> assigned(S);
    std::vector<double> logit(out.logit ? S : 0);
    if (out.logits_all) logits_all.resize(S, K);
    if (want_relevance) C.resize(S, M);
    if (pairs) {
        W.resize(S, M);
        E.resize(S, M);
    }
    const int threads = resolve_thread_count(n_threads, block_count(S, block_));
    std::vector<Block> scratch(threads);
    FirstBadRow bad_input(N), unrepresentable(N);

    for (Index s0 = 0; s0 < N; s0 += S) {
        const Index rows = std::min(S, N - s0), n_blocks = block_count(rows, block_);
        // 1. z = A x + b, block by block.
        for_each_block(n_blocks, threads, [&](Index b, int tid) {
            Block& s = scratch[tid];
            const Index r0 = b * block_, n = std::min(block_, rows - r0);
            s.Xb.resize(n, Din);
            for (Index r = 0; r < n; ++r) {
                const T* x = X.row(s0 + r0 + r);
                for (Index i = 0; i < Din; ++i) s.Xb(r, i) = static_cast<double>(x[i * X.col_stride]) - map_.x_center()[i];
                if (!row_is_finite(x, Din, X.col_stride)) bad_input.report(s0 + r0 + r);
            }
            Z.middleRows(r0, n).noalias() = s.Xb * map_.A().transpose();
            Z.middleRows(r0, n).rowwise() += map_.b().transpose();
        });
        throw_if_bad_input(bad_input, first_row);

        // 2. The model on z: assignment, logits, midpoint-rule coefficients.
        KernelKMeansOutputs<double> zout;
        zout.assigned = assigned.data();
        zout.logit = out.logit ? logit.data() : nullptr;
        zout.logits_all = out.logits_all ? logits_all.data() : nullptr;
        if (want_relevance) {
            C.topRows(rows).setZero();
            zout.coefficients = C.data();
        }
        if (pairs) {
            zout.pair_weights = W.data();
            zout.pair_offsets = E.data();
        }
        RowsView<double> zv;
        zv.data = Z.data();
        zv.n_rows = rows;
        zv.n_cols = Dz;
        zv.row_stride = Dz;
        TargetSpec t = target;
        if (t.per_row) t.per_row += s0;
        core_->evaluate(zv, t, beta, zout, n_threads, first_row + s0);

        for (Index r = 0; r < rows; ++r) {
            const Index row = s0 + r;
            if (out.assigned) out.assigned[row] = assigned[r];
            if (out.logit) out.logit[row] = representable<T>(logit[r], row, unrepresentable);
            if (out.logits_all)
                for (Index k = 0; k < K; ++k)
                    out.logits_all[row * K + k] = representable<T>(logits_all(r, k), row, unrepresentable);
        }
        if (!want_relevance) continue;

        // 3. Relevance on the input features.
        for_each_block(n_blocks, threads, [&](Index b, int tid) {
            Block& s = scratch[tid];
            const Index r0 = b * block_, n = std::min(block_, rows - r0);
            for (Index r = 0; r < n; ++r) {
                const Index row = s0 + r0 + r;
                const Index c = target_of(target, row, assigned[r0 + r], K);
                T* dst = out.relevance.row(row);
                if (c < 0) {  // reported by the core, which has thrown already
                    std::fill(dst, dst + Din, T(0));
                    continue;
                }
                const double* z = Z.row(r0 + r).data();
                const Index ref = nearest_member(c, z);
                row_relevance(z, C.row(r0 + r).data(), ref, s);
                if (pairs && members_[c].size() > 1) {
                    pair_cross(W.row(r0 + r).data(), E.row(r0 + r).data(), c, ref, s);
                    s.gpq += s.cross;
                }
                for (Index i = 0; i < Din; ++i) dst[i] = representable<T>(s.gpq[i], row, unrepresentable);
            }
        });
    }
    throw_if_unrepresentable<T>(unrepresentable, first_row, core_->epsilon());
}

}  // namespace neon
