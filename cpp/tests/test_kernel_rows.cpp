// C++ tests of the kernel k-means row kernels (neon/kernel_rows_kernel.hpp)
// that the Python tests reach only through whole explanations: the
// compaction of a competitor's kept members (keep_members), its inverse
// (expand_products) and the gathering of the target's weighted members
// (weighted_members), on every instruction set this CPU runs, bit for bit
// against a plain loop of the same rule, on adversarial layouts: nothing
// kept, everything kept, members exactly at the negligible-weight floor,
// absorbed members (q = 0), partly absorbed ones (0 < q < 1), pool weights
// below 1, sources exactly at the root expansion's separation rule, and
// lengths that leave every kind of partial last group.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "check.hpp"
#include "neon/cauchy_sums.hpp"
#include "neon/kernel_rows.hpp"
#include "supported_isas.hpp"

using neon::Index;
using neon_test::supported_isas;

namespace {

bool same_bits(double a, double b) {
    return std::memcmp(&a, &b, sizeof a) == 0;
}

struct Layout {
    std::vector<double> e, w, q;
    double floor, scale, pool, c, r, eps;
};

// Member j of n: distances around the root's separation rule |e - c| = 2 r
// (c = 10, r = 1: e = 12 and 8 are exactly on it), weights on both sides of
// the floor, and q by kind: 0 none absorbed, 1 all absorbed, 2 mixed, 3
// every member kept (whole groups of eight, the kernels' fast path).
Layout layout(Index n, int kind, double pool, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    Layout L{{}, {}, {}, 0.25, 1.5, pool, 10.0, 1.0, 1e-3};
    const double edges[] = {12.0, 8.0, 12.0 + 1e-3, 13.0, 10.5, 30.0, 8.0 - 1e-15, 11.999999999999998};
    for (Index j = 0; j < n; ++j) {
        L.e.push_back(j % 3 == 0 ? edges[j % 8] : 5.0 + 20.0 * u(rng));
        double q = 1.0;
        if (kind == 1) q = 0.0;
        if (kind == 2) q = j % 4 == 0 ? 0.0 : (j % 4 == 1 ? 1.0 : 0.25 + 0.5 * u(rng));
        L.q.push_back(q);
        // Exactly at the floor (floor q, kept), just below it, above it, 0.
        const double at = L.floor * q;
        const double w = j % 5 == 0 ? at : (j % 5 == 1 ? std::nextafter(at, 0.0) : (j % 5 == 2 ? 0.0 : u(rng)));
        L.w.push_back(kind == 3 ? at + u(rng) + 1e-3 : w);
    }
    return L;
}

}  // namespace

NEON_TEST(keep_members_and_expand_products_match_the_plain_rule_bit_for_bit_on_every_isa) {
    for (neon::Isa isa : supported_isas()) {
        const neon::KernelRowsKernelTable& k = neon::kernel_rows_kernels_for(isa);
        for (Index n : {0, 1, 7, 8, 9, 16, 17, 63, 250}) {
            for (int kind : {0, 1, 2, 3}) {
                for (double pool : {1.0, 0.375}) {
                    for (bool implicit : {false, true}) {  // q null: 1 where w > 0, else 0
                        Layout L = layout(n, kind, pool, static_cast<unsigned>(n * 7 + kind));
                        if (implicit)
                            for (Index j = 0; j < n; ++j) L.q[j] = L.w[j] > 0.0 ? 1.0 : 0.0;
                        // The plain rule.
                        std::vector<Index> J_ref;
                        std::vector<double> t_ref, R_ref;
                        bool served_ref = true;
                        for (Index j = 0; j < n; ++j) {
                            if (!(L.q[j] > 0.0) || !(L.w[j] >= L.floor * L.q[j])) continue;
                            J_ref.push_back(100 + j);
                            t_ref.push_back(L.e[j]);
                            R_ref.push_back(L.scale * L.w[j] / (L.pool * L.q[j]));
                            served_ref = served_ref && neon::cauchy_root_serves(L.e[j], L.c, L.r, L.eps);
                        }
                        if (kind == 1 && !implicit) NEON_CHECK(J_ref.empty());
                        if (kind == 3) NEON_CHECK(static_cast<Index>(J_ref.size()) == n);
                        const std::size_t room = static_cast<std::size_t>(n) + 8;
                        std::vector<Index> J(room, -7);
                        std::vector<double> t(room), R(room);
                        std::vector<unsigned char> masks(static_cast<std::size_t>(n / 8 + 1), 0xAA);
                        bool served = true;
                        const Index kept = k.keep_members(L.e.data(), L.w.data(), implicit ? nullptr : L.q.data(), n,
                                                          100, L.floor, L.scale, L.pool, L.c, L.r, L.eps, J.data(),
                                                          t.data(), R.data(), masks.data(), &served);
                        NEON_CHECK(kept == static_cast<Index>(J_ref.size()));
                        NEON_CHECK(served == served_ref);
                        for (Index p = 0; p < kept && p < static_cast<Index>(J_ref.size()); ++p) {
                            NEON_CHECK(J[p] == J_ref[p]);
                            NEON_CHECK(same_bits(t[p], t_ref[p]));
                            NEON_CHECK(same_bits(R[p], R_ref[p]));
                        }
                        // The inverse: the products back in place, 0 elsewhere
                        // (a starts as garbage: every member is written).
                        std::vector<double> u(room), a(static_cast<std::size_t>(n), -3.0);
                        for (std::size_t p = 0; p < u.size(); ++p) u[p] = 0.5 + static_cast<double>(p);
                        k.expand_products(masks.data(), n, R.data(), u.data(), a.data());
                        Index p = 0;
                        for (Index j = 0; j < n; ++j) {
                            const bool is_kept = p < kept && J_ref[p] == 100 + j;
                            NEON_CHECK(same_bits(a[j], is_kept ? R_ref[p] * u[p] : 0.0));
                            p += is_kept;
                        }
                    }
                }
            }
        }
    }
}

NEON_TEST(weighted_members_gathers_exactly_the_weighted_target_members_on_every_isa) {
    for (neon::Isa isa : supported_isas()) {
        const neon::KernelRowsKernelTable& k = neon::kernel_rows_kernels_for(isa);
        for (Index n : {0, 1, 7, 8, 9, 17, 250}) {
            for (int kind : {0, 1, 2}) {  // every weight > 0, none, mixed (0, the smallest subnormal, 1)
                std::vector<double> e, w;
                for (Index j = 0; j < n; ++j) {
                    e.push_back(3.0 * static_cast<double>((j * 37) % 11) - 7.5);
                    const double mixed[] = {0.0, 0x1p-1074, 1.0, 0.3};
                    w.push_back(kind == 0 ? 0.25 + static_cast<double>(j) : (kind == 1 ? 0.0 : mixed[j % 4]));
                }
                const double total = 3.7;
                const std::size_t room = static_cast<std::size_t>(n) + 8;
                std::vector<Index> I(room, -1);
                std::vector<double> s(room), q(room);
                const Index count = k.weighted_members(e.data(), w.data(), n, 40, total, I.data(), s.data(), q.data());
                Index p = 0;
                for (Index j = 0; j < n; ++j) {
                    if (!(w[j] > 0.0)) continue;
                    NEON_CHECK(p < count && I[p] == 40 + j && same_bits(s[p], e[j]) && same_bits(q[p], w[j] / total));
                    ++p;
                }
                NEON_CHECK(count == p);
                if (kind == 1) NEON_CHECK(count == 0);
            }
        }
    }
}
