// C++ tests of the k-means NEON core (neon/kmeans.hpp) and the helpers it is
// built from.  Buffers are exact-size std::vectors, so an out-of-bounds read
// or write is caught by the sanitizer build (scripts/run_sanitizers.sh).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "neon/prototype_core.hpp"
#include "neon/pooling.hpp"

using neon::Index;

namespace {

// Spec section 4 golden data.
const std::vector<double> kC = {0, 0, 4, 0, 0, 3};
const std::vector<double> kX = {1, 0.5, 3, 1, -0.5, 2.5, 2, 1.5};

template <class T>
struct Run {
    std::vector<std::int64_t> assigned;
    std::vector<T> logit, logits_all, relevance;
};

// Evaluates every output for the N x D row-major values `x`, stored in a
// buffer with the given element strides (row_stride may be negative; the
// buffer is sized exactly to what the view touches).
template <class T>
Run<T> evaluate(const neon::PrototypeCore& core, const std::vector<double>& x, Index N, double beta, int threads,
                neon::TargetSpec target = {}, Index row_stride = 0, Index col_stride = 1) {
    const Index D = core.n_features(), K = core.n_clusters();
    if (row_stride == 0) row_stride = D * col_stride;
    const Index span = N == 0 ? 0 : (N - 1) * std::abs(row_stride) + (D - 1) * col_stride + 1;
    std::vector<T> buffer(static_cast<std::size_t>(std::max<Index>(span, 1)));
    const Index origin = row_stride < 0 ? (N - 1) * -row_stride : 0;
    for (Index r = 0; r < N; ++r)
        for (Index i = 0; i < D; ++i) buffer[origin + r * row_stride + i * col_stride] = static_cast<T>(x[r * D + i]);
    neon::RowsView<T> view;
    view.data = buffer.data() + origin;
    view.n_rows = N;
    view.n_cols = D;
    view.row_stride = row_stride;
    view.col_stride = col_stride;

    Run<T> run;
    run.assigned.resize(N);
    run.logit.resize(N);
    run.logits_all.resize(N * K);
    run.relevance.resize(N * D);
    neon::ModelOutputs<T> out;
    out.assigned = run.assigned.data();
    out.logit = run.logit.data();
    out.logits_all = run.logits_all.data();
    out.relevance.data = run.relevance.data();
    out.relevance.row_stride = D;
    core.evaluate(view, target, beta, out, threads);
    return run;
}

std::vector<double> random_matrix(Index rows, Index cols, unsigned seed, double scale = 1.0) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, scale);
    std::vector<double> m(rows * cols);
    for (auto& v : m) v = normal(rng);
    return m;
}

}  // namespace

NEON_TEST(golden_logits_and_relevance) {
    const neon::PrototypeCore core(kC.data(), 3, 2, 1e-12);
    const auto run = evaluate<double>(core, kX, 4, 0.5, 1);
    const std::int64_t assigned[] = {0, 1, 2, 0};
    const double logits[] = {6, -8, -6, -8, 8, -11, -6, -26, 6, 0, 0, 0};
    const double relevance[] = {
        1.613648528220, 4.386351471779, 7.601980675331, 0.398019324668, 0.000209528625, 5.999790471374, 0, 0};
    for (int r = 0; r < 4; ++r) NEON_CHECK(run.assigned[r] == assigned[r]);
    for (int j = 0; j < 12; ++j) NEON_CHECK_CLOSE(run.logits_all[j], logits[j], 1e-12, 1e-12);
    for (int j = 0; j < 8; ++j) NEON_CHECK_CLOSE(run.relevance[j], relevance[j], 1e-9, 1e-11);
}

NEON_TEST(golden_relevance_of_a_fixed_target) {
    const neon::PrototypeCore core(kC.data(), 3, 2, 1e-12);
    neon::TargetSpec target;
    target.fixed = 1;
    const auto run = evaluate<double>(core, kX, 4, 0.5, 1, target);
    const double relevance[] = {
        -9.13822095626, 1.138220956261, 7.601980675331, 0.398019324668, -20.284555239065, -5.715444760934, 0, 0};
    for (int j = 0; j < 8; ++j) NEON_CHECK_CLOSE(run.relevance[j], relevance[j], 1e-9, 1e-11);
}

NEON_TEST(float32_matches_float64_to_float32_precision) {
    const auto C = random_matrix(5, 7, 1);
    const auto X = random_matrix(300, 7, 2, 2.0);
    const neon::PrototypeCore core(C.data(), 5, 7, 1e-12);
    const auto r64 = evaluate<double>(core, X, 300, 0.7, 1);
    // float32 input (computed in float32, centred): float32 precision
    // relative to the row's scale of relevance, the same clusters.
    std::vector<double> X32(X.size());
    for (std::size_t i = 0; i < X.size(); ++i) X32[i] = static_cast<float>(X[i]);
    const auto r32 = evaluate<float>(core, X32, 300, 0.7, 1);
    const auto r64b = evaluate<double>(core, X32, 300, 0.7, 1);
    bool close_enough = true;
    for (Index r = 0; r < 300; ++r) {
        double scale = 1.0;
        for (Index i = 0; i < 7; ++i) scale = std::max(scale, std::abs(r64b.relevance[r * 7 + i]));
        for (Index i = 0; i < 7; ++i)
            close_enough =
                close_enough && std::abs(r32.relevance[r * 7 + i] - r64b.relevance[r * 7 + i]) <= 1e-5 * scale;
    }
    NEON_CHECK(close_enough);
    NEON_CHECK(r32.assigned == r64b.assigned);
    (void)r64;
}

NEON_TEST(conservation_on_random_data_across_several_blocks) {
    const Index K = 6, D = 5, N = 3 * neon::FusedEvaluator::block_rows(D) + 17;  // partial last block
    const auto C = random_matrix(K, D, 3);
    const auto X = random_matrix(N, D, 4, 2.0);
    const neon::PrototypeCore core(C.data(), K, D, 1e-12);
    std::vector<std::int64_t> targets(N);
    for (Index r = 0; r < N; ++r) targets[r] = r % K;
    for (int mode = 0; mode < 2; ++mode) {
        neon::TargetSpec target;
        if (mode == 1) target.per_row = targets.data();
        const auto run = evaluate<double>(core, X, N, 0.5, 2, target);
        for (Index r = 0; r < N; ++r) {
            double sum = 0.0, mag = 0.0;
            for (Index i = 0; i < D; ++i) {
                sum += run.relevance[r * D + i];
                mag += std::abs(run.relevance[r * D + i]);
            }
            NEON_CHECK_CLOSE(sum, run.logit[r], 1e-9, 1e-9 * (1 + mag));
            if (mode == 0) NEON_CHECK(run.logit[r] >= 0.0);
        }
    }
}

NEON_TEST(thread_count_does_not_change_a_bit) {
    const Index K = 7, D = 9, N = 5 * neon::FusedEvaluator::block_rows(D) + 3;
    const auto C = random_matrix(K, D, 5);
    const auto X = random_matrix(N, D, 6, 3.0);
    const neon::PrototypeCore core(C.data(), K, D, 1e-12);
    const auto one = evaluate<double>(core, X, N, 0.3, 1);
    for (int threads : {2, 3, 4, 0}) {
        const auto many = evaluate<double>(core, X, N, 0.3, threads);
        NEON_CHECK(many.relevance == one.relevance);
        NEON_CHECK(many.logits_all == one.logits_all);
        NEON_CHECK(many.assigned == one.assigned);
    }
}

NEON_TEST(strided_views_read_the_same_values) {
    const Index K = 4, D = 3, N = 50;
    const auto C = random_matrix(K, D, 7);
    const auto X = random_matrix(N, D, 8);
    const neon::PrototypeCore core(C.data(), K, D, 1e-12);
    const auto c_order = evaluate<double>(core, X, N, 0.5, 1);
    const auto fortran = evaluate<double>(core, X, N, 0.5, 1, {}, 1, N);  // column-major
    const auto reversed = evaluate<double>(core, X, N, 0.5, 1, {}, -D, 1);  // negative row stride
    const auto gapped = evaluate<double>(core, X, N, 0.5, 2, {}, 3 * D + 1, 2);  // slices of a bigger array
    for (const auto* other : {&fortran, &reversed, &gapped}) {
        NEON_CHECK(other->relevance == c_order.relevance);
        NEON_CHECK(other->logit == c_order.logit);
    }
}

NEON_TEST(zero_rows_and_single_feature) {
    const std::vector<double> C = {0.0, 1.0};
    const neon::PrototypeCore core(C.data(), 2, 1, 1e-12);
    const auto empty = evaluate<double>(core, {}, 0, 1.0, 4);
    NEON_CHECK(empty.relevance.empty());
    const auto run = evaluate<double>(core, {0.25, 0.5, 2.0}, 3, 1.0, 1);
    NEON_CHECK(run.assigned[0] == 0 && run.assigned[1] == 0 && run.assigned[2] == 1);
    NEON_CHECK_CLOSE(run.logit[0], 0.5, 1e-14, 0);
    NEON_CHECK(run.logit[1] == 0.0 && run.relevance[1] == 0.0);  // exact tie
    NEON_CHECK_CLOSE(run.relevance[2], 3.0, 1e-11, 0);
}

NEON_TEST(invalid_input_throws_naming_the_problem) {
    NEON_CHECK_THROWS(neon::PrototypeCore(kC.data(), 1, 2, 1e-12), std::invalid_argument, "at least 2 clusters");
    NEON_CHECK_THROWS(neon::PrototypeCore(kC.data(), 3, 2, -1.0), std::invalid_argument, "eps");
    const std::vector<double> nan_c = {0, 0, std::numeric_limits<double>::quiet_NaN(), 0};
    NEON_CHECK_THROWS(neon::PrototypeCore(nan_c.data(), 2, 2, 1e-12), std::invalid_argument, "NaN");
    const std::vector<double> huge = {0, 0, 1e200, 0};
    NEON_CHECK_THROWS(neon::PrototypeCore(huge.data(), 2, 2, 1e-12), std::invalid_argument,
                      "outside the supported range");
    const std::vector<double> tiny = {0, 0, 1e-200, 0};
    NEON_CHECK_THROWS(neon::PrototypeCore(tiny.data(), 2, 2, 1e-12), std::invalid_argument,
                      "outside the supported range");

    const neon::PrototypeCore core(kC.data(), 3, 2, 1e-12);
    std::vector<double> X = random_matrix(3000, 2, 9);
    X[2 * 2100 + 1] = std::numeric_limits<double>::infinity();
    X[2 * 2500] = std::numeric_limits<double>::quiet_NaN();
    for (int threads : {1, 4})  // the first bad row, whatever the schedule
        NEON_CHECK_THROWS(evaluate<double>(core, X, 3000, 0.5, threads), std::invalid_argument,
                          "NaN or infinity (first at row 2100)");
    NEON_CHECK_THROWS(evaluate<double>(core, kX, 4, 0.0, 1), std::invalid_argument, "beta");
    std::vector<std::int64_t> targets = {0, 1, 3, -1};
    neon::TargetSpec target;
    target.per_row = targets.data();
    NEON_CHECK_THROWS(evaluate<double>(core, kX, 4, 0.5, 2, target), std::out_of_range, "at row 2");
}

NEON_TEST(unrepresentable_results_throw_instead_of_writing_inf) {
    const std::vector<double> C = {-1e139, 0, 1e139, 0};
    const neon::PrototypeCore core(C.data(), 2, 2, 1e-12);
    // distances ~1e308, logit 2e308: reported as not finite or (differences) too far
    NEON_CHECK_THROWS(evaluate<double>(core, {0, 1, 5e168, 0}, 2, 1e-300, 1), std::invalid_argument, "X row 1 is");
    NEON_CHECK_THROWS(evaluate<double>(core, {0, 1, 1e170, 0}, 2, 1e-300, 1), std::invalid_argument,
                      "X row 1 is too far from the centroids");
    const std::vector<double> C32 = {0, 0, 1e19, 0};
    const neon::PrototypeCore core32(C32.data(), 2, 2, 1e-12);
    NEON_CHECK_THROWS(evaluate<float>(core32, {3e19, 0}, 1, 1e-38, 1), std::invalid_argument, "not finite in float32");
    // eps = 0 on a boundary: the pair is absorbed (|h| <= eps), finite.
    const std::vector<double> line = {0, 1, -1};
    const neon::PrototypeCore no_eps(line.data(), 3, 1, 0.0);
    neon::TargetSpec target;
    target.fixed = 1;
    const auto boundary = evaluate<double>(no_eps, {0.0}, 1, 0.5, 1, target);
    NEON_CHECK(std::isfinite(boundary.relevance[0]));
}

NEON_TEST(extreme_beta_stays_finite) {
    const neon::PrototypeCore core(kC.data(), 3, 2, 1e-12);
    for (double beta : {5e-324, 1e-300, 1e300, std::numeric_limits<double>::max()}) {
        const auto run = evaluate<double>(core, kX, 4, beta, 1);
        for (Index r = 0; r < 4; ++r) {
            NEON_CHECK(std::isfinite(run.relevance[2 * r]) && std::isfinite(run.relevance[2 * r + 1]));
            NEON_CHECK_CLOSE(run.relevance[2 * r] + run.relevance[2 * r + 1], run.logit[r], 1e-10, 1e-10);
        }
    }
}

NEON_TEST(duplicate_centroids_are_one_cluster) {
    const std::vector<double> C = {0, 0, 0, 0, 2, 0};
    const neon::PrototypeCore core(C.data(), 3, 2, 1e-12);
    const auto run = evaluate<double>(core, {0.5, 0.3, 1.8, 0.0}, 2, 1.0, 1);
    NEON_CHECK(run.assigned[0] == 0 && run.assigned[1] == 2);
    NEON_CHECK(run.logit[0] == 0.0);  // a twin is always as close
    NEON_CHECK(run.relevance[0] == 0.0 && run.relevance[1] == 0.0);
    NEON_CHECK_CLOSE(run.logit[1], 1.8 * 1.8 - 0.2 * 0.2, 1e-14, 0);
}

NEON_TEST(softmin_and_stabilizer_limits) {
    const double v[] = {1.0, 2.0, 1e300, 0.0};
    double share[4];
    auto all_but_last = [](Index k) { return k != 3; };
    neon::softmin_redistribute(v, 4, 1.0, 0.0, all_but_last, share);  // stiffness 0: even split
    NEON_CHECK_CLOSE(share[0], 1.0 / 3, 1e-15, 0);
    NEON_CHECK(share[3] == 0.0);
    neon::softmin_redistribute(v, 4, 1.0, std::numeric_limits<double>::max(), all_but_last, share);
    NEON_CHECK(share[0] == 1.0 && share[1] == 0.0 && share[2] == 0.0);  // hard min
    NEON_CHECK(neon::stabilized_ratio(0.0, 0.0, 0.0) == 0.0);
    NEON_CHECK(neon::stabilized_ratio(1.0, 0.0, 0.5) == 0.0);   // |h| <= eps: absorbed
    NEON_CHECK(neon::stabilized_ratio(1.0, -1.0, 1.0) == 0.0);
    NEON_CHECK(neon::stabilized_ratio(1.0, -3.0, 1.0) == 1.0 / -3.0);  // 1 / h itself: no eps shift
    NEON_CHECK(neon::stabilized_ratio(1.0, 3.0, 1.0) == 1.0 / 3.0);
    auto none = [](Index) { return false; };
    neon::softmin_redistribute(v, 4, 1.0, 1.0, none, share);  // every entry absorbed: nothing to share
    NEON_CHECK(share[0] == 0.0 && share[1] == 0.0 && share[2] == 0.0 && share[3] == 0.0);
    NEON_CHECK(neon::stabilized_ratio(0.0, 1e-320, 0.0) == 0.0);  // not 0 * inf
}

NEON_TEST(exceptions_inside_parallel_blocks_reach_the_caller) {
    for (int threads : {1, 4}) {
        int seen = 0;
        NEON_CHECK_THROWS(neon::for_each_block(64, threads,
                                               [&](Index b, int) {
                                                   if (b == 17) throw std::invalid_argument("block 17");
                                                   if (threads == 1) ++seen;
                                               }),
                          std::invalid_argument, "block 17");
        if (threads == 1) NEON_CHECK(seen == 17);  // later blocks are skipped
    }
    neon::FirstBadRow bad(1000);
    neon::for_each_block(1000, 4, [&](Index b, int) {
        if (b % 7 == 3) bad.report(b);
    });
    NEON_CHECK(bad.any() && bad.row() == 3);
}
