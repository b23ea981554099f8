// Fitting k-means: weighted moments, greedy k-means++ and random seeding,
// and Lloyd iterations, on the blocked distance machinery of the explanation
// path (CenteredPrototypes, load_centered_block -> distance_offsets ->
// settle_near_ties) and, where the CPU has AVX2 + FMA, the micro-kernels of
// fit_kernels_avx2.hpp.
//
// Determinism: rows are cut into the foundation's fixed blocks
// (KMeansCore::block_rows), and blocks into fixed groups (BlockGroups).
// Every group is computed by one thread, sequentially over its rows, into
// its own partial sums; partials are combined in group order on the calling
// thread.  Group and block boundaries depend on the problem size only, so
// results are bitwise identical for any thread count.  Random draws come
// from an explicitly seeded std::mt19937_64 turned into doubles by hand
// (the standard distributions are implementation-defined), so a seed gives
// the same centres with any standard library.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "fit_kernels_avx2.hpp"
#include "kmeans.hpp"
#include "parallel.hpp"
#include "prototypes.hpp"
#include "rows.hpp"

namespace neon {

// Consecutive row blocks gathered into groups, the unit of work and of
// partial reductions.  At most kMaxGroups groups (plenty to balance any
// thread count), and few enough that the partials of all groups stay within
// about 64 MiB when each group keeps `partial_doubles` numbers.
struct BlockGroups {
    static constexpr Index kMaxGroups = 256;
    static constexpr Index kPartialBudget = Index(8) << 20;  // doubles

    Index n_rows = 0, block_rows = 1, n_blocks = 0, blocks_per_group = 1, n_groups = 0;

    BlockGroups(Index N, Index B, Index partial_doubles) : n_rows(N), block_rows(B) {
        n_blocks = block_count(N, B);
        const Index by_memory = std::max<Index>(1, kPartialBudget / std::max<Index>(partial_doubles, 1));
        const Index target = std::max<Index>(1, std::min({n_blocks, kMaxGroups, by_memory}));
        blocks_per_group = std::max<Index>(1, (n_blocks + target - 1) / target);
        n_groups = block_count(n_blocks, blocks_per_group);
    }
    Index first_block(Index g) const { return g * blocks_per_group; }
    Index end_block(Index g) const { return std::min(n_blocks, (g + 1) * blocks_per_group); }
    Index first_row(Index b) const { return b * block_rows; }
    Index rows_in(Index b) const { return std::min(block_rows, n_rows - b * block_rows); }
};

// Threads worth starting for a pass of `work` multiply-adds over `units`
// blocks or groups.  Waking a team costs tens of microseconds, far more on a
// loaded machine, so small passes run serially.  (Results do not depend on
// the thread count, so this is only about speed.)
inline int fit_thread_count(int n_threads, Index units, double work) {
    constexpr double kMinWorkPerThread = 1 << 20;
    const auto by_work = static_cast<Index>(std::min(work / kMinWorkPerThread, 1e9));
    return resolve_thread_count(n_threads, std::max<Index>(1, std::min(units, by_work)));
}

// A double in [0, 1) from the top 53 bits of one draw.
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

namespace detail {

[[noreturn]] inline void throw_bad_input(Index row) {
    throw std::invalid_argument("X contains NaN or infinity (first at row " + std::to_string(row) + ")");
}

// Sampling from a distribution over rows given by per-block sums of
// non-negative row values: the first row whose running sum exceeds u (the
// value a cumulative sum over all rows would give, searchsorted to the
// right), where `row_values(b, v)` fills the values of block b exactly as
// they were summed.  Rounding can leave u beyond the last running sum; the
// last row with a positive value then takes it.
template <class RowValues>
Index sample_row(const std::vector<double>& block_sums, Index stride, Index col, double u, Index block_rows,
                 RowValues&& row_values, std::vector<double>& v) {
    const Index n_blocks = static_cast<Index>(block_sums.size()) / stride;
    double before = 0.0;
    Index b = -1, last_positive = -1;
    for (Index i = 0; i < n_blocks; ++i) {
        const double s = block_sums[i * stride + col];
        if (s > 0.0) last_positive = i;
        if (before + s > u && s > 0.0) {
            b = i;
            break;
        }
        before += s;
    }
    if (b < 0) {
        if (last_positive < 0) return -1;
        b = last_positive;
        before = u;  // take the block's last positive row
    }
    const Index rows = row_values(b, v);
    double acc = before;
    Index last = -1;
    for (Index r = 0; r < rows; ++r) {
        if (!(v[r] > 0.0)) continue;
        last = r;
        acc += v[r];
        if (acc > u) return b * block_rows + r;
    }
    return last < 0 ? -1 : b * block_rows + last;
}

// Distance products of the fast passes (portable path), transposed: Et
// (P x rows, row-major) = (-2 P) Z^T, so that for each prototype the
// values of a block's rows are contiguous and loops over rows vectorize.
// Adding ||p||^2 gives the offsets of distance_offsets.  P2 = -2 x the
// centred prototypes in the compute precision (minus_two_centered).
template <class S>
void scaled_products_transposed(const RowMatrixOf<S>& P2, const RowMatrixOf<S>& Z, Index rows, RowMatrixOf<S>& Et) {
    Et.leftCols(rows).noalias() = P2 * Z.topRows(rows).transpose();
}

// One step of a running argmin across rows: where e[r] + add < best[r]
// (strictly: ties keep the lower index), best takes it and index = k.
// Written with a mask instead of branches so that it vectorizes.
template <class S>
void running_argmin(const S* __restrict e, S add, std::int32_t k, S* __restrict best,
                    std::int32_t* __restrict index, Index rows) {
    for (Index r = 0; r < rows; ++r) {
        const S v = e[r] + add;
        const S b = best[r];
        const std::int32_t lower = -static_cast<std::int32_t>(v < b);
        best[r] = v < b ? v : b;
        index[r] = (k & lower) | (index[r] & ~lower);
    }
}

template <class S>
RowMatrixOf<S> minus_two_centered(const CenteredPrototypes& protos) {
    if constexpr (std::is_same_v<S, float>) return -2.0f * protos.centered_float();
    else return -2.0 * protos.centered();
}

template <class S>
const Eigen::Matrix<S, Eigen::Dynamic, 1>& sq_norm_of(const CenteredPrototypes& protos) {
    if constexpr (std::is_same_v<S, float>) return protos.sq_norm_float();
    else return protos.sq_norm();
}

// Rows of X minus the centring origin, in the compute precision S (T == S
// in the fast passes).  No finiteness check: a fit checks X once, in its
// first pass (weighted_moments); the explaining and final passes check again.
template <class T, class S>
NEON_ALWAYS_INLINE void load_block_unchecked(const RowsView<T>& X, Index r0, Index rows, const S* origin,
                                             RowMatrixOf<S>& Z) {
    const Index D = X.n_cols;
    for (Index r = 0; r < rows; ++r) {
        const T* x = X.row(r0 + r);
        S* z = Z.row(r).data();
        if (X.col_stride == 1) {
            for (Index i = 0; i < D; ++i) z[i] = static_cast<S>(x[i]) - origin[i];
        } else {
            for (Index i = 0; i < D; ++i) z[i] = static_cast<S>(x[i * X.col_stride]) - origin[i];
        }
    }
}

}  // namespace detail

// Weighted mean and (biased) variance of every feature, in one pass:
// sums of w z and w z^2 for z = x - x_0 (the first row), which keeps the
// cancellation small because x_0 lies within the data.  Also the first check
// that X is finite.
template <class T>
void weighted_moments(const RowsView<T>& X, const double* w, int n_threads, double* mean, double* var) {
    const Index N = X.n_rows, D = X.n_cols;
    if (N < 1 || D < 1) throw std::invalid_argument("X must have at least one row and one column");
    Vector origin(D);
    for (Index i = 0; i < D; ++i) origin[i] = static_cast<double>(X.row(0)[i * X.col_stride]);
    const Index B = KMeansCore::block_rows(D);
    const BlockGroups groups(N, B, 2 * D + 1);
    const int threads = fit_thread_count(n_threads, groups.n_groups, double(N) * double(D));
    std::vector<double> partial(static_cast<std::size_t>(groups.n_groups * (2 * D + 1)), 0.0);
    std::vector<RowMatrix> scratch(threads, RowMatrix(B, D));
    FirstBadRow bad(N);
    for_each_block(groups.n_groups, threads, [&](Index g, int tid) {
        RowMatrix& Z = scratch[tid];
        double* s1 = partial.data() + g * (2 * D + 1);
        double* s2 = s1 + D;
        double& sw = s2[D];
        for (Index b = groups.first_block(g); b < groups.end_block(g); ++b) {
            const Index r0 = groups.first_row(b), rows = groups.rows_in(b);
            if (!load_centered_block(X, r0, rows, origin, Z, bad)) return;
            for (Index r = 0; r < rows; ++r) {
                const double wr = w[r0 + r];
                if (wr == 0.0) continue;
                const double* z = Z.row(r).data();
                for (Index i = 0; i < D; ++i) {
                    s1[i] += wr * z[i];
                    s2[i] += wr * z[i] * z[i];
                }
                sw += wr;
            }
        }
    });
    if (bad.any()) detail::throw_bad_input(bad.row());
    std::vector<double> s(static_cast<std::size_t>(2 * D + 1), 0.0);
    for (Index g = 0; g < groups.n_groups; ++g)
        for (Index i = 0; i < 2 * D + 1; ++i) s[i] += partial[g * (2 * D + 1) + i];
    const double W = s[2 * D];
    if (!(W > 0.0)) throw std::invalid_argument("the sample weights sum to zero");
    for (Index i = 0; i < D; ++i) {
        const double m = s[i] / W;
        mean[i] = origin[i] + m;
        var[i] = std::max(0.0, s[D + i] / W - m * m);
    }
}

// Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with the local
// trials of scikit-learn's implementation): the first centre is a row drawn
// with probability proportional to its weight; every further centre is the
// best of `n_local_trials` rows drawn with probability proportional to
// w * (squared distance to the nearest centre so far), "best" meaning the
// one that leaves the smallest weighted potential.
//
// One call of step() adds one centre with one pass over X, so a caller can
// stop between centres.  The distance to the chosen candidate is folded
// into the running nearest distances at the start of the next pass, not in
// a pass of its own: K passes in all.  Distances are computed in X's
// precision (they only steer random draws); sums are float64, per block,
// combined in block order.  X must be finite (a fit checks it first, in
// weighted_moments): these passes do not check it again.
class KMeansPlusPlus {
public:
    KMeansPlusPlus(Index n_rows, Index n_features, Index n_clusters, Index n_local_trials, std::uint64_t seed)
        : N_(n_rows), D_(n_features), K_(n_clusters), L_(n_local_trials), rng_(seed) {
        if (N_ < 1 || D_ < 1) throw std::invalid_argument("X must have at least one row and one column");
        if (K_ < 1 || K_ > N_) throw std::invalid_argument("n_clusters must be in [1, n_samples]");
        if (L_ < 1) throw std::invalid_argument("n_local_trials must be >= 1");
        B_ = KMeansCore::block_rows(D_);
        n_blocks_ = block_count(N_, B_);
        centers_.resize(K_, D_);
        indices_.reserve(K_);
        closest_.assign(static_cast<std::size_t>(N_), 0.0);
    }

    Index n_chosen() const { return static_cast<Index>(indices_.size()); }
    bool done() const { return n_chosen() == K_; }
    const RowMatrix& centers() const { return centers_; }
    const std::vector<Index>& indices() const { return indices_; }

    template <class T>
    void step(const RowsView<T>& X, const double* w, int n_threads);

private:
    template <class S>
    struct Scratch {
        RowMatrixOf<S> Z, Et;       // centred rows; (-2 P) Z^T, one row per prototype
        std::vector<double> zsq;    // ||z||^2 per row
        RowMatrix V;                // the block's values, one row per candidate
    };

    Index N_, D_, K_, L_, B_ = 1, n_blocks_ = 0;
    std::mt19937_64 rng_;
    RowMatrix centers_;
    std::vector<Index> indices_;
    std::vector<double> closest_;      // squared distance to the nearest centre folded in so far
    std::vector<double> weight_sums_;  // per block sum of w (for draws proportional to w)
    // The last pass: its prototypes [pending centre?, candidates...], its
    // per-block sums of each candidate's values, and which column is the
    // current sampling distribution.
    CenteredPrototypes last_;
    Eigen::VectorXf last_origin_f_;
    Eigen::VectorXd last_origin_d_;
    bool last_avx2_ = false;
    RowMatrixOf<float> last_p2_f_;
    RowMatrix last_p2_d_;
    simd::PackedPrototypes<float> last_packed_f_;
    simd::PackedPrototypes<double> last_packed_d_;
    bool last_pending_ = false;
    Index last_candidates_ = 0;
    Index last_columns_ = 1;
    std::vector<double> last_sums_;
    Index current_column_ = 0;
    std::vector<Scratch<float>> scratch_f_;
    std::vector<Scratch<double>> scratch_d_;

    template <class S>
    const Eigen::Matrix<S, Eigen::Dynamic, 1>& last_origin() const {
        if constexpr (std::is_same_v<S, float>) return last_origin_f_;
        else return last_origin_d_;
    }

    template <class S>
    std::vector<Scratch<S>>& scratch() {
        if constexpr (std::is_same_v<S, float>) return scratch_f_;
        else return scratch_d_;
    }

    template <class T>
    void add_center(const RowsView<T>& X, Index row) {
        const Index c = n_chosen();
        for (Index i = 0; i < D_; ++i) centers_(c, i) = static_cast<double>(X.row(row)[i * X.col_stride]);
        indices_.push_back(row);
    }

    template <class T>
    Index block_values(const RowsView<T>& X, const double* w, Index b, Scratch<T>& s, bool fold);

    template <class T>
    void pass(const RowsView<T>& X, const double* w, const RowMatrix& prototypes, bool pending, int n_threads);

    Index draw_by_weight(const double* w, std::vector<double>& v);
    template <class T>
    Index draw_by_potential(const RowsView<T>& X, const double* w);
};

// Values of block b under the last pass's prototypes: row l of s.V
// receives w * min(closest, d(candidate l)) for the block's rows (or
// w * closest when the pass had no candidates).  With fold, the pending
// centre's distance is folded into closest_ first; without, it is
// recomputed and min'ed locally, which gives the same numbers because the
// min is idempotent.  Loops run across the block's rows (contiguous).
// Returns the row count.
template <class T>
Index KMeansPlusPlus::block_values(const RowsView<T>& X, const double* w, Index b, Scratch<T>& s, bool fold) {
    const Index r0 = b * B_, rows = std::min(B_, N_ - r0);
    detail::load_block_unchecked(X, r0, rows, last_origin<T>().data(), s.Z);
    if (last_avx2_) {
#if NEON_HAVE_AVX2_KERNELS
        if constexpr (std::is_same_v<T, float>)
            simd::products_transposed_avx2(s.Z.data(), D_, rows, last_packed_f_, s.Et.data(), s.Et.cols());
        else
            simd::products_transposed_avx2(s.Z.data(), D_, rows, last_packed_d_, s.Et.data(), s.Et.cols());
#endif
    } else if constexpr (std::is_same_v<T, float>) {
        detail::scaled_products_transposed(last_p2_f_, s.Z, rows, s.Et);
    } else {
        detail::scaled_products_transposed(last_p2_d_, s.Z, rows, s.Et);
    }
    const auto& sqn = detail::sq_norm_of<T>(last_);
    for (Index r = 0; r < rows; ++r) s.zsq[r] = static_cast<double>(s.Z.row(r).squaredNorm());
    const double* zsq = s.zsq.data();
    const double* wb = w + r0;
    double* closest = closest_.data() + r0;
    const Index P = last_.size(), first_candidate = last_pending_ ? 1 : 0;
    double* c = s.V.row(s.V.rows() - 1).data();  // scratch row: closest with the pending centre
    for (Index r = 0; r < rows; ++r) c[r] = closest[r];
    if (last_pending_) {
        const T* e = s.Et.row(0).data();
        const double add = static_cast<double>(sqn[0]);
        for (Index r = 0; r < rows; ++r) c[r] = std::min(c[r], std::max(static_cast<double>(e[r]) + add + zsq[r], 0.0));
        if (fold) std::copy(c, c + rows, closest);
    }
    if (first_candidate == P) {
        double* v = s.V.row(0).data();
        for (Index r = 0; r < rows; ++r) v[r] = wb[r] * c[r];
        return rows;
    }
    for (Index j = first_candidate; j < P; ++j) {
        const T* e = s.Et.row(j).data();
        const double add = static_cast<double>(sqn[j]);
        double* v = s.V.row(j - first_candidate).data();
        for (Index r = 0; r < rows; ++r)
            v[r] = wb[r] * std::min(c[r], std::max(static_cast<double>(e[r]) + add + zsq[r], 0.0));
    }
    return rows;
}

template <class T>
void KMeansPlusPlus::pass(const RowsView<T>& X, const double* w, const RowMatrix& prototypes, bool pending,
                          int n_threads) {
    last_ = CenteredPrototypes(prototypes.data(), prototypes.rows(), D_, "centroids");
    last_avx2_ = simd::use_avx2();
    if constexpr (std::is_same_v<T, float>) last_origin_f_ = last_.center().cast<float>();
    else last_origin_d_ = last_.center();
    if constexpr (std::is_same_v<T, float>) {
        if (last_avx2_) last_packed_f_ = simd::PackedPrototypes<float>(last_);
        else last_p2_f_ = detail::minus_two_centered<float>(last_);
    } else {
        if (last_avx2_) last_packed_d_ = simd::PackedPrototypes<double>(last_);
        else last_p2_d_ = detail::minus_two_centered<double>(last_);
    }
    last_pending_ = pending;
    last_candidates_ = prototypes.rows() - (pending ? 1 : 0);
    last_columns_ = std::max<Index>(1, last_candidates_);
    last_sums_.assign(static_cast<std::size_t>(n_blocks_ * last_columns_), 0.0);
    const int threads = fit_thread_count(n_threads, n_blocks_, double(N_) * double(D_) * double(last_.size()));
    auto& scratch_all = scratch<T>();
    scratch_all.resize(std::max<std::size_t>(scratch_all.size(), static_cast<std::size_t>(threads)));
    for (auto& s : scratch_all) {
        s.Z.resize(B_, D_);
        s.Et.resize(last_.size(), B_);
        s.zsq.resize(static_cast<std::size_t>(B_));
        s.V.resize(last_columns_ + 1, B_);
    }
    // Blocks write disjoint rows of closest_ and their own entries of
    // last_sums_, each summed in row order: no thread-dependent rounding.
    for_each_block(n_blocks_, threads, [&](Index b, int tid) {
        auto& s = scratch_all[tid];
        const Index rows = block_values(X, w, b, s, true);
        for (Index j = 0; j < last_columns_; ++j) {
            const double* v = s.V.row(j).data();
            double sum = 0.0;
            for (Index r = 0; r < rows; ++r) sum += v[r];
            last_sums_[b * last_columns_ + j] = sum;
        }
    });
}

inline Index KMeansPlusPlus::draw_by_weight(const double* w, std::vector<double>& v) {
    if (weight_sums_.empty()) {
        weight_sums_.assign(static_cast<std::size_t>(n_blocks_), 0.0);
        for (Index b = 0; b < n_blocks_; ++b) {
            double s = 0.0;
            for (Index r = b * B_; r < std::min(N_, (b + 1) * B_); ++r) s += w[r];
            weight_sums_[b] = s;
        }
    }
    double total = 0.0;
    for (double s : weight_sums_) total += s;
    if (!(total > 0.0)) throw std::invalid_argument("the sample weights sum to zero");
    const double u = uniform01(rng_) * total;
    const Index row = detail::sample_row(weight_sums_, 1, 0, u, B_,
                                         [&](Index b, std::vector<double>& out) {
                                             const Index r0 = b * B_, rows = std::min(B_, N_ - r0);
                                             out.assign(w + r0, w + r0 + rows);
                                             return rows;
                                         }, v);
    if (row < 0) throw std::invalid_argument("the sample weights sum to zero");
    return row;
}

// One row drawn with probability proportional to the current potential
// (column current_column_ of the last pass); by weight when the potential
// is zero (every row with weight sits on a centre: duplicate points).
template <class T>
Index KMeansPlusPlus::draw_by_potential(const RowsView<T>& X, const double* w) {
    double pot = 0.0;
    for (Index b = 0; b < n_blocks_; ++b) pot += last_sums_[b * last_columns_ + current_column_];
    auto& s = scratch<T>()[0];
    std::vector<double> v;
    Index row = -1;
    const double u = uniform01(rng_) * pot;
    if (pot > 0.0 && std::isfinite(pot)) {
        row = detail::sample_row(last_sums_, last_columns_, current_column_, u, B_,
                                 [&](Index b, std::vector<double>& out) {
                                     const Index rows = block_values(X, w, b, s, false);
                                     out.resize(static_cast<std::size_t>(rows));
                                     for (Index r = 0; r < rows; ++r) out[r] = s.V(current_column_, r);
                                     return rows;
                                 }, v);
    }
    if (row < 0) row = draw_by_weight(w, v);
    return row;
}

template <class T>
void KMeansPlusPlus::step(const RowsView<T>& X, const double* w, int n_threads) {
    if (X.n_rows != N_ || X.n_cols != D_) throw std::invalid_argument("X changed shape during k-means++ seeding");
    if (done()) throw std::logic_error("k-means++ seeding is already complete");
    if (indices_.empty()) {
        std::vector<double> v;
        add_center(X, draw_by_weight(w, v));
        if (done()) return;
        // Distances to the first centre: the potential to draw from.
        std::fill(closest_.begin(), closest_.end(), std::numeric_limits<double>::infinity());
        pass(X, w, centers_.topRows(1), true, n_threads);
        current_column_ = 0;
        return;
    }
    // Candidates drawn from the current potential, then one pass that
    // folds in the previous centre and evaluates every candidate.
    RowMatrix protos(L_ + 1, D_);
    const bool pending = last_candidates_ > 0;  // the centre chosen last is not folded in yet
    Index p = 0;
    if (pending) protos.row(p++) = centers_.row(n_chosen() - 1);
    std::vector<Index> candidates(static_cast<std::size_t>(L_));
    for (Index l = 0; l < L_; ++l) {
        candidates[l] = draw_by_potential(X, w);
        for (Index i = 0; i < D_; ++i) protos(p, i) = static_cast<double>(X.row(candidates[l])[i * X.col_stride]);
        ++p;
    }
    pass(X, w, protos.topRows(p), pending, n_threads);
    Index best = 0;
    double best_pot = std::numeric_limits<double>::infinity();
    for (Index l = 0; l < L_; ++l) {
        double pot = 0.0;
        for (Index b = 0; b < n_blocks_; ++b) pot += last_sums_[b * last_columns_ + l];
        if (pot < best_pot) {
            best_pot = pot;
            best = l;
        }
    }
    current_column_ = best;
    add_center(X, candidates[best]);
}

// Rows for init="random": n_clusters distinct rows drawn without
// replacement with probability proportional to their weights.
inline std::vector<Index> random_init_rows(const double* w, Index N, Index K, std::uint64_t seed) {
    constexpr Index block_rows = 1024;
    if (K < 1 || K > N) throw std::invalid_argument("n_clusters must be in [1, n_samples]");
    std::mt19937_64 rng(seed);
    std::vector<double> left(w, w + N), v;
    const Index n_blocks = block_count(N, block_rows);
    std::vector<double> sums(static_cast<std::size_t>(n_blocks), 0.0);
    auto block_sum = [&](Index b) {
        double s = 0.0;
        for (Index r = b * block_rows; r < std::min(N, (b + 1) * block_rows); ++r) s += left[r];
        return s;
    };
    for (Index b = 0; b < n_blocks; ++b) sums[b] = block_sum(b);
    std::vector<Index> rows;
    for (Index k = 0; k < K; ++k) {
        double total = 0.0;
        for (double s : sums) total += s;
        const Index row = total > 0.0 ? detail::sample_row(sums, 1, 0, uniform01(rng) * total, block_rows,
                                                            [&](Index b, std::vector<double>& out) {
                                                                const Index r0 = b * block_rows;
                                                                const Index n = std::min(block_rows, N - r0);
                                                                out.assign(left.begin() + r0, left.begin() + r0 + n);
                                                                return n;
                                                            }, v)
                                       : -1;
        if (row < 0)
            throw std::invalid_argument("init='random' needs at least n_clusters samples with positive weight");
        rows.push_back(row);
        left[row] = 0.0;
        sums[row / block_rows] = block_sum(row / block_rows);
    }
    return rows;
}

struct LloydResult {
    double inertia = 0.0;       // sum of w * squared distance to the assigned input centre
    double logit_sum = 0.0;     // sum of w * (second-nearest - nearest squared distance)
    double center_shift = 0.0;  // sum over clusters of ||new - old||^2 (update only)
    Index n_changed = 0;        // rows with weight whose label differs from the one in `labels` before
    Index n_relocated = 0;      // empty clusters given a far point (update only)
    Index n_empty = 0;          // clusters with no weight left after relocation (update only)
};

namespace detail {

// A group's partial results: [sums K x D | weights K | positive-weight
// counts K | inertia, logit sum, labels changed].
struct GroupPartial {
    double* sums;
    double* weight;
    double* count;
    double* scalars;
};

// What every block of one Lloyd pass shares.
template <class T, class S>
struct LloydShared {
    RowsView<T> X;
    const double* w;
    std::int64_t* labels;
    double* dist;
    bool update;
    Index K;
    const S* origin;                             // centring origin of the rows, in S
    const RowMatrixOf<S>* P2;                    // portable products: -2 x centred prototypes
    const S* sqn;                                // their squared norms
    const simd::PackedPrototypes<S>* packed;     // AVX2 products
};

// Books row `row` into cluster `nearest` at squared distance d: label and
// its change, distance, inertia and logit sums, and (update) the weighted
// sum of the cluster's rows: of z (the centred float64 row) when centred,
// else of X's own row.
template <class T, class S, bool centred>
NEON_ALWAYS_INLINE void book_row(const LloydShared<T, S>& p, const GroupPartial& g, Index row, const S* z,
                                 Index nearest, double d, double logit) {
    const double wr = p.w[row];
    if (p.labels[row] != nearest) {
        // Rows without weight do not move any centre: their changes do not
        // count against convergence (so weight 0 is the same as no row).
        if (wr != 0.0) g.scalars[2] += 1.0;
        p.labels[row] = nearest;
    }
    if (p.dist) p.dist[row] = d;
    g.scalars[0] += wr * d;
    g.scalars[1] += wr * logit;
    if (!p.update || wr == 0.0) return;
    const Index D = p.X.n_cols;
    double* acc = g.sums + nearest * D;
    if constexpr (centred) {
        for (Index i = 0; i < D; ++i) acc[i] += wr * static_cast<double>(z[i]);
    } else {
        const T* x = p.X.row(row);
        if (p.X.col_stride == 1) {
            for (Index i = 0; i < D; ++i) acc[i] += wr * static_cast<double>(x[i]);
        } else {
            for (Index i = 0; i < D; ++i) acc[i] += wr * static_cast<double>(x[i * p.X.col_stride]);
        }
    }
    g.weight[nearest] += wr;
    g.count[nearest] += 1.0;
}

// One block of a fast pass: load, nearest prototype (AVX2 kernel, or
// Eigen's product and a running minimum across the block's rows, one
// prototype at a time), book every row.
template <class T, class S, bool avx2>
NEON_ALWAYS_INLINE void fast_lloyd_block(const LloydShared<T, S>& p, const GroupPartial& g, Index r0, Index rows,
                                         RowMatrixOf<S>& Z, RowMatrixOf<S>& E, S* best, std::int32_t* index) {
    load_block_unchecked(p.X, r0, rows, p.origin, Z);
    if constexpr (avx2) {
#if NEON_HAVE_AVX2_KERNELS
        simd::nearest_avx2(Z.data(), Z.cols(), rows, *p.packed, best, index);
#endif
    } else {
        scaled_products_transposed(*p.P2, Z, rows, E);
        const S* e0 = E.row(0).data();
        for (Index r = 0; r < rows; ++r) {
            best[r] = e0[r] + p.sqn[0];
            index[r] = 0;
        }
        for (Index k = 1; k < p.K; ++k)
            running_argmin(E.row(k).data(), p.sqn[k], static_cast<std::int32_t>(k), best, index, rows);
    }
    constexpr bool centred = std::is_same_v<S, double>;
    for (Index r = 0; r < rows; ++r) {
        const double zsq = static_cast<double>(Z.row(r).squaredNorm());
        book_row<T, S, centred>(p, g, r0 + r, Z.row(r).data(), index[r],
                                std::max(static_cast<double>(best[r]) + zsq, 0.0), 0.0);
    }
}

#if NEON_HAVE_AVX2_KERNELS
// The same block compiled for AVX2 + FMA as a whole (load and bookkeeping
// vectorize 8 floats / 4 doubles wide), for CPUs that have them.
template <class T, class S>
NEON_AVX2 void fast_lloyd_block_avx2(const LloydShared<T, S>& p, const GroupPartial& g, Index r0, Index rows,
                                     RowMatrixOf<S>& Z, RowMatrixOf<S>& E, S* best, std::int32_t* index) {
    fast_lloyd_block<T, S, true>(p, g, r0, rows, Z, E, best, index);
}
#endif

template <class T, class S, bool precise>
LloydResult lloyd_pass(const RowsView<T>& X, const double* w, const double* centers, Index K, double* new_centers,
                       std::int64_t* labels, double* dist, int n_threads) {
    static_assert(!precise || std::is_same_v<S, double>, "the precise pass computes in float64");
    const Index N = X.n_rows, D = X.n_cols;
    const bool update = new_centers != nullptr;
    if (update && dist == nullptr) throw std::invalid_argument("the centre update needs the distance buffer");
    const CenteredPrototypes protos(centers, K, D, "centroids");
    // Rows are centred on the prototypes' mean.  The sums are of the
    // centred rows in float64, of X's own rows in float32 mode (float32
    // values need no centring to be summed exactly enough in float64).
    constexpr bool centred_sums = std::is_same_v<S, double>;
    const Vector origin = centred_sums ? protos.center() : Vector::Zero(D);
    const double* center = origin.data();  // of the sums
    const Eigen::Matrix<S, Eigen::Dynamic, 1> centre_s = protos.center().template cast<S>();
    const bool avx2 = simd::use_avx2();
    const RowMatrixOf<S> P2 = precise || avx2 ? RowMatrixOf<S>() : minus_two_centered<S>(protos);
    const simd::PackedPrototypes<S> packed = avx2 ? simd::PackedPrototypes<S>(protos) : simd::PackedPrototypes<S>();
    const LloydShared<T, S> shared{X, w, labels, dist, update, K, centre_s.data(), &P2, sq_norm_of<S>(protos).data(),
                                   &packed};
    const Index B = KMeansCore::block_rows(D);
    const Index per_group = update ? K * (D + 2) + 3 : 3;
    const BlockGroups groups(N, B, per_group);
    const int threads = fit_thread_count(n_threads, groups.n_groups, double(N) * double(D) * double(K + 1));

    std::vector<double> partial(static_cast<std::size_t>(groups.n_groups * per_group), 0.0);
    struct Scratch {
        RowMatrixOf<S> Z, E;
        std::vector<S> best;
        std::vector<std::int32_t> index;
    };
    std::vector<Scratch> scratch(threads);
    for (auto& s : scratch) {
        s.Z.resize(B, D);
        if (precise) {
            s.E.resize(B, avx2 ? packed.Kp : K);
        } else {
            if (!avx2) s.E.resize(K, B);
            s.best.resize(static_cast<std::size_t>(B));
            s.index.resize(static_cast<std::size_t>(B));
        }
    }
    FirstBadRow bad(N);
    for_each_block(groups.n_groups, threads, [&](Index gi, int tid) {
        Scratch& s = scratch[tid];
        double* part = partial.data() + gi * per_group;
        const GroupPartial g{part, part + K * D, part + K * D + K, part + per_group - 3};
        for (Index b = groups.first_block(gi); b < groups.end_block(gi); ++b) {
            const Index r0 = groups.first_row(b), rows = groups.rows_in(b);
            if constexpr (precise) {
                // float64 offsets, near ties settled exactly: KMeansCore's assignment.
                if (!load_centered_block(X, r0, rows, protos.center(), s.Z, bad)) return;
                if (avx2) {
#if NEON_HAVE_AVX2_KERNELS
                    simd::offsets_avx2(s.Z.data(), D, rows, packed, s.E.data(), s.E.cols());
#endif
                } else {
                    distance_offsets(protos, s.Z, rows, s.E);
                }
                for (Index r = 0; r < rows; ++r) {
                    double* e = s.E.row(r).data();
                    const double zsq = s.Z.row(r).squaredNorm();
                    NearestTwo two = nearest_two(e, K);
                    const bool exact = settle_near_ties(protos, X, r0 + r, std::sqrt(zsq), e, two);
                    const double d = std::max(exact ? two.lo : two.lo + zsq, 0.0);
                    book_row<T, S, true>(shared, g, r0 + r, s.Z.row(r).data(), two.nearest, d,
                                         K > 1 ? two.second - two.lo : 0.0);
                }
            } else if (avx2) {
#if NEON_HAVE_AVX2_KERNELS
                fast_lloyd_block_avx2(shared, g, r0, rows, s.Z, s.E, s.best.data(), s.index.data());
#endif
            } else {
                fast_lloyd_block<T, S, false>(shared, g, r0, rows, s.Z, s.E, s.best.data(), s.index.data());
            }
        }
    });
    if (bad.any()) throw_bad_input(bad.row());

    std::vector<double> total(static_cast<std::size_t>(per_group), 0.0);
    for (Index g = 0; g < groups.n_groups; ++g) {
        const double* part = partial.data() + g * per_group;
        for (Index j = 0; j < per_group; ++j) total[j] += part[j];
    }
    LloydResult result;
    result.inertia = total[per_group - 3];
    result.logit_sum = total[per_group - 2];
    result.n_changed = static_cast<Index>(total[per_group - 1]);
    if (!update) return result;

    double* sums = total.data();
    double* weight = sums + K * D;
    double* count = weight + K;
    std::vector<Index> empty;
    for (Index k = 0; k < K; ++k)
        if (count[k] == 0.0) empty.push_back(k);
    if (!empty.empty()) {
        // Far rows first (ties to the lower row): the rows with weight that
        // are not on their centre.  Rarely needed, so a plain sort.
        std::vector<Index> far;
        for (Index r = 0; r < N; ++r)
            if (w[r] > 0.0 && dist[r] > 0.0) far.push_back(r);
        std::sort(far.begin(), far.end(), [&](Index a, Index b) {
            return dist[a] > dist[b] || (dist[a] == dist[b] && a < b);
        });
        auto next = far.begin();
        for (Index k : empty) {
            while (next != far.end() && count[labels[*next]] < 2.0) ++next;
            if (next == far.end()) break;
            const Index row = *next++;
            const Index from = static_cast<Index>(labels[row]);
            const double wr = w[row];
            for (Index i = 0; i < D; ++i) {
                const double z = static_cast<double>(X.row(row)[i * X.col_stride]) - center[i];
                sums[from * D + i] -= wr * z;
                sums[k * D + i] = wr * z;
            }
            weight[from] -= wr;
            count[from] -= 1.0;
            weight[k] = wr;
            count[k] = 1.0;
            ++result.n_relocated;
        }
    }
    for (Index k = 0; k < K; ++k) {
        double* out = new_centers + k * D;
        const double* old = centers + k * D;
        if (count[k] == 0.0) {
            ++result.n_empty;
            std::copy(old, old + D, out);
            continue;
        }
        for (Index i = 0; i < D; ++i) {
            out[i] = center[i] + sums[k * D + i] / weight[k];
            const double shift = out[i] - old[i];
            result.center_shift += shift * shift;
        }
    }
    return result;
}

}  // namespace detail

// One Lloyd iteration over all rows: assign every row to its nearest input
// centre and, when new_centers is given, compute the weighted means of the
// clusters.  Clusters left without weight take the farthest rows (from
// their own centres) of clusters that keep at least one other row; a
// cluster that finds none keeps its centre.  centers: K x D row-major;
// labels: N (compared with and overwritten by the new labels); dist: N or
// null (each row's squared distance to its centre; required for updates).
//
// precise = true computes in float64 with exact ties settled as the
// explanation kernel does, so the labels equal KMeansCore's assignment.
// precise = false computes distance products in X's precision (float32
// input: float32, as scikit-learn does), with the AVX2 kernel where the CPU
// has it, settles no ties and skips the logits (logit_sum = 0): the
// iterations of a fit.  Sums are float64 either way.
template <class T>
LloydResult lloyd_step(const RowsView<T>& X, const double* w, const double* centers, Index K, double* new_centers,
                       std::int64_t* labels, double* dist, bool precise, int n_threads) {
    if (K < 1) throw std::invalid_argument("need at least one centre");
    if (precise) return detail::lloyd_pass<T, double, true>(X, w, centers, K, new_centers, labels, dist, n_threads);
    return detail::lloyd_pass<T, T, false>(X, w, centers, K, new_centers, labels, dist, n_threads);
}

// Euclidean (or squared) distance of every row to every centre, N x K.
template <class T>
void center_distances(const RowsView<T>& X, const double* centers, Index K, bool squared, const RowsOut<T>& out,
                      int n_threads) {
    const Index N = X.n_rows, D = X.n_cols;
    const CenteredPrototypes protos(centers, K, D, "centroids");
    const Index B = KMeansCore::block_rows(D);
    const Index n_blocks = block_count(N, B);
    const int threads = fit_thread_count(n_threads, n_blocks, double(N) * double(D) * double(K));
    std::vector<RowMatrix> Z(threads, RowMatrix(B, D)), E(threads, RowMatrix(B, K));
    FirstBadRow bad(N);
    for_each_block(n_blocks, threads, [&](Index b, int tid) {
        const Index r0 = b * B, rows = std::min(B, N - r0);
        if (!load_centered_block(X, r0, rows, protos.center(), Z[tid], bad)) return;
        distance_offsets(protos, Z[tid], rows, E[tid]);
        for (Index r = 0; r < rows; ++r) {
            const double zsq = Z[tid].row(r).squaredNorm();
            T* dst = out.row(r0 + r);
            for (Index k = 0; k < K; ++k) {
                const double d = std::max(E[tid](r, k) + zsq, 0.0);
                dst[k] = static_cast<T>(squared ? d : std::sqrt(d));
            }
        }
    });
    if (bad.any()) detail::throw_bad_input(bad.row());
}

}  // namespace neon
