// C++ tests of NEON through an affine feature map (neon/affine.hpp): exact
// conservation through a dimension-reducing map, a diagonal map equal to the
// model on the mapped rows, thread invariance, and the refusals.  Buffers
// are exact-size std::vectors (sanitizer build: scripts/run_sanitizers.sh).
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include <Eigen/QR>

#include "check.hpp"
#include "neon/affine.hpp"

using neon::Index;

namespace {

struct Problem {
    Index N, Din, Dz, K;
    std::vector<double> A, xc, b, B, C, X;
};

// z = A (x - xc) + b with A = V diag(1/s) (orthonormal V rows: a scaler then
// PCA), B = diag(s) V^T its right inverse; K centroids in z.
Problem make_problem(Index N, Index Din, Index Dz, Index K, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal;
    Problem p{N, Din, Dz, K, {}, {}, {}, {}, {}, {}};
    neon::RowMatrix G(Din, Dz);
    for (Index i = 0; i < Din; ++i)
        for (Index j = 0; j < Dz; ++j) G(i, j) = normal(rng);
    const Eigen::HouseholderQR<neon::RowMatrix> qr(G);
    const neon::RowMatrix V = qr.householderQ() * neon::RowMatrix::Identity(Din, Dz);  // Din x Dz, orthonormal columns
    std::vector<double> s(Din);
    for (auto& v : s) v = std::exp(normal(rng));
    p.A.resize(Dz * Din);
    p.B.resize(Din * Dz);
    for (Index j = 0; j < Dz; ++j)
        for (Index i = 0; i < Din; ++i) {
            p.A[j * Din + i] = V(i, j) / s[i];
            p.B[i * Dz + j] = s[i] * V(i, j);
        }
    for (Index i = 0; i < Din; ++i) p.xc.push_back(100.0 + 10.0 * normal(rng));
    for (Index j = 0; j < Dz; ++j) p.b.push_back(normal(rng));
    for (Index t = 0; t < K * Dz; ++t) p.C.push_back(2.0 * normal(rng));
    for (Index t = 0; t < N * Din; ++t) p.X.push_back(p.xc[t % Din] + 3.0 * s[t % Din] * normal(rng));
    return p;
}

neon::RowsView<double> view(const std::vector<double>& x, Index N, Index D) {
    neon::RowsView<double> v;
    v.data = x.data();
    v.n_rows = N;
    v.n_cols = D;
    v.row_stride = D;
    return v;
}

struct Outputs {
    std::vector<std::int64_t> assigned;
    std::vector<double> logit, relevance;
};

Outputs explain(const neon::AffineCore& affine, const std::vector<double>& X, Index N, Index D, int threads) {
    Outputs o{std::vector<std::int64_t>(N), std::vector<double>(N), std::vector<double>(N * D)};
    neon::ModelOutputs<double> out;
    out.assigned = o.assigned.data();
    out.logit = o.logit.data();
    out.relevance.data = o.relevance.data();
    out.relevance.row_stride = D;
    affine.evaluate(view(X, N, D), neon::TargetSpec{}, 0.5, out, threads);
    return o;
}

}  // namespace

NEON_TEST(affine_kmeans_conserves_and_matches_the_model_on_z) {
    const Problem p = make_problem(300, 12, 4, 5, 7);
    const neon::PrototypeCore core(p.C.data(), p.K, p.Dz, 0.0);
    const neon::AffineCore affine(core,
                                  neon::AffineFeatureMap(p.A.data(), p.xc.data(), p.b.data(), p.B.data(), p.Dz, p.Din));
    const Outputs o = explain(affine, p.X, p.N, p.Din, 1);
    // The model on z directly: same assignments and logits.
    std::vector<double> Z(p.N * p.Dz);
    for (Index r = 0; r < p.N; ++r)
        for (Index j = 0; j < p.Dz; ++j) {
            double z = p.b[j];
            for (Index i = 0; i < p.Din; ++i) z += p.A[j * p.Din + i] * (p.X[r * p.Din + i] - p.xc[i]);
            Z[r * p.Dz + j] = z;
        }
    std::vector<std::int64_t> assigned(p.N);
    std::vector<double> logit(p.N);
    neon::ModelOutputs<double> zout;
    zout.assigned = assigned.data();
    zout.logit = logit.data();
    core.evaluate(view(Z, p.N, p.Dz), neon::TargetSpec{}, 0.5, zout, 1);
    for (Index r = 0; r < p.N; ++r) {
        NEON_CHECK(o.assigned[r] == assigned[r]);
        NEON_CHECK_CLOSE(o.logit[r], logit[r], 1e-12, 1e-12);
        double sum = 0.0, abs_sum = 0.0;
        for (Index i = 0; i < p.Din; ++i) {
            sum += o.relevance[r * p.Din + i];
            abs_sum += std::abs(o.relevance[r * p.Din + i]);
        }
        NEON_CHECK(std::abs(sum - o.logit[r]) <= 1e-12 * abs_sum);
    }
    // Thread counts give the same bits.
    const Outputs o2 = explain(affine, p.X, p.N, p.Din, 2);
    NEON_CHECK(o2.relevance == o.relevance);
}

NEON_TEST(affine_diagonal_map_equals_the_model_on_the_mapped_rows) {
    const Index N = 64, D = 3, K = 3;
    const std::vector<double> C = {0, 0, 0, 4, 1, 0, 0, 3, 2};
    const std::vector<double> A = {0.5, 0, 0, 0, 2, 0, 0, 0, -1}, B = {2, 0, 0, 0, 0.5, 0, 0, 0, -1};
    const std::vector<double> xc = {1, -2, 3}, b = {0, 0, 0};
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> u(-5, 5);
    std::vector<double> X(N * D), Z(N * D);
    for (Index r = 0; r < N; ++r)
        for (Index i = 0; i < D; ++i) {
            X[r * D + i] = u(rng);
            Z[r * D + i] = A[i * D + i] * (X[r * D + i] - xc[i]);
        }
    const neon::PrototypeCore core(C.data(), K, D, 0.0);
    const neon::AffineCore affine(core, neon::AffineFeatureMap(A.data(), xc.data(), b.data(), B.data(), D, D));
    const Outputs o = explain(affine, X, N, D, 1);
    std::vector<double> R(N * D);
    neon::ModelOutputs<double> zout;
    zout.relevance.data = R.data();
    zout.relevance.row_stride = D;
    core.evaluate(view(Z, N, D), neon::TargetSpec{}, 0.5, zout, 1);
    for (Index t = 0; t < N * D; ++t) NEON_CHECK_CLOSE(o.relevance[t], R[t], 1e-10, 1e-12);
}

NEON_TEST(affine_refuses_a_map_without_right_inverse_and_wrong_widths) {
    const std::vector<double> A = {1, 0, 1, 0}, B = {1, 0, 0, 1}, xc = {0, 0}, b = {0, 0};  // rows equal: rank 1
    NEON_CHECK_THROWS(neon::AffineFeatureMap(A.data(), xc.data(), b.data(), B.data(), 2, 2), std::invalid_argument,
                      "right inverse");
    const std::vector<double> C = {0, 0, 0, 1, 1, 1};
    const neon::PrototypeCore core(C.data(), 2, 3, 0.0);
    const std::vector<double> I = {1, 0, 0, 1};
    NEON_CHECK_THROWS(neon::AffineCore(core, neon::AffineFeatureMap(I.data(), xc.data(), b.data(), I.data(), 2, 2)),
                      std::invalid_argument, "feature map produces 2");
}
