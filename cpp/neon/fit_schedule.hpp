// The reduction schedule of the k-means fitting passes (fit_moments.hpp,
// fit_lloyd.hpp, fit_labels.hpp): rows are cut into the foundation's fixed
// blocks (FusedEvaluator::block_rows), and blocks into fixed groups.  Every
// group is computed by one thread, sequentially over its rows, into its own
// partial sums; partials are combined in group order on the calling
// thread.  Group and block boundaries depend on the problem size only, so
// results are bitwise identical for any thread count.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "kmeans.hpp"
#include "parallel.hpp"

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
    Index first_row(Index g) const { return std::min(n_rows, g * blocks_per_group * block_rows); }
    Index end_row(Index g) const { return std::min(n_rows, (g + 1) * blocks_per_group * block_rows); }
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

// One pass over the groups of N rows of D features: body(r0, r1, scratch,
// partial) adds rows [r0, r1) (one group) into its own zeroed `width`
// doubles, with per-thread scratch from make_scratch(); returns the sum of
// all partials, taken in group order.  `work` sizes the thread team.
template <class MakeScratch, class Body>
std::vector<double> reduce_over_groups(Index N, Index D, Index width, int n_threads, double work,
                                       MakeScratch&& make_scratch, Body&& body) {
    const BlockGroups groups(N, FusedEvaluator::block_rows(D), width);
    const int threads = fit_thread_count(n_threads, groups.n_groups, work);
    std::vector<decltype(make_scratch())> scratch;
    scratch.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) scratch.push_back(make_scratch());
    std::vector<double> partial(static_cast<std::size_t>(groups.n_groups * width), 0.0);
    for_each_block(groups.n_groups, threads, [&](Index g, int tid) {
        body(groups.first_row(g), groups.end_row(g), scratch[tid], partial.data() + g * width);
    });
    std::vector<double> total(static_cast<std::size_t>(width), 0.0);
    for (Index g = 0; g < groups.n_groups; ++g)
        for (Index j = 0; j < width; ++j) total[j] += partial[g * width + j];
    return total;
}

[[noreturn]] inline void throw_bad_fit_input(Index row) {
    throw std::invalid_argument("X contains NaN or infinity (first at row " + std::to_string(row) + ")");
}

}  // namespace neon
