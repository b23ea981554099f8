// C++ tests of the pair sums' series kernels (neon/pair_sums_kernel.hpp) for
// every instruction set this CPU runs, against plain loops, and of the fast
// sums (neon/cauchy_sums.hpp) against the direct loop.  Buffers are
// exact-size std::vectors, so the kernels' padded last blocks are checked
// by the sanitizer build too.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "check.hpp"
#include "neon/cauchy_sums.hpp"
#include "supported_isas.hpp"

using neon::Index;
using neon_test::supported_isas;

namespace {

std::vector<double> uniform(Index n, double lo, double hi, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(lo, hi);
    std::vector<double> v(static_cast<std::size_t>(n));
    for (double& x : v) x = u(rng);
    return v;
}

}  // namespace

NEON_TEST(series_power_sums_and_horner_match_plain_loops_on_every_isa) {
    for (neon::Isa isa : supported_isas()) {
        const neon::PairSumsKernelTable& k = neon::pair_sums_kernels_for(isa);
        for (Index n : {0, 1, 7, 31, 33, 100}) {
            for (int P : {1, 17, neon::kSeriesMaxTerms}) {
                const std::vector<double> x = uniform(n, -0.5, 0.5, 1), w = uniform(n, -1.0, 1.0, 2);
                std::vector<double> sums(static_cast<std::size_t>(P));
                k.power_sums(x.data(), w.data(), n, P, sums.data());
                for (int p = 0; p < P; ++p) {
                    double ref = 0.0, scale = 0.0;
                    for (Index i = 0; i < n; ++i) {
                        ref += w[i] * std::pow(x[i], p);
                        scale += std::abs(w[i] * std::pow(x[i], p));
                    }
                    NEON_CHECK(std::abs(sums[p] - ref) <= 1e-14 * scale + 1e-300);
                }
                const std::vector<double> c = uniform(P, -1.0, 1.0, 3), scale = uniform(n, 0.5, 2.0, 4);
                std::vector<double> out(static_cast<std::size_t>(n)), plain(static_cast<std::size_t>(n));
                k.evaluate_series(x.data(), scale.data(), n, c.data(), P, out.data());
                k.evaluate_series(x.data(), nullptr, n, c.data(), P, plain.data());
                for (Index i = 0; i < n; ++i) {
                    double ref = 0.0, size = 0.0;
                    for (int p = 0; p < P; ++p) {
                        ref += c[p] * std::pow(x[i], p);
                        size += std::abs(c[p] * std::pow(x[i], p));
                    }
                    NEON_CHECK(std::abs(plain[i] - ref) <= 1e-14 * size);
                    NEON_CHECK(std::abs(out[i] - ref * scale[i]) <= 1e-14 * size * scale[i]);
                }
            }
        }
    }
}

NEON_TEST(series_sources_takes_exactly_the_far_and_kept_sources_on_every_isa) {
    // c = 0, r = 1, ratio limit 1/4: in iff |t| >= 4 and (|t| - 1)(1 - 2^-48) > eps.
    const std::vector<double> t = {0.0, 3.9, -3.9, 4.0, -4.0, 10.0, -1e300, 5.0, 2.0, -8.0, 1e-300};
    const std::vector<double> R(t.size(), 2.0);
    for (neon::Isa isa : supported_isas()) {
        const neon::PairSumsKernelTable& k = neon::pair_sums_kernels_for(isa);
        for (double eps : {0.0, 3.5, 4.5}) {
            const Index n = static_cast<Index>(t.size());
            std::vector<double> x(t.size()), inv(t.size()), w(t.size());
            std::ptrdiff_t count = -1;
            const double largest =
                k.series_sources(t.data(), R.data(), n, 0.0, 1.0, 0.25, eps, x.data(), inv.data(), w.data(), &count);
            std::ptrdiff_t expected = 0;
            double expected_largest = 0.0;
            for (Index j = 0; j < n; ++j) {
                const double far = std::abs(t[j]);
                const bool in = 1.0 <= 0.25 * far && (far - 1.0) * (1.0 - 0x1p-48) > eps;
                expected += in;
                NEON_CHECK((inv[j] != 0.0) == in);
                if (in) {
                    NEON_CHECK(inv[j] == 1.0 / t[j] && x[j] == inv[j] && w[j] == 2.0 * inv[j]);
                    expected_largest = std::max(expected_largest, std::abs(x[j]));
                } else {
                    NEON_CHECK(x[j] == 0.0 && w[j] == 0.0);
                }
            }
            NEON_CHECK(count == expected);
            NEON_CHECK(largest == expected_largest);
        }
    }
}

NEON_TEST(fast_pair_sums_match_the_direct_loop_apart_and_interleaved) {
    neon::CauchyTree tree;  // reused across calls, as per row in the model
    for (int layout = 0; layout < 3; ++layout) {
        std::vector<double> s = uniform(300, 100.0, 200.0, 5), q = uniform(300, 0.0, 1.0, 6);
        std::sort(s.begin(), s.end());
        const double lo = layout == 0 ? 500.0 : 0.0, hi = layout == 2 ? 300.0 : 900.0;
        const std::vector<double> t = uniform(2000, lo, hi, 7), R = uniform(2000, -1.0, 1.0, 8);
        std::vector<double> rho(2000), sigma(300), rho_d(2000), sigma_d(300);
        neon::tree_cauchy_sums(tree, s.data(), q.data(), 300, t.data(), R.data(), 2000, 1e-12, rho.data(),
                               sigma.data());
        neon::direct_cauchy_sums(s.data(), q.data(), 300, t.data(), R.data(), 2000, 1e-12, rho_d.data(),
                                 sigma_d.data());
        for (Index j = 0; j < 2000; ++j) {
            double scale = 0.0;
            for (Index i = 0; i < 300; ++i) scale += q[i] / std::abs(t[j] - s[i]);
            NEON_CHECK(std::abs(rho[j] - rho_d[j]) <= 1e-12 * scale);
        }
        for (Index i = 0; i < 300; ++i) {
            double scale = 0.0;
            for (Index j = 0; j < 2000; ++j) scale += std::abs(R[j]) / std::abs(t[j] - s[i]);
            NEON_CHECK(std::abs(sigma[i] - sigma_d[i]) <= 1e-12 * scale);
        }
    }
}
