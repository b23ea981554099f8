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
import io
import itertools
import os

import numpy as np

__all__ = ["INPUT_SUFFIXES", "OUTPUT_SUFFIXES", "Table", "read_table", "suffix_of", "write_columns"]

INPUT_SUFFIXES = (".npy", ".csv", ".tsv", ".parquet", ".pq")
OUTPUT_SUFFIXES = (".npy", ".csv", ".tsv", ".parquet", ".pq")


def suffix_of(path) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


class Table:
    """A numeric matrix read from a file, its column names, and what was left out.

    ``dropped`` lists every column not in X: the text columns (``skipped``)
    and those the caller left out with ``drop`` (``excluded``). ``ids`` maps
    the name of each text column to its values (str, one per row), so that
    results can carry them and be joined back to the input.
    """

    def __init__(self, X, names, dropped, *, skipped=None, excluded=None, ids=None):
        self.X = X
        self.names = names  # list of str, or None (e.g. a .npy file)
        self.dropped = dropped  # list of str: columns not used
        self.skipped = list(dropped if skipped is None else skipped)  # text columns
        self.excluded = [] if excluded is None else list(excluded)  # left out by `drop`
        self.ids = {} if ids is None else ids  # text column name -> ndarray of str


def read_table(path, *, drop=(), delimiter=None) -> Table:
    """Read `path` by its suffix; `drop` names (or 0-based indices of) columns to leave out."""
    path = os.fspath(path)
    suffix = suffix_of(path)
    if suffix not in INPUT_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported input type {suffix or '(no suffix)'!r}; use one of {', '.join(INPUT_SUFFIXES)}"
        )
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if suffix == ".npy":
        return _read_npy(path, drop)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path, drop)
    return _read_text(path, drop, delimiter or ("\t" if suffix == ".tsv" else ","))


def _select(names, candidates, drop, path):
    """Column indices out of `candidates` after removing `drop` (names or indices),
    and the indices `drop` named."""
    keep = list(candidates)
    excluded = []
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
        if j not in excluded:
            excluded.append(j)
    if not keep:
        raise ValueError(f"{path}: no numeric columns left to use")
    return keep, excluded


def _table(path, X, names, all_names, keep, excluded, ids) -> Table:
    if names is not None:
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:  # columns are matched to a model by name: a name must say which column
            raise ValueError(f"{path}: column names used more than once: {', '.join(repeated)}")
    dropped = [all_names[j] for j in range(len(all_names)) if j not in keep]
    return Table(
        X, names, dropped, skipped=[n for n in dropped if n in ids], excluded=[all_names[j] for j in excluded], ids=ids
    )


def _read_npy(path, drop) -> Table:
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path}: not a readable .npy array ({exc})") from None
    if X.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (rows x features), got shape {X.shape}")
    if drop:
        keep, excluded = _select(None, range(X.shape[1]), drop, path)
        X = X[:, keep]  # a copy: dropping columns of a memory map reads it into memory
        return Table(X, None, [str(j) for j in excluded], skipped=[], excluded=[str(j) for j in excluded])
    return Table(X, None, [])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_TEXT_CHUNK = 1 << 16  # rows formatted at a time when ids lead a text output


def _text_rows(path, delimiter):
    """(line number, fields) of each non-empty row; csv errors as one-line ValueErrors."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                limit = csv.field_size_limit()
                hint = f" (fields are limited to {limit} characters)" if "field larger" in str(exc) else ""
                raise ValueError(f"{path}, line {reader.line_num}: {exc}{hint}") from None
            if row:
                yield reader.line_num, row


def _read_text(path, drop, delimiter) -> Table:
    rows = _text_rows(path, delimiter)
    first = next(rows, None)
    if first is None:
        raise ValueError(f"{path} is empty")
    first_line, first = first
    # A header row has a field that is neither a number nor empty.
    header = any(v.strip() and not _is_number(v) for v in first)
    n_fields = len(first)
    names = [v.strip() for v in first] if header else [f"x{j}" for j in range(n_fields)]
    pending = [] if header else [(first_line, first)]
    if header:
        second = next(rows, None)
        if second is None:
            raise ValueError(f"{path} has a header but no data rows")
        pending.append(second)
    sample_line, sample = pending[0]
    if len(sample) != n_fields:
        raise ValueError(
            f"{path}, line {sample_line}: {len(sample)} fields, but line {first_line} has "
            f"{n_fields}; is the delimiter {delimiter!r} right?"
        )
    # Columns whose first value is a number (or missing) are numeric; text columns
    # (ids, labels) are left out, reported, and carried to the outputs as ids.
    numeric = [j for j, v in enumerate(sample) if not v.strip() or _is_number(v)]
    keep, excluded = _select(names, numeric, drop, path)
    text = [j for j in range(n_fields) if j not in numeric and j not in excluded]

    # First pass (csv module): the structure, every line's field count, the id columns.
    id_values: dict[int, list[str]] = {j: [] for j in text}
    for line, row in itertools.chain(pending, rows):
        if len(row) != n_fields:
            raise ValueError(f"{path}, line {line}: {len(row)} fields, but line {first_line} has {n_fields}")
        for j in text:
            id_values[j].append(row[j])
    # Second pass: the numbers, by numpy's parser (several times faster than converting strings).
    try:
        X = np.loadtxt(
            path,
            delimiter=delimiter,
            skiprows=first_line if header else 0,
            usecols=keep,
            dtype=np.float64,
            ndmin=2,
            quotechar='"',
            encoding="utf-8-sig",
            comments=None,
        )
    except ValueError as exc:
        _raise_bad_field(path, delimiter, keep, names, first_line if header else 0)
        raise ValueError(f"{path}: {exc}") from None
    ids = {names[j]: np.asarray(id_values[j], dtype=object) for j in text}
    return _table(path, X, [names[j] for j in keep] if header else None, names, keep, excluded, ids)


def _raise_bad_field(path, delimiter, keep, names, data_after: int) -> None:
    """Raise a ValueError naming the first field that is not a number: the file's
    line and the column (both counted from 1) and its name."""
    for line, row in _text_rows(path, delimiter):
        if line <= data_after:
            continue
        for j in keep:
            value = row[j]
            try:
                float(value)
                ok = "_" not in value  # Python accepts 1_000; numpy's parser does not
            except ValueError:
                ok = False
            if not ok:
                what = "an empty field" if not value.strip() else repr(value)
                raise ValueError(
                    f"{path}, line {line}, column {j + 1} ({names[j]!r}): could not convert {what} to a number"
                )


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
    numeric = [
        j for j, t in enumerate(types) if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
    ]
    keep, excluded = _select(names, numeric, drop, path)
    all_f32 = all(pa.types.is_float32(types[j]) for j in keep)
    dtype = np.float32 if all_f32 else np.float64
    X = np.empty((table.num_rows, len(keep)), dtype=dtype)
    for out_j, j in enumerate(keep):
        column = table.column(j)
        if column.null_count:
            raise ValueError(f"{path}: column {names[j]!r} has {column.null_count} missing values")
        X[:, out_j] = column.to_numpy()
    ids = {
        names[j]: np.asarray([None if v is None else str(v) for v in table.column(j).to_pylist()], dtype=object)
        for j in range(len(names))
        if j not in numeric and j not in excluded
    }
    return _table(path, X, [names[j] for j in keep], names, keep, excluded, ids)


def write_columns(path, fmt: str, matrix, names, ids=None) -> None:
    """Write a 2-D array (or 1-D, one column) with column `names` to `path` in format `fmt`.

    `path` is the temporary file; `fmt` is the final path's suffix. `ids`
    (name -> values, one per row) become leading columns of a table format
    (.csv, .tsv, .parquet), so that the rows can be joined back to the
    input; a .npy file holds the numbers only.
    """
    try:
        _write_columns(path, fmt, matrix, names, ids or {})
    except OSError as exc:  # a failed write (disk full) names no file; name the one written
        if exc.filename is None:
            exc.filename = os.fspath(path)
        raise


def _write_columns(path, fmt: str, matrix, names, ids) -> None:
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
            writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
            writer.writerow(list(ids) + list(names))
            if not ids:
                np.savetxt(fh, a, delimiter=delimiter, fmt=number)
                return
            columns = list(ids.values())
            for lo in range(0, a.shape[0], _TEXT_CHUNK):
                text = io.StringIO()
                np.savetxt(text, a[lo : lo + _TEXT_CHUNK], delimiter=delimiter, fmt=number)
                for i, line in enumerate(text.getvalue().splitlines(), start=lo):
                    fields = [column[i] for column in columns]
                    writer.writerow(fields + line.split(delimiter))
    elif fmt in (".parquet", ".pq"):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError("writing .parquet files needs pyarrow (pip install pyarrow)") from None
        arrays = [pa.array(list(values), type=pa.string()) for values in ids.values()]
        arrays += [pa.array(a[:, j]) for j in range(a.shape[1])]
        pq.write_table(pa.Table.from_arrays(arrays, names=list(ids) + list(names)), path)
    else:
        raise ValueError(f"unsupported output type {fmt!r}; use one of {', '.join(OUTPUT_SUFFIXES)}")
