// Binding of the k-means fitting passes (neon/fit_*.hpp).  The loops over
// seeding steps and Lloyd iterations live in Python
// (neon_ext/cluster/kmeans.py): each call here is one pass over X with
// the GIL released, and Ctrl-C is honoured between passes.  The private
// `isa` argument picks the kernels' instruction set ("auto": the one
// build_info reports; tests run every one).
#include "binding.hpp"

#include "neon/fit_labels.hpp"
#include "neon/fit_lloyd.hpp"
#include "neon/fit_moments.hpp"
#include "neon/fit_seeding.hpp"

namespace neon_bind {
namespace {

using DoubleArray = py::array_t<double, 0>;
using LabelArray = py::array_t<std::int64_t, 0>;

// A contiguous float64 input of exactly n elements (validated in Python).
const double* contiguous_in(const DoubleArray& a, py::ssize_t n, const char* name) {
    if (a.size() != n || !(a.flags() & py::array::c_style))
        throw std::invalid_argument(std::string(name) + " must be a C-contiguous float64 array of " +
                                    std::to_string(n) + " elements");
    return a.data();
}

template <class T>
bool holds(const py::array& a) {
    return py::isinstance<py::array_t<T, 0>>(a);
}

// Calls f.template operator()<T>(X as py::array_t<T>) for float32 / float64 X.
template <class F>
auto dispatch(const py::array& X, F&& f) {
    if (holds<float>(X)) return f(py::reinterpret_borrow<py::array_t<float, 0>>(X));
    if (holds<double>(X)) return f(py::reinterpret_borrow<py::array_t<double, 0>>(X));
    throw py::type_error("X must be a float32 or float64 array");
}

// What every pass under given centres reads and writes: X, its weights,
// the centres (K x D, C-contiguous float64) and the labels output (int64, N).
template <class T>
struct PassArgs {
    neon::RowsView<T> rows;
    py::ssize_t N = 0, D = 0, K = 0;
    const double* w = nullptr;
    const double* centers = nullptr;
    py::array_t<std::int64_t, 0> label_arr;  // keeps the labels buffer referenced
    std::int64_t* labels = nullptr;
};

template <class T>
PassArgs<T> pass_args(const py::array_t<T, 0>& X, const DoubleArray& w, const DoubleArray& centers,
                      const py::object& labels) {
    PassArgs<T> a;
    a.rows = rows_view(X, "X");
    a.N = a.rows.n_rows;
    a.D = a.rows.n_cols;
    if (centers.ndim() != 2 || centers.shape(1) != a.D)
        throw std::invalid_argument("centers must be n_clusters x n_features");
    a.K = centers.shape(0);
    a.centers = contiguous_in(centers, a.K * a.D, "centers");
    a.w = contiguous_in(w, a.N, "sample_weight");
    if (labels.is_none()) throw std::invalid_argument("labels is required");
    a.label_arr = optional_array<std::int64_t>(labels, "labels");
    a.labels = flat_out(a.label_arr, a.N, "labels");
    return a;
}

py::dict lloyd_result(const neon::LloydResult& r) {
    py::dict d;
    d["inertia"] = r.inertia;
    d["center_shift"] = r.center_shift;
    d["n_changed"] = r.n_changed;
    d["n_relocated"] = r.n_relocated;
    d["n_empty"] = r.n_empty;
    return d;
}

}  // namespace

void register_kmeans_fit(py::module_& m) {
    m.def(
        "kmeans_moments",
        [](const py::array& X_any, const DoubleArray& w, int n_threads, const std::string& isa) {
            const neon::Isa which = neon::parse_isa(isa);
            return dispatch(X_any, [&](const auto& X) {
                using T = typename std::decay_t<decltype(X)>::value_type;
                const neon::RowsView<T> rows = rows_view(X, "X");
                const double* wp = contiguous_in(w, rows.n_rows, "sample_weight");
                DoubleArray mean(rows.n_cols), var(rows.n_cols);
                double* mp = mean.mutable_data();
                double* vp = var.mutable_data();
                // Arrays are referenced by this frame; no Python object is touched below.
                run_interruptible([&] { neon::weighted_moments(rows, wp, n_threads, mp, vp, which); });
                return py::make_tuple(mean, var);
            });
        },
        py::arg("X"), py::arg("sample_weight"), py::arg("n_threads"), py::arg("isa") = "auto",
        "Weighted mean and variance of each feature, (mean, var); also checks that X is finite.");

    py::class_<neon::KMeansPlusPlus>(m, "KMeansPlusPlus",
                                     "Greedy k-means++ seeding, one centre (one pass over X) per step().")
        .def(py::init([](neon::Index n, neon::Index d, neon::Index k, neon::Index trials, std::uint64_t seed,
                         const std::string& isa) {
                 return std::make_unique<neon::KMeansPlusPlus>(n, d, k, trials, seed, neon::parse_isa(isa));
             }),
             py::arg("n_samples"), py::arg("n_features"), py::arg("n_clusters"), py::arg("n_local_trials"),
             py::arg("seed"), py::arg("isa") = "auto")
        .def(
            "step",
            [](neon::KMeansPlusPlus& self, const py::array& X_any, const DoubleArray& w, int n_threads) {
                dispatch(X_any, [&](const auto& X) {
                    using T = typename std::decay_t<decltype(X)>::value_type;
                    const neon::RowsView<T> rows = rows_view(X, "X");
                    const double* wp = contiguous_in(w, rows.n_rows, "sample_weight");
                    // X, w are kept alive by the caller's frame.
                    run_interruptible([&] { self.step(rows, wp, n_threads); });
                    return 0;
                });
            },
            py::arg("X"), py::arg("sample_weight"), py::arg("n_threads"),
            "Add one centre; X and sample_weight must be the same arrays at every step.")
        .def_property_readonly("done", &neon::KMeansPlusPlus::done)
        .def_property_readonly("n_chosen", &neon::KMeansPlusPlus::n_chosen)
        .def_property_readonly(
            "centers",
            [](const neon::KMeansPlusPlus& self) {
                const auto& C = self.centers();
                DoubleArray out({self.n_chosen(), static_cast<neon::Index>(C.cols())});
                std::copy(C.data(), C.data() + self.n_chosen() * C.cols(), out.mutable_data());
                return out;
            },
            "The centres chosen so far (float64 copy, n_chosen x n_features).")
        .def_property_readonly(
            "indices",
            [](const neon::KMeansPlusPlus& self) {
                LabelArray out(self.n_chosen());
                std::copy(self.indices().begin(), self.indices().end(), out.mutable_data());
                return out;
            },
            "Rows of X chosen as centres.");

    m.def(
        "kmeans_random_rows",
        [](const DoubleArray& w, neon::Index n_clusters, std::uint64_t seed) {
            if (w.ndim() != 1) throw std::invalid_argument("sample_weight must be 1-D");
            const double* wp = contiguous_in(w, w.shape(0), "sample_weight");
            std::vector<neon::Index> rows;
            {
                py::gil_scoped_release release;
                rows = neon::random_init_rows(wp, w.shape(0), n_clusters, seed);
            }
            LabelArray out(static_cast<py::ssize_t>(rows.size()));
            std::copy(rows.begin(), rows.end(), out.mutable_data());
            return out;
        },
        py::arg("sample_weight"), py::arg("n_clusters"), py::arg("seed"),
        "n_clusters distinct rows drawn without replacement, with probability proportional to weight.");

    m.def(
        "lloyd_step",
        [](const py::array& X_any, const DoubleArray& w, const DoubleArray& centers, const py::object& new_centers,
           const py::object& labels, const py::object& dist, int n_threads, const std::string& isa) {
            const neon::Isa which = neon::parse_isa(isa);
            return dispatch(X_any, [&](const auto& X) {
                const auto a = pass_args(X, w, centers, labels);
                auto new_arr = optional_array<double>(new_centers, "new_centers");
                auto dist_arr = optional_array<double>(dist, "dist");
                double* np_out = new_centers.is_none() ? nullptr : flat_out(new_arr, a.K * a.D, "new_centers");
                if (np_out && np_out == a.centers) throw std::invalid_argument("new_centers must not be centers");
                double* dp = dist.is_none() ? nullptr : flat_out(dist_arr, a.N, "dist");
                // Every array is referenced by this frame; nothing Python is touched below.
                const neon::LloydResult r = run_interruptible([&] {
                    return neon::lloyd_step(a.rows, a.w, a.centers, a.K, np_out, a.labels, dp, n_threads, which);
                });
                return lloyd_result(r);
            });
        },
        py::arg("X"), py::arg("sample_weight"), py::arg("centers"), py::arg("new_centers"), py::arg("labels"),
        py::arg("dist"), py::arg("n_threads"), py::arg("isa") = "auto",
        "One Lloyd iteration in X's precision: labels (int64, updated in place, changes counted), optional per-row "
        "squared distances (and with them the inertia), and with new_centers the weighted cluster means (empty "
        "clusters relocated). Returns a dict with inertia (0 without dist), center_shift, n_changed, n_relocated, "
        "n_empty.");

    m.def(
        "kmeans_labels",
        [](const py::array& X_any, const DoubleArray& w, const DoubleArray& centers, const py::object& labels,
           int n_threads, const std::string& isa) {
            const neon::Isa which = neon::parse_isa(isa);
            return dispatch(X_any, [&](const auto& X) {
                const auto a = pass_args(X, w, centers, labels);
                const neon::LabelResult r = run_interruptible(
                    [&] { return neon::label_rows(a.rows, a.w, a.centers, a.K, a.labels, n_threads, which); });
                py::dict d;
                d["inertia"] = r.inertia;
                d["logit_sum"] = r.logit_sum;
                return d;
            });
        },
        py::arg("X"), py::arg("sample_weight"), py::arg("centers"), py::arg("labels"), py::arg("n_threads"),
        py::arg("isa") = "auto",
        "The final labelling pass: labels (int64, written) = the nearest of the K >= 2 centres exactly as "
        "NeuralizedKMeans.predict assigns them (near ties settled in float64); returns a dict with the float64 "
        "inertia and logit_sum (sum of w * the assigned cluster's logit).");

    m.def(
        "center_distances",
        [](const py::array& X_any, const DoubleArray& centers, const py::object& out_any, bool squared, int n_threads,
           const std::string& isa) {
            const neon::Isa which = neon::parse_isa(isa);
            dispatch(X_any, [&](const auto& X) {
                using T = typename std::decay_t<decltype(X)>::value_type;
                const neon::RowsView<T> rows = rows_view(X, "X");
                if (centers.ndim() != 2 || centers.shape(1) != rows.n_cols)
                    throw std::invalid_argument("centers must be n_clusters x n_features");
                const py::ssize_t K = centers.shape(0);
                const double* cp = contiguous_in(centers, K * rows.n_cols, "centers");
                auto out = optional_array<T>(out_any, "out");
                if (out_any.is_none()) throw std::invalid_argument("out is required");
                const neon::RowsOut<T> o = rows_out(out, rows.n_rows, K, "out");
                run_interruptible([&] { neon::center_distances(rows, cp, K, squared, o, n_threads, which); });
                return 0;
            });
        },
        py::arg("X"), py::arg("centers"), py::arg("out"), py::arg("squared"), py::arg("n_threads"),
        py::arg("isa") = "auto",
        "Euclidean (or squared) distance of every row of X to every centre, written into out (N x K).");
}

}  // namespace neon_bind
