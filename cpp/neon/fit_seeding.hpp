// Seeding a k-means fit: greedy k-means++ (one pass over X per centre, on
// the dispatched distance kernels of fit_kernel.hpp) and init="random".
//
// Random draws come from an explicitly seeded std::mt19937_64 turned into
// doubles by hand (the standard distributions are implementation-defined),
// so a seed gives the same centres with any standard library.  Sums are per
// fixed block of rows (FusedEvaluator::block_rows), combined in block order:
// results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "fit_dispatch.hpp"
#include "fit_schedule.hpp"

namespace neon {

// A double in [0, 1) from the top 53 bits of one draw.
inline double uniform01(std::mt19937_64& rng) {
    return static_cast<double>(rng() >> 11) * 0x1.0p-53;
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
// precision on the dispatched kernels (they only steer random draws); sums
// are float64, per block, combined in block order.  X must be finite (a fit
// checks it first, in weighted_moments): these passes do not check it again.
class KMeansPlusPlus {
public:
    KMeansPlusPlus(Index n_rows, Index n_features, Index n_clusters, Index n_local_trials, std::uint64_t seed,
                   Isa isa = Isa::automatic)
        : N_(n_rows), D_(n_features), K_(n_clusters), L_(n_local_trials), rng_(seed), kernels_(&fit_kernels_for(isa)) {
        if (N_ < 1 || D_ < 1) throw std::invalid_argument("X must have at least one row and one column");
        if (K_ < 1 || K_ > N_) throw std::invalid_argument("n_clusters must be in [1, n_samples]");
        if (L_ < 1) throw std::invalid_argument("n_local_trials must be >= 1");
        B_ = FusedEvaluator::block_rows(D_);
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
    // Per thread: the kernel's scratch and the block's squared distances to
    // the pass's prototypes (one row per prototype); V the block's values,
    // one row per candidate (see block_values).
    template <class S>
    struct Scratch {
        FitScratch<S> fit;
        RowMatrix D2;
        RowMatrix V;
    };

    Index N_, D_, K_, L_, B_ = 1, n_blocks_ = 0;
    std::mt19937_64 rng_;
    const FitKernelTable* kernels_;
    RowMatrix centers_;
    std::vector<Index> indices_;
    std::vector<double> closest_;      // squared distance to the nearest centre folded in so far
    std::vector<double> weight_sums_;  // per block sum of w (for draws proportional to w)
    // The last pass: its prototypes [pending centre?, candidates...] packed
    // for the kernels (in X's precision), its per-block sums of each
    // candidate's values, and which column is the current sampling
    // distribution.
    Index last_size_ = 0;
    FitPacked<float> last_packed_f_;
    FitPacked<double> last_packed_d_;
    bool last_pending_ = false;
    Index last_candidates_ = 0;
    Index last_columns_ = 1;
    std::vector<double> last_sums_;
    Index current_column_ = 0;
    std::vector<Scratch<float>> scratch_f_;
    std::vector<Scratch<double>> scratch_d_;

    template <class S>
    FitPacked<S>& last_packed() {
        if constexpr (std::is_same_v<S, float>)
            return last_packed_f_;
        else
            return last_packed_d_;
    }

    template <class S>
    std::vector<Scratch<S>>& scratch() {
        if constexpr (std::is_same_v<S, float>)
            return scratch_f_;
        else
            return scratch_d_;
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
    const auto kernel = for_precision<T>(kernels_->distances_f32, kernels_->distances_f64);
    kernel(last_packed<T>().view(), fit_rows(X, w), r0, r0 + rows, s.fit.view(), s.D2.data(), s.D2.cols());
    const double* wb = w + r0;
    double* closest = closest_.data() + r0;
    const Index P = last_size_, first_candidate = last_pending_ ? 1 : 0;
    double* c = s.V.row(s.V.rows() - 1).data();  // scratch row: closest with the pending centre
    for (Index r = 0; r < rows; ++r) c[r] = closest[r];
    if (last_pending_) {
        const double* d = s.D2.row(0).data();
        for (Index r = 0; r < rows; ++r) c[r] = std::min(c[r], d[r]);
        if (fold) std::copy(c, c + rows, closest);
    }
    if (first_candidate == P) {
        double* v = s.V.row(0).data();
        for (Index r = 0; r < rows; ++r) v[r] = wb[r] * c[r];
        return rows;
    }
    for (Index j = first_candidate; j < P; ++j) {
        const double* d = s.D2.row(j).data();
        double* v = s.V.row(j - first_candidate).data();
        for (Index r = 0; r < rows; ++r) v[r] = wb[r] * std::min(c[r], d[r]);
    }
    return rows;
}

template <class T>
void KMeansPlusPlus::pass(const RowsView<T>& X, const double* w, const RowMatrix& prototypes, bool pending,
                          int n_threads) {
    last_size_ = prototypes.rows();
    last_packed<T>() = FitPacked<T>(CenteredPrototypes(prototypes.data(), last_size_, D_, "centroids"));
    last_pending_ = pending;
    last_candidates_ = prototypes.rows() - (pending ? 1 : 0);
    last_columns_ = std::max<Index>(1, last_candidates_);
    last_sums_.assign(static_cast<std::size_t>(n_blocks_ * last_columns_), 0.0);
    const int threads = fit_thread_count(n_threads, n_blocks_, double(N_) * double(D_) * double(last_size_));
    auto& scratch_all = scratch<T>();
    scratch_all.resize(std::max<std::size_t>(scratch_all.size(), static_cast<std::size_t>(threads)));
    for (auto& s : scratch_all) {
        s.fit = FitScratch<T>(last_packed<T>().padded_dim());
        s.D2.resize(last_size_, B_);
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
    const Index row = sample_row(
        weight_sums_, 1, 0, u, B_,
        [&](Index b, std::vector<double>& out) {
            const Index r0 = b * B_, rows = std::min(B_, N_ - r0);
            out.assign(w + r0, w + r0 + rows);
            return rows;
        },
        v);
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
        row = sample_row(
            last_sums_, last_columns_, current_column_, u, B_,
            [&](Index b, std::vector<double>& out) {
                const Index rows = block_values(X, w, b, s, false);
                out.resize(static_cast<std::size_t>(rows));
                for (Index r = 0; r < rows; ++r) out[r] = s.V(current_column_, r);
                return rows;
            },
            v);
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
        const Index row = total > 0.0 ? sample_row(
                                            sums, 1, 0, uniform01(rng) * total, block_rows,
                                            [&](Index b, std::vector<double>& out) {
                                                const Index r0 = b * block_rows;
                                                const Index n = std::min(block_rows, N - r0);
                                                out.assign(left.begin() + r0, left.begin() + r0 + n);
                                                return n;
                                            },
                                            v)
                                      : -1;
        if (row < 0)
            throw std::invalid_argument("init='random' needs at least n_clusters samples with positive weight");
        rows.push_back(row);
        left[row] = 0.0;
        sums[row / block_rows] = block_sum(row / block_rows);
    }
    return rows;
}

}  // namespace neon
