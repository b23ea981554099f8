// Bindings for the tests of the kernel k-means pair sums (neon/cauchy_sums.hpp);
// the model itself is bound in bind_prototype_core.cpp.
#include "binding.hpp"

#include "neon/cauchy_sums.hpp"

namespace neon_bind {
namespace {

using Support = py::array_t<double, py::array::c_style | py::array::forcecast>;

}  // namespace

void register_kernel_kmeans(py::module_& m) {
    // For the tests only: the layer-1 pair sums by one method, to compare
    // the tree code with the direct loop on adversarial layouts.
    m.def(
        "_cauchy_pair_sums",
        [](const Support& s, const Support& q, const Support& t, const Support& R, double eps, bool tree) {
            if (s.ndim() != 1 || q.ndim() != 1 || t.ndim() != 1 || R.ndim() != 1 || s.shape(0) != q.shape(0) ||
                t.shape(0) != R.shape(0))
                throw std::invalid_argument("s, q and t, R must be 1-D pairs of equal length");
            const py::ssize_t nI = s.shape(0), nJ = t.shape(0);
            for (py::ssize_t i = 1; i < nI; ++i)
                if (!(s.data()[i - 1] <= s.data()[i])) throw std::invalid_argument("s must be sorted ascending");
            Support rho(nJ), sigma(nI);
            {
                py::gil_scoped_release release;  // plain buffers from here on
                if (tree) {
                    neon::CauchyTree cauchy;
                    neon::tree_cauchy_sums(cauchy, s.data(), q.data(), nI, t.data(), R.data(), nJ, eps,
                                           rho.mutable_data(), sigma.mutable_data());
                } else {
                    neon::direct_cauchy_sums(s.data(), q.data(), nI, t.data(), R.data(), nJ, eps, rho.mutable_data(),
                                             sigma.mutable_data());
                }
            }
            return py::make_tuple(rho, sigma);
        },
        py::arg("s"), py::arg("q"), py::arg("t"), py::arg("R"), py::arg("eps"), py::arg("tree"),
        "rho_j = sum_i q_i / (t_j - s_i) and sigma_i = sum_j R_j / (t_j - s_i) over the pairs with "
        "|t_j - s_i| > eps, by the tree code or the direct loop (s sorted ascending). For tests.");
}

}  // namespace neon_bind
