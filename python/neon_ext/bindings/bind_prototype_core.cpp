// Binding of the one compiled model core (neon/prototype_core.hpp): both
// neuralized models, k-means (one prototype per cluster) and kernel k-means,
// are a PrototypeCore.
#include "binding.hpp"

#include <pybind11/stl.h>

#include <cmath>
#include <optional>

#include "neon/prototype_core.hpp"

namespace neon_bind {
namespace {

using Labels = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using Prototypes = py::array_t<double, py::array::c_style | py::array::forcecast>;

// None -> the model's "not given" (PrototypeModel::kNoGamma).
double optional_width(const py::object& o) {
    return o.is_none() ? neon::PrototypeModel::kNoGamma : o.cast<double>();
}

std::optional<double> width_or_none(double v) {
    return std::isnan(v) ? std::nullopt : std::optional<double>(v);
}

template <class T>
void evaluate_typed(const neon::PrototypeCore& core, const py::array_t<T, 0>& X, const py::object& targets,
                    std::int64_t fixed_target, double beta, const py::object& assigned, const py::object& logit,
                    const py::object& logits_all, const py::object& relevance, int n_threads, std::int64_t first_row,
                    const py::object& distances, const py::object& exclude, neon::Isa isa) {
    const neon::RowsView<T> rows = rows_view(X, "X");
    const py::ssize_t N = rows.n_rows, K = core.n_clusters();
    const neon::TargetSpec target = target_spec(targets, fixed_target, N);
    neon::ModelOutputs<T> out = model_outputs<T>(N, K, core.n_features(), assigned, logit, logits_all, relevance);
    if (!distances.is_none()) {
        auto a = optional_array<T>(distances, "distances");
        out.distances = flat_out(a, N * K, "distances");
    }
    const std::int64_t* left_out = per_row_indices(exclude, N, "exclude");

    // Every Python object is touched above; the arrays stay alive in the
    // caller's frame, so the kernel can run without the GIL (Ctrl-C stops it).
    run_interruptible([&] { core.evaluate(rows, target, beta, out, n_threads, first_row, left_out, isa); });
}

}  // namespace

void register_prototype_core(py::module_& m) {
    py::class_<neon::PrototypeCore>(
        m, "PrototypeCore",
        "The neuralized model over prototypes with cluster labels (NEON_SPEC.md sections 1 and 2): k-means "
        "(one prototype per cluster) or Gaussian kernel k-means (soft-min distance over each cluster's support "
        "vectors). Clusters of one prototype each run on the fused k-means kernel.")
        .def(py::init([](const Prototypes& prototypes, const py::object& labels, const py::object& gamma,
                         const py::object& pool_stiffness, double eps, bool fused) {
                 if (prototypes.ndim() != 2) throw std::invalid_argument("prototypes must be 2-D");
                 Labels L;
                 if (!labels.is_none()) {
                     L = labels.cast<Labels>();
                     if (L.ndim() != 1 || L.shape(0) != prototypes.shape(0))
                         throw std::invalid_argument("labels must be 1-D with one entry per prototype");
                 }
                 return new neon::PrototypeCore(prototypes.data(), labels.is_none() ? nullptr : L.data(),
                                                prototypes.shape(0), prototypes.shape(1), optional_width(gamma),
                                                optional_width(pool_stiffness), eps, fused);
             }),
             py::arg("prototypes"), py::arg("labels") = py::none(), py::kw_only(), py::arg("gamma") = py::none(),
             py::arg("pool_stiffness") = py::none(), py::arg("eps"), py::arg("fused") = true,
             "prototypes (M, D); labels (M,) cluster indices 0..K-1, every cluster non-empty, or None for one "
             "prototype per cluster in the given order (k-means); gamma: kernel width (needed when a cluster has "
             "several prototypes); pool_stiffness: gamma' of the explanation (None: gamma); eps: stabilizer "
             "relative to the prototypes' squared spread. fused=False runs every output on the pooled evaluator "
             "(for tests and benchmarks).")
        .def_property_readonly(
            "prototypes",
            [](const py::object& self) -> py::array_t<double> {
                const neon::PrototypeModel& model = self.cast<const neon::PrototypeCore&>().model();
                const auto& raw = model.prototypes().raw();
                const py::ssize_t M = raw.rows(), D = raw.cols();
                if (!model.identity_order()) {  // back to the caller's order: a new array
                    py::array_t<double> out({M, D});
                    for (py::ssize_t t = 0; t < M; ++t)
                        std::copy_n(raw.row(model.positions()[t]).data(), D, out.mutable_data(t, 0));
                    return out;
                }
                // A read-only view of the core's own float64 copy (kept alive by the view):
                // the Python model holds no second copy of the centroids.
                py::array_t<double> view(
                    {M, D}, {D * static_cast<py::ssize_t>(sizeof(double)), static_cast<py::ssize_t>(sizeof(double))},
                    raw.data(), self);
                py::detail::array_proxy(view.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
                return view;
            },
            "The prototypes (float64, M x D) in the order given: a read-only view of the core's copy when "
            "they were given in cluster order (k-means), else a copy.")
        .def_property_readonly("n_clusters", &neon::PrototypeCore::n_clusters)
        .def_property_readonly("n_features", &neon::PrototypeCore::n_features)
        .def_property_readonly("n_prototypes", &neon::PrototypeCore::n_prototypes)
        .def_property_readonly(
            "gamma", [](const neon::PrototypeCore& core) { return width_or_none(core.model().gamma()); },
            "Kernel width, or None (one prototype per cluster, none given).")
        .def_property_readonly(
            "pool_stiffness",
            [](const neon::PrototypeCore& core) { return width_or_none(core.model().pool_stiffness()); },
            "gamma' of the explanation's pools, or None.")
        .def_property_readonly("epsilon", &neon::PrototypeCore::epsilon,
                               "Absolute stabilizer eps of the midpoint rule (eps relative x scale of h).")
        .def_property_readonly("fused", &neon::PrototypeCore::fused,
                               "Whether every cluster has one prototype, so that assignment, logits and relevance "
                               "run on the fused k-means kernel.")
        .def("block_rows", &neon::PrototypeCore::block_rows, py::arg("n_features"),
             "Rows per block of the evaluator that explains rows of this many features.")
        .def(
            "evaluate",
            [](const neon::PrototypeCore& core, const py::array& X, const py::object& targets,
               std::int64_t fixed_target, double beta, const py::object& assigned, const py::object& logit,
               const py::object& logits_all, const py::object& relevance, int n_threads, std::int64_t first_row,
               const std::string& isa_name, const py::object& distances, const py::object& exclude) {
                const neon::Isa isa = neon::parse_isa(isa_name);
                with_float_rows(X, [&](const auto& Xt) {
                    evaluate_typed(core, Xt, targets, fixed_target, beta, assigned, logit, logits_all, relevance,
                                   n_threads, first_row, distances, exclude, isa);
                });
            },
            py::arg("X"), py::arg("targets"), py::arg("fixed_target"), py::arg("beta"), py::arg("assigned"),
            py::arg("logit"), py::arg("logits_all"), py::arg("relevance"), py::arg("n_threads"),
            py::arg("first_row") = 0, py::arg("isa") = "auto", py::kw_only(), py::arg("distances") = py::none(),
            py::arg("exclude") = py::none(),
            "Assignment, logits, soft-min distances and NEON relevance of the rows of X, written into the "
            "given outputs (None: not computed). targets: int64 (N,) or None; fixed_target >= 0 explains "
            "that cluster for all rows; otherwise the assigned cluster. distances: (N, K) soft-min distances "
            "S_k(x). exclude: int64 (N,), a prototype (given order, -1 = none) left out of its cluster for "
            "each row (leave-one-out; no relevance then). first_row: index of X's first row in the caller's "
            "array, for error messages. isa: which compiled fused kernels run ('auto': the best this CPU "
            "supports; 'portable', 'avx2', 'avx512'), for tests and benchmarks.");
}

}  // namespace neon_bind
