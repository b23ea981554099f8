// NEON for k-means (NEON_SPEC.md, section 1).
//
// The neuralized model of target cluster c:
//   layer 1  h_k = d(x, mu_k) - d(x, mu_c)              (linear in x)
//   layer 2  f_c = min_{k != c} h_k                      (hard min-pool)
// Explanation: soft-min redistribution of f_c onto the h_k (stiffness beta),
// then the midpoint rule onto the input features.  Computed per block of rows
// with one distance GEMM, O(K) scalar work per row and one relevance GEMM;
// the N x K x D tensor of contributions is never formed.
#pragma once

#include <limits>
#include <vector>

#include "outputs.hpp"
#include "parallel.hpp"
#include "pooling.hpp"
#include "prototypes.hpp"
#include "rows.hpp"

namespace neon {

class KMeansCore {
public:
    KMeansCore(const double* centroids, Index K, Index D, double eps_relative)
        : protos_(centroids, K, D), eps_relative_(eps_relative) {
        if (K < 2) throw std::invalid_argument("k-means needs at least 2 clusters");
        if (!(eps_relative >= 0.0) || !std::isfinite(eps_relative))
            throw std::invalid_argument("eps must be finite and >= 0");
        // Identical centroids define the same cluster twice: h between them
        // is 0 for every x and their midpoint-rule contribution is exactly
        // zero (w = 0), so each is mapped to its lowest-index twin.
        representative_.resize(K);
        for (Index k = 0; k < K; ++k) {
            representative_[k] = k;
            for (Index j = 0; j < k; ++j) {
                if (protos_.raw().row(j) == protos_.raw().row(k)) {
                    representative_[k] = j;
                    break;
                }
            }
        }
        eps_ = eps_relative_ * protos_.h_scale();
    }

    Index n_clusters() const { return protos_.size(); }
    Index n_features() const { return protos_.dim(); }
    double epsilon() const { return eps_; }
    const CenteredPrototypes& prototypes() const { return protos_; }

    // Rows per block: about 16K doubles of centred input per block, so a
    // block's scratch stays in L2.  Depends only on D, never on threads.
    static Index block_rows(Index D) {
        const Index rows = 16384 / std::max<Index>(D, 1);
        return std::min<Index>(std::max<Index>(rows, 16), 1024);
    }

    // Fills the outputs asked for in `out` for the rows of X.  `first_row`
    // is the index of X's first row in the caller's whole array; it only
    // makes error messages name rows the caller can find.
    template <class T>
    void evaluate(const RowsView<T>& X, const TargetSpec& target, double beta,
                  const KMeansOutputs<T>& out, int n_threads, Index first_row = 0) const;

private:
    CenteredPrototypes protos_;
    std::vector<Index> representative_;
    double eps_relative_;
    double eps_ = 0.0;

    struct Scratch {
        RowMatrix Z, E, A, G;
        Vector H, share;
    };
};

template <class T>
void KMeansCore::evaluate(const RowsView<T>& X, const TargetSpec& target, double beta,
                          const KMeansOutputs<T>& out, int n_threads, Index first_row) const {
    const Index N = X.n_rows, D = n_features(), K = n_clusters();
    if (X.n_cols != D) throw std::invalid_argument("X has the wrong number of features");
    const bool want_relevance = out.relevance.data != nullptr;
    if (want_relevance && !(beta > 0.0 && std::isfinite(beta)))
        throw std::invalid_argument("beta must be finite and > 0");
    const Index B = block_rows(D);
    const Index n_blocks = block_count(N, B);
    const int threads = resolve_thread_count(n_threads, n_blocks);

    std::vector<Scratch> scratch(threads);
    for (auto& s : scratch) {
        s.Z.resize(B, D);
        s.E.resize(B, K);
        if (want_relevance) {
            s.A.resize(B, K);
            s.G.resize(B, 2 * D);
            s.H.resize(K);
            s.share.resize(K);
        }
    }
    FirstBadRow bad_input(N), bad_target(N);

    for_each_block(n_blocks, threads, [&](Index b, int tid) {
        Scratch& s = scratch[tid];
        const Index r0 = b * B, rows = std::min(B, N - r0);
        if (!load_centered_block(X, r0, rows, protos_.center(), s.Z, bad_input)) return;
        distance_offsets(protos_, s.Z, rows, s.E);

        for (Index r = 0; r < rows; ++r) {
            const Index row = r0 + r;
            double* e = s.E.row(r).data();
            settle_near_ties(protos_, X, row, s.Z.row(r).norm(), e);
            for (Index k = 0; k < K; ++k) e[k] = e[representative_[k]];

            const NearestTwo rank = nearest_two(e, K);
            write_ranking(out, row, rank, e, K);
            const Index c = target_of(target, row, rank.nearest, K);
            if (c < 0) {
                bad_target.report(row);
                if (want_relevance) s.A.row(r).setZero();
                continue;
            }
            const double f = cluster_logit(rank, e, c);
            if (out.logit) out.logit[row] = static_cast<T>(f);
            if (!want_relevance) continue;

            // h_k = e_k - e_c; soft-min share R_k of f over the competitors;
            // then the midpoint-rule coefficients a_k = R_k / h_k, and
            // a_c = -sum_k a_k so that the coefficients sum to zero.
            double* h = s.H.data();
            double* share = s.share.data();
            double* a = s.A.row(r).data();
            for (Index k = 0; k < K; ++k) h[k] = e[k] - e[c];
            softmin_redistribute(h, K, f, beta, [c](Index k) { return k != c; }, share);
            const Index rep_c = representative_[c];
            double sum = 0.0;
            for (Index k = 0; k < K; ++k) {
                const bool twin = representative_[k] == rep_c;  // includes k == c
                a[k] = twin ? 0.0 : stabilized_ratio(share[k], h[k], eps_);
                sum += a[k];
            }
            a[c] = -sum;
        }
        if (want_relevance) midpoint_relevance(protos_, s.Z, s.A, rows, s.G, out.relevance, r0);
    });

    throw_if_bad_input(bad_input, first_row);
    throw_if_bad_target(bad_target, K, first_row);
}

}  // namespace neon
