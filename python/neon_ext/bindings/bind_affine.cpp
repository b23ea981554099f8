// Binding of the input-space NEON stage for affine feature maps
// (neon/affine.hpp) over the model core, with the same `evaluate` as the core
// itself, so the Python model driving it is the shared one.
#include "binding.hpp"

#include "neon/affine.hpp"

namespace neon_bind {
namespace {

using Matrix = py::array_t<double, py::array::c_style | py::array::forcecast>;

neon::AffineFeatureMap feature_map(const Matrix& A, const Matrix& x_center, const Matrix& b, const Matrix& B) {
    if (A.ndim() != 2 || x_center.ndim() != 1 || b.ndim() != 1 || B.ndim() != 2 || x_center.shape(0) != A.shape(1) ||
        b.shape(0) != A.shape(0) || B.shape(0) != A.shape(1) || B.shape(1) != A.shape(0))
        throw std::invalid_argument("A must be (D_z, D_in), x_center (D_in,), b (D_z,) and B (D_in, D_z)");
    return neon::AffineFeatureMap(A.data(), x_center.data(), b.data(), B.data(), A.shape(0), A.shape(1));
}

}  // namespace

void register_affine(py::module_& m) {
    using Affine = neon::AffineCore;
    py::class_<Affine>(m, "AffineCore",
                       "A neuralized model on z = A (x - x_center) + b, explained on x (NEON_SPEC.md section 6).")
        .def(py::init([](const neon::PrototypeCore& core, const Matrix& A, const Matrix& x_center, const Matrix& b,
                         const Matrix& B) { return new Affine(core, feature_map(A, x_center, b, B)); }),
             py::arg("core"), py::arg("A"), py::arg("x_center"), py::arg("b"), py::arg("B"), py::keep_alive<1, 2>())
        .def_property_readonly("n_features", &Affine::n_features)
        .def_property_readonly("n_clusters", &Affine::n_clusters)
        .def_property_readonly("epsilon", &Affine::epsilon, "The model core's absolute stabilizer.")
        .def_property_readonly("block_rows", &Affine::block_rows, "Rows per block (the model core's).")
        .def_property_readonly("pair_level", &Affine::pair_level,
                               "Whether relevance needs the per-row pair accumulator (kernel k-means through a "
                               "map whose cross term does not vanish, e.g. whitened PCA).")
        .def(
            "evaluate",
            [](const Affine& core, const py::array& X, const py::object& targets, std::int64_t fixed_target,
               double beta, const py::object& assigned, const py::object& logit, const py::object& logits_all,
               const py::object& relevance, int n_threads, std::int64_t first_row) {
                with_float_rows(X, [&](const auto& Xt) {
                    using T = typename std::decay_t<decltype(Xt)>::value_type;
                    const neon::RowsView<T> rows = rows_view(Xt, "X");
                    const py::ssize_t N = rows.n_rows;
                    const neon::TargetSpec target = target_spec(targets, fixed_target, N);
                    const auto out = model_outputs<T>(N, core.n_clusters(), core.n_features(), assigned, logit,
                                                      logits_all, relevance);
                    run_interruptible([&] { core.evaluate(rows, target, beta, out, n_threads, first_row); });
                });
            },
            py::arg("X"), py::arg("targets"), py::arg("fixed_target"), py::arg("beta"), py::arg("assigned"),
            py::arg("logit"), py::arg("logits_all"), py::arg("relevance"), py::arg("n_threads"),
            py::arg("first_row") = 0,
            "As the model core's evaluate, for rows x of the input space: the model runs on z = A (x - x_center) + b "
            "and "
            "the relevance is on the input features.");
}

}  // namespace neon_bind
