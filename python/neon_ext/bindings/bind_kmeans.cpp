// Binding of the k-means NEON core (neon/kmeans.hpp).
#include "binding.hpp"

#include "neon/kmeans.hpp"

namespace neon_bind {
namespace {

template <class T>
void evaluate_typed(const neon::KMeansCore& core, const py::array_t<T, 0>& X, const py::object& targets,
                    std::int64_t fixed_target, double beta, const py::object& assigned, const py::object& logit,
                    const py::object& logits_all, const py::object& relevance, int n_threads, std::int64_t first_row,
                    neon::Isa isa) {
    const neon::RowsView<T> rows = rows_view(X, "X");
    const py::ssize_t N = rows.n_rows;
    const neon::TargetSpec target = target_spec(targets, fixed_target, N);
    const auto out = model_outputs<T>(N, core.n_clusters(), core.n_features(), assigned, logit, logits_all, relevance);

    // Every Python object is touched above; the arrays stay alive in this
    // frame, so the kernel can run without the GIL (Ctrl-C stops it).
    run_interruptible([&] { core.evaluate(rows, target, beta, out, n_threads, first_row, isa); });
}

}  // namespace

void register_kmeans(py::module_& m) {
    py::class_<neon::KMeansCore>(m, "KMeansCore", "Neuralized k-means over fixed centroids (NEON_SPEC.md, section 1).")
        .def(py::init([](const py::array_t<double, py::array::c_style | py::array::forcecast>& centroids, double eps) {
                 if (centroids.ndim() != 2) throw std::invalid_argument("centroids must be 2-D");
                 return new neon::KMeansCore(centroids.data(), centroids.shape(0), centroids.shape(1), eps);
             }),
             py::arg("centroids"), py::arg("eps"))
        .def_property_readonly(
            "centroids",
            [](const py::object& self) {
                // A read-only view of the core's own float64 copy (kept alive by the view):
                // the Python model holds no second copy of the centroids.
                const auto& raw = self.cast<const neon::KMeansCore&>().prototypes().raw();
                const py::ssize_t K = raw.rows(), D = raw.cols();
                py::array_t<double> view(
                    {K, D}, {D * static_cast<py::ssize_t>(sizeof(double)), static_cast<py::ssize_t>(sizeof(double))},
                    raw.data(), self);
                py::detail::array_proxy(view.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
                return view;
            },
            "The centroids (float64, K x D), a read-only view of the core's copy.")
        .def_property_readonly("n_clusters", &neon::KMeansCore::n_clusters)
        .def_property_readonly("n_features", &neon::KMeansCore::n_features)
        .def_property_readonly("epsilon", &neon::KMeansCore::epsilon,
                               "Absolute stabilizer eps of the midpoint rule (eps relative x scale of h).")
        .def_static("block_rows", &neon::KMeansCore::block_rows, py::arg("n_features"),
                    "Rows per block of the kernel for this many features.")
        .def(
            "evaluate",
            [](const neon::KMeansCore& core, const py::array& X, const py::object& targets, std::int64_t fixed_target,
               double beta, const py::object& assigned, const py::object& logit, const py::object& logits_all,
               const py::object& relevance, int n_threads, std::int64_t first_row, const std::string& isa_name) {
                const neon::Isa isa = neon::parse_isa(isa_name);
                with_float_rows(X, [&](const auto& Xt) {
                    evaluate_typed(core, Xt, targets, fixed_target, beta, assigned, logit, logits_all, relevance,
                                   n_threads, first_row, isa);
                });
            },
            py::arg("X"), py::arg("targets"), py::arg("fixed_target"), py::arg("beta"), py::arg("assigned"),
            py::arg("logit"), py::arg("logits_all"), py::arg("relevance"), py::arg("n_threads"),
            py::arg("first_row") = 0, py::arg("isa") = "auto",
            "Assignment, logits and NEON relevance of the rows of X, written into the given outputs "
            "(None: not computed). targets: int64 (N,) or None; fixed_target >= 0 explains that "
            "cluster for all rows; otherwise the assigned cluster. first_row: index of X's first row "
            "in the caller's array, for error messages. isa: which compiled kernels run ('auto': the "
            "best this CPU supports; 'portable', 'avx2', 'avx512'), for tests and benchmarks.");
}

}  // namespace neon_bind
