// What the prototype model computes for a set of rows, and for which target
// cluster, and the checks of its results: shared by both evaluators.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "parallel.hpp"
#include "prototypes.hpp"
#include "rows.hpp"

namespace neon {

// Where an evaluator writes; null pointers are outputs not asked for.
template <class T>
struct ModelOutputs {
    std::int64_t* assigned = nullptr;  // N
    T* logit = nullptr;                // N: f_target(x)
    T* logits_all = nullptr;           // N x K, row-major: f_c(x) for every c
    RowsOut<T> relevance{};            // N x D (data == nullptr: not asked for)
    T* distances = nullptr;            // N x K, row-major: soft-min distance S_k(x)
    // N x n_prototypes, row-major, in the caller's prototype order: each row's
    // midpoint-rule coefficients (the z-space factors that affine.hpp maps
    // to input features); computed like the relevance, also without it.
    double* coefficients = nullptr;
    // For the pair-level stage of affine.hpp (clusters of several
    // prototypes), N x M each in the caller's order: the layer-2/3 weights
    // (q_i of the target's members, R_j of the competitors' members; 0 for
    // skipped ones) and the distance offsets e_j (h_ij = e_j - e_i).  Need
    // `coefficients`.
    double* pair_weights = nullptr;
    double* pair_offsets = nullptr;
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

// A float64 result stored as T, or 0 with the row reported when T cannot
// hold it (overflow; NaN from a singular midpoint rule with eps = 0).
template <class T>
inline T representable(double v, Index row, FirstBadRow& bad) {
    if (fits_in<T>(v)) return static_cast<T>(v);
    bad.report(row);
    return T(0);
}

// Writes the assignment and the logits of every cluster for one row, where
// asked; logits beyond the range of T are reported to `unrepresentable`.
template <class T>
void write_ranking(const ModelOutputs<T>& out, Index row, const NearestTwo& rank, const double* v, Index K,
                   FirstBadRow& unrepresentable) {
    if (out.assigned) out.assigned[row] = rank.nearest;
    if (out.logits_all) {
        T* f_all = out.logits_all + row * K;
        for (Index c = 0; c < K; ++c) f_all[c] = representable<T>(cluster_logit(rank, v, c), row, unrepresentable);
    }
}

// The cluster a row is explained for, or -1 when the caller's target is out
// of range [0, K).
inline Index target_of(const TargetSpec& target, Index row, Index assigned, Index K) {
    Index c = assigned;
    if (target.per_row)
        c = static_cast<Index>(target.per_row[row]);
    else if (target.fixed >= 0)
        c = static_cast<Index>(target.fixed);
    return c >= 0 && c < K ? c : -1;
}

inline void throw_if_bad_input(const FirstBadRow& bad, Index first_row) {
    if (bad.any())
        throw std::invalid_argument("X contains NaN or infinity (first at row " +
                                    std::to_string(first_row + bad.row()) + ")");
}

// A row too far from the prototypes: its distance products overflow.
inline void throw_if_too_far(const FirstBadRow& bad, Index first_row, const char* prototypes) {
    if (bad.any())
        throw std::invalid_argument("X row " + std::to_string(first_row + bad.row()) + " is too far from the " +
                                    prototypes + ": its squared distances to them exceed the float64 range");
}

// A row whose logit, relevance or distances are not finite in the output type.
template <class T>
void throw_if_unrepresentable(const FirstBadRow& bad, Index first_row, double eps) {
    if (!bad.any()) return;
    const bool single = sizeof(T) == 4;
    std::string msg = "the logit or relevance of X row " + std::to_string(first_row + bad.row()) +
                      " is not finite in " + (single ? "float32" : "float64") +
                      (single ? " (beyond 3.4e38; explain float64 data instead)" : " (beyond 1.8e308)");
    if (eps == 0.0)
        msg +=
            ", or the row lies exactly on a decision boundary between the explained cluster and a "
            "competitor, where the midpoint rule is singular without a stabilizer: use eps > 0";
    throw std::invalid_argument(msg);
}

inline void throw_if_bad_target(const FirstBadRow& bad, Index K, Index first_row) {
    if (bad.any())
        throw std::out_of_range("target out of range [0, " + std::to_string(K) + ") at row " +
                                std::to_string(first_row + bad.row()));
}

}  // namespace neon
