// What a neuralized clustering model computes for a set of rows, and for
// which target cluster: shared by the k-means and kernel k-means kernels.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "parallel.hpp"
#include "prototypes.hpp"
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

// The top layer of every model is the hard min over the clusters' distances
// v (squared distance to the centroid for k-means, soft-min distance for
// kernel k-means), ranked by nearest_two (prototypes.hpp): it assigns x and
// gives every cluster's logit
//   f_c = min_{k != c} v_k - v_c,   > 0 exactly for the assigned cluster.
inline double cluster_logit(const NearestTwo& rank, const double* v, Index c) {
    return (c == rank.nearest ? rank.second : rank.lo) - v[c];
}

// Writes the assignment and the logits of every cluster for one row, where asked.
template <class T>
void write_ranking(const KMeansOutputs<T>& out, Index row, const NearestTwo& rank, const double* v, Index K) {
    if (out.assigned) out.assigned[row] = rank.nearest;
    if (out.logits_all) {
        T* f_all = out.logits_all + row * K;
        for (Index c = 0; c < K; ++c) f_all[c] = static_cast<T>(cluster_logit(rank, v, c));
    }
}

// The cluster a row is explained for, or -1 when the caller's target is out
// of range [0, K).
inline Index target_of(const TargetSpec& target, Index row, Index assigned, Index K) {
    Index c = assigned;
    if (target.per_row) c = static_cast<Index>(target.per_row[row]);
    else if (target.fixed >= 0) c = static_cast<Index>(target.fixed);
    return c >= 0 && c < K ? c : -1;
}

inline void throw_if_bad_input(const FirstBadRow& bad, Index first_row) {
    if (bad.any())
        throw std::invalid_argument("X contains NaN or infinity (first at row " + std::to_string(first_row + bad.row()) +
                                    ")");
}

inline void throw_if_bad_target(const FirstBadRow& bad, Index K, Index first_row) {
    if (bad.any())
        throw std::out_of_range("target out of range [0, " + std::to_string(K) + ") at row " +
                                std::to_string(first_row + bad.row()));
}

}  // namespace neon
