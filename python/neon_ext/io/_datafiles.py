"""Reading data files and writing result files for the command line.

Inputs: ``.npy`` (memory-mapped, so data larger than memory stream through),
``.csv`` / ``.tsv`` (header detected, numeric columns kept), ``.parquet``
(pyarrow, numeric columns kept). Outputs: ``.npy`` (a memory-mapped result
can be written while it is computed), ``.csv``, ``.tsv``, ``.parquet``.
Every output goes through a temporary file (see ``_atomic.py``).
"""

from __future__ import annotations

import csv
import errno
import os

import numpy as np

__all__ = ["INPUT_SUFFIXES", "OUTPUT_SUFFIXES", "Table", "read_table", "suffix_of", "write_columns"]

INPUT_SUFFIXES = (".npy", ".csv", ".tsv", ".parquet", ".pq")
OUTPUT_SUFFIXES = (".npy", ".csv", ".tsv", ".parquet", ".pq")


def suffix_of(path) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


class Table:
    """A numeric matrix read from a file, its column names, and what was left out."""

    def __init__(self, X, names, dropped):
        self.X = X
        self.names = names  # list of str, or None (e.g. a .npy file)
        self.dropped = dropped  # list of str: columns not used


def read_table(path, *, drop=(), delimiter=None) -> Table:
    """Read `path` by its suffix; `drop` names (or 0-based indices of) columns to leave out."""
    path = os.fspath(path)
    suffix = suffix_of(path)
    if suffix not in INPUT_SUFFIXES:
        raise ValueError(f"{path}: unsupported input type {suffix or '(no suffix)'!r}; "
                         f"use one of {', '.join(INPUT_SUFFIXES)}")
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if suffix == ".npy":
        return _read_npy(path, drop)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path, drop)
    return _read_text(path, drop, delimiter or ("\t" if suffix == ".tsv" else ","))


def _select(names, candidates, drop, path):
    """Column indices out of `candidates` after removing `drop` (names or indices)."""
    keep = list(candidates)
    for item in drop:
        if names is not None and item in names:
            j = names.index(item)
        elif item.lstrip("-").isdigit():
            j = int(item)
            if not 0 <= j < (len(names) if names is not None else max(candidates, default=-1) + 1):
                raise ValueError(f"{path}: --drop column index {j} is out of range")
        else:
            raise ValueError(f"{path}: --drop column {item!r} is not a column name")
        if j in keep:
            keep.remove(j)
    if not keep:
        raise ValueError(f"{path}: no numeric columns left to use")
    return keep


def _read_npy(path, drop) -> Table:
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path}: not a readable .npy array ({exc})") from None
    if X.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (rows x features), got shape {X.shape}")
    if drop:
        keep = _select(None, range(X.shape[1]), drop, path)
        X = X[:, keep]  # a copy: dropping columns of a memory map reads it into memory
    return Table(X, None, [])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_text(path, drop, delimiter) -> Table:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        first = next(reader, None)
        second = next(reader, None)
    if not first:
        raise ValueError(f"{path} is empty")
    # A header row has a field that is neither a number nor empty.
    header = any(v.strip() and not _is_number(v) for v in first)
    sample = second if header else first
    if sample is None:
        raise ValueError(f"{path} has a header but no data rows")
    if len(sample) != len(first):
        raise ValueError(f"{path}: the first rows have {len(first)} and {len(sample)} fields; "
                         f"is the delimiter {delimiter!r} right?")
    names = [v.strip() for v in first] if header else [f"x{j}" for j in range(len(first))]
    # Columns whose first value is a number (or missing) are numeric; text columns
    # (ids, labels) are left out and reported.
    numeric = [j for j, v in enumerate(sample) if not v.strip() or _is_number(v)]
    keep = _select(names, numeric, drop, path)
    try:
        X = np.loadtxt(path, delimiter=delimiter, skiprows=1 if header else 0, usecols=keep,
                       dtype=np.float64, ndmin=2, quotechar='"', encoding="utf-8-sig", comments=None)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    dropped = [names[j] for j in range(len(names)) if j not in keep]
    return Table(X, [names[j] for j in keep] if header else None, dropped)


def _read_parquet(path, drop) -> Table:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading .parquet files needs pyarrow (pip install pyarrow)") from None
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: not a readable parquet file ({exc})") from None
    names = list(table.column_names)
    types = [table.schema.field(n).type for n in names]
    numeric = [j for j, t in enumerate(types)
               if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)]
    keep = _select(names, numeric, drop, path)
    all_f32 = all(pa.types.is_float32(types[j]) for j in keep)
    dtype = np.float32 if all_f32 else np.float64
    X = np.empty((table.num_rows, len(keep)), dtype=dtype)
    for out_j, j in enumerate(keep):
        column = table.column(j)
        if column.null_count:
            raise ValueError(f"{path}: column {names[j]!r} has {column.null_count} missing values")
        X[:, out_j] = column.to_numpy()
    dropped = [names[j] for j in range(len(names)) if j not in keep]
    return Table(X, [names[j] for j in keep], dropped)


def write_columns(path, fmt: str, matrix, names) -> None:
    """Write a 2-D array (or 1-D, one column) with column `names` to `path` in format `fmt`.

    `path` is the temporary file; `fmt` is the final path's suffix.
    """
    a = np.asarray(matrix)
    if a.ndim == 1:
        a = a[:, None]
    if fmt == ".npy":
        with open(path, "wb") as fh:  # an open file: np.save appends no suffix
            np.save(fh, np.asarray(matrix))
    elif fmt in (".csv", ".tsv"):
        delimiter = "\t" if fmt == ".tsv" else ","
        number = "%d" if a.dtype.kind in "iub" else ("%.9g" if a.dtype == np.float32 else "%.17g")
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, delimiter=delimiter, lineterminator="\n").writerow(names)
            np.savetxt(fh, a, delimiter=delimiter, fmt=number)
    elif fmt in (".parquet", ".pq"):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError("writing .parquet files needs pyarrow (pip install pyarrow)") from None
        table = pa.Table.from_arrays([pa.array(a[:, j]) for j in range(a.shape[1])], names=list(names))
        pq.write_table(table, path)
    else:
        raise ValueError(f"unsupported output type {fmt!r}; use one of {', '.join(OUTPUT_SUFFIXES)}")
