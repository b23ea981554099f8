// What a neuralized clustering model computes for a set of rows, and for
// which target cluster: shared by the k-means and kernel k-means kernels.
#pragma once

#include <cstdint>

#include "rows.hpp"

namespace neon {

// Where a kernel writes; null pointers are outputs not asked for.
template <class T>
struct KMeansOutputs {
    std::int64_t* assigned = nullptr;  // N
    T* logit = nullptr;                // N: f_target(x)
    T* logits_all = nullptr;           // N x K, row-major: f_c(x) for every c
    RowsOut<T> relevance{};            // N x D (data == nullptr: not asked for)
};

// Which cluster each row is explained for.
struct TargetSpec {
    const std::int64_t* per_row = nullptr;  // N entries, or null
    std::int64_t fixed = -1;                // >= 0: the same cluster for all rows
    // neither: the assigned cluster
};

}  // namespace neon
