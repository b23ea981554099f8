// Included first by every binding file: pybind11, numpy and the helpers
// that turn already-validated numpy arrays into the core's views.
// The Python layer (neon_ext/_validation.py) normalises dtypes, shapes and
// layouts before anything reaches here, so the checks below guard against
// misuse of the private module only.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "neon/isa.hpp"
#include "neon/outputs.hpp"
#include "neon/parallel.hpp"
#include "neon/rows.hpp"

namespace py = pybind11;

namespace neon_bind {

// Runs f() without the GIL (the caller has done all its Python work and keeps
// every array alive), while the core's for_each_block asks between blocks, on
// this thread and at most every 50 ms, whether Python has a pending signal:
// Ctrl-C then stops the computation within a block and raises
// KeyboardInterrupt here (or whatever a Python signal handler raised).
// First, a bad NEON_EXT_ISA is a ValueError (isa.hpp: best_isa), even for a
// call whose kernels would not ask which instruction set to use.
template <class F>
auto run_interruptible(F&& f) -> decltype(f()) {
    neon::best_isa();
    neon::InterruptPollScope poll([] {
        py::gil_scoped_acquire gil;
        return PyErr_CheckSignals() != 0;
    });
    try {
        py::gil_scoped_release release;
        return f();
    } catch (const neon::Interrupted&) {
        throw py::error_already_set();  // the GIL is back: `release` is gone
    }
}

template <class T>
neon::RowsView<T> rows_view(const py::array_t<T, 0>& a, const char* name) {
    if (a.ndim() != 2) throw std::invalid_argument(std::string(name) + " must be 2-D");
    neon::RowsView<T> v;
    v.data = a.data();
    v.n_rows = a.shape(0);
    v.n_cols = a.shape(1);
    if (a.strides(0) % static_cast<py::ssize_t>(sizeof(T)) != 0 ||
        a.strides(1) % static_cast<py::ssize_t>(sizeof(T)) != 0)
        throw std::invalid_argument(std::string(name) + " has strides that are not a multiple of its item size");
    v.row_stride = a.strides(0) / static_cast<py::ssize_t>(sizeof(T));
    v.col_stride = a.strides(1) / static_cast<py::ssize_t>(sizeof(T));
    return v;
}

// A writable output whose rows are contiguous (C order, or a row slice).
template <class T>
neon::RowsOut<T> rows_out(py::array_t<T, 0>& a, py::ssize_t n_rows, py::ssize_t n_cols, const char* name) {
    if (a.ndim() != 2 || a.shape(0) != n_rows || a.shape(1) != n_cols)
        throw std::invalid_argument(std::string(name) + " has the wrong shape");
    if (!a.writeable()) throw std::invalid_argument(std::string(name) + " is read-only");
    if (n_cols > 1 && a.strides(1) != static_cast<py::ssize_t>(sizeof(T)))
        throw std::invalid_argument(std::string(name) + " must have contiguous rows");
    neon::RowsOut<T> out;
    out.data = a.mutable_data();
    out.row_stride = a.strides(0) / static_cast<py::ssize_t>(sizeof(T));
    return out;
}

// A writable contiguous 1-D (or C-contiguous n-D) buffer of `n` elements.
template <class T>
T* flat_out(py::array_t<T, 0>& a, py::ssize_t n, const char* name) {
    if (a.size() != n) throw std::invalid_argument(std::string(name) + " has the wrong size");
    if (!a.writeable()) throw std::invalid_argument(std::string(name) + " is read-only");
    if (!(a.flags() & py::array::c_style)) throw std::invalid_argument(std::string(name) + " must be C-contiguous");
    return a.mutable_data();
}

// An output argument: None, or an array of exactly dtype T (never converted:
// a converted copy would silently swallow the results).
template <class T>
py::array_t<T, 0> optional_array(const py::object& o, const char* name) {
    if (o.is_none()) return py::array_t<T, 0>();
    if (!py::isinstance<py::array_t<T, 0>>(o)) throw py::type_error(std::string(name) + " has the wrong type or dtype");
    return py::reinterpret_borrow<py::array_t<T, 0>>(o);
}

// Calls f with X as py::array_t<float> or py::array_t<double> (any strides):
// the two dtypes every kernel is instantiated for.
template <class F>
void with_float_rows(const py::array& X, F&& f) {
    if (py::isinstance<py::array_t<float, 0>>(X))
        f(py::reinterpret_borrow<py::array_t<float, 0>>(X));
    else if (py::isinstance<py::array_t<double, 0>>(X))
        f(py::reinterpret_borrow<py::array_t<double, 0>>(X));
    else
        throw py::type_error("X must be a float32 or float64 array");
}

// None (null), or one int64 per row: a contiguous (N,) array borrowed from
// `o`, which the caller keeps alive.
inline const std::int64_t* per_row_indices(const py::object& o, py::ssize_t N, const char* name) {
    if (o.is_none()) return nullptr;
    auto arr = optional_array<std::int64_t>(o, name);
    if (arr.ndim() != 1 || arr.shape(0) != N || !(arr.flags() & py::array::c_style))
        throw std::invalid_argument(std::string(name) + " must be a contiguous (N,) int64 array");
    return arr.data();
}

// The target of each row: an int64 (N,) array, or `fixed` >= 0 for all rows,
// or (neither) the assigned cluster.  The array is borrowed from `targets`,
// which the caller keeps alive.
inline neon::TargetSpec target_spec(const py::object& targets, std::int64_t fixed, py::ssize_t N) {
    neon::TargetSpec target;
    target.fixed = fixed;
    target.per_row = per_row_indices(targets, N, "targets");
    return target;
}

// The outputs a caller asked for (None: not computed), checked for shape,
// dtype and writability; the buffers are borrowed from the arguments.
template <class T>
neon::ModelOutputs<T> model_outputs(py::ssize_t N, py::ssize_t K, py::ssize_t D, const py::object& assigned,
                                    const py::object& logit, const py::object& logits_all,
                                    const py::object& relevance) {
    neon::ModelOutputs<T> out;
    if (!assigned.is_none()) {
        auto a = optional_array<std::int64_t>(assigned, "assigned");
        out.assigned = flat_out(a, N, "assigned");
    }
    if (!logit.is_none()) {
        auto a = optional_array<T>(logit, "logit");
        out.logit = flat_out(a, N, "logit");
    }
    if (!logits_all.is_none()) {
        auto a = optional_array<T>(logits_all, "logits_all");
        out.logits_all = flat_out(a, N * K, "logits_all");
    }
    if (!relevance.is_none()) {
        auto a = optional_array<T>(relevance, "relevance");
        out.relevance = rows_out(a, N, D, "relevance");
    }
    return out;
}

void register_prototype_core(py::module_& m);
void register_kernel_kmeans(py::module_& m);
void register_kmeans_fit(py::module_& m);
void register_affine(py::module_& m);

}  // namespace neon_bind
