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

#include "neon/rows.hpp"

namespace py = pybind11;

namespace neon_bind {

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
    if (!py::isinstance<py::array_t<T, 0>>(o))
        throw py::type_error(std::string(name) + " has the wrong type or dtype");
    return py::reinterpret_borrow<py::array_t<T, 0>>(o);
}

void register_kmeans(py::module_& m);
void register_kmeans_fit(py::module_& m);

}  // namespace neon_bind
