// Binding of the kernel k-means NEON core (neon/kernel_kmeans.hpp).
#include "binding.hpp"

#include "neon/kernel_kmeans.hpp"

namespace neon_bind {
namespace {

using Labels = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using Support = py::array_t<double, py::array::c_style | py::array::forcecast>;

template <class T>
void evaluate_typed(const neon::KernelKMeansCore& core, const py::array_t<T, 0>& X, const py::object& targets,
                    std::int64_t fixed_target, double beta, const py::object& assigned, const py::object& logit,
                    const py::object& logits_all, const py::object& relevance, int n_threads, std::int64_t first_row,
                    const py::object& distances, const py::object& exclude) {
    const neon::RowsView<T> rows = rows_view(X, "X");
    const py::ssize_t N = rows.n_rows, K = core.n_clusters();
    const neon::TargetSpec target = target_spec(targets, fixed_target, N);
    neon::KernelKMeansOutputs<T> out;
    static_cast<neon::KMeansOutputs<T>&>(out) =
        model_outputs<T>(N, K, core.n_features(), assigned, logit, logits_all, relevance);
    if (!distances.is_none()) {
        auto a = optional_array<T>(distances, "distances");
        out.distances = flat_out(a, N * K, "distances");
    }
    const std::int64_t* left_out = per_row_indices(exclude, N, "exclude");

    // Every Python object is touched above; the arrays stay alive in the
    // caller's frame, so the kernel can run without the GIL (Ctrl-C stops it).
    run_interruptible([&] { core.evaluate(rows, target, beta, out, n_threads, first_row, left_out); });
}

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

    py::class_<neon::KernelKMeansCore>(
        m, "KernelKMeansCore",
        "Neuralized Gaussian kernel k-means over fixed support vectors (NEON_SPEC.md, section 2).")
        .def(
            py::init([](const Support& support, const Labels& labels, double gamma, double pool_stiffness, double eps) {
                if (support.ndim() != 2) throw std::invalid_argument("support vectors must be 2-D");
                if (labels.ndim() != 1 || labels.shape(0) != support.shape(0))
                    throw std::invalid_argument("labels must be 1-D with one entry per support vector");
                return new neon::KernelKMeansCore(support.data(), labels.data(), support.shape(0), support.shape(1),
                                                  gamma, pool_stiffness, eps);
            }),
            py::arg("support_vectors"), py::arg("labels"), py::arg("gamma"), py::arg("pool_stiffness"), py::arg("eps"))
        .def_property_readonly("n_clusters", &neon::KernelKMeansCore::n_clusters)
        .def_property_readonly("n_features", &neon::KernelKMeansCore::n_features)
        .def_property_readonly("n_support", &neon::KernelKMeansCore::n_support)
        .def_property_readonly("gamma", &neon::KernelKMeansCore::gamma)
        .def_property_readonly("pool_stiffness", &neon::KernelKMeansCore::pool_stiffness)
        .def_property_readonly("epsilon", &neon::KernelKMeansCore::epsilon,
                               "Absolute stabilizer eps of the midpoint rule (eps relative x scale of h).")
        .def_static("block_rows", &neon::KernelKMeansCore::block_rows, py::arg("n_features"), py::arg("n_support"),
                    py::arg("largest_cluster") = 0,
                    "Rows per block of the kernel for this many features and support vectors, and this many in "
                    "the largest cluster (0: n_support).")
        .def(
            "evaluate",
            [](const neon::KernelKMeansCore& core, const py::array& X, const py::object& targets,
               std::int64_t fixed_target, double beta, const py::object& assigned, const py::object& logit,
               const py::object& logits_all, const py::object& relevance, int n_threads, std::int64_t first_row,
               const py::object& distances, const py::object& exclude) {
                with_float_rows(X, [&](const auto& Xt) {
                    evaluate_typed(core, Xt, targets, fixed_target, beta, assigned, logit, logits_all, relevance,
                                   n_threads, first_row, distances, exclude);
                });
            },
            py::arg("X"), py::arg("targets"), py::arg("fixed_target"), py::arg("beta"), py::arg("assigned"),
            py::arg("logit"), py::arg("logits_all"), py::arg("relevance"), py::arg("n_threads"),
            py::arg("first_row") = 0, py::kw_only(), py::arg("distances") = py::none(), py::arg("exclude") = py::none(),
            "Assignment, logits, soft-min distances and NEON relevance of the rows of X, written into the "
            "given outputs (None: not computed). targets: int64 (N,) or None; fixed_target >= 0 explains "
            "that cluster for all rows; otherwise the assigned cluster. distances: (N, K) soft-min distances "
            "S_k(x). exclude: int64 (N,), a support vector (caller's order, -1 = none) left out of its "
            "cluster for each row (leave-one-out; no relevance then). first_row: index of X's first row "
            "in the caller's array, for error messages.");
}

}  // namespace neon_bind
