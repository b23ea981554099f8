"""Input normalisation shared by every public entry point.

Everything a user passes is checked and converted here, in Python, before the
compiled core sees it: the core then receives exactly the buffer it needs and
never copies anything silently (see STYLE.md, habit 3).
"""

from __future__ import annotations

import errno
import numbers
import operator
import os

import numpy as np

__all__ = [
    "MAX_THREADS",
    "allocate",
    "allocate_all",
    "as_data_matrix",
    "as_prototypes",
    "available_memory",
    "check_beta",
    "check_eps",
    "check_int",
    "check_n_threads",
    "check_out",
    "check_positive_float",
    "check_targets",
    "feature_names_of",
    "reserve_file_space",
]


def _describe(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _native(a: np.ndarray) -> np.ndarray:
    """A native-byte-order version of `a` (a copy only when it is not)."""
    if a.dtype.byteorder not in ("=", "|") and not a.dtype.isnative:
        return a.astype(a.dtype.newbyteorder("="))
    return a


def feature_names_of(X, *, strict: bool = False):
    """String column names of a DataFrame-like input, else None.

    Columns whose names are not all strings give None, except that with
    ``strict`` (the estimators, as scikit-learn) a mix of string and other
    names is a TypeError.
    """
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray):
        return None
    columns = list(columns)
    is_str = [isinstance(c, str) for c in columns]
    if columns and all(is_str):
        return np.asarray([str(c) for c in columns], dtype=object)
    if strict and any(is_str):
        kinds = {type(c).__name__ for c in columns}
        raise TypeError(
            "Feature names are only supported if all input features have string names, but "
            f"the input has {sorted(kinds)} as feature name / column name types. Convert them "
            "all to str (e.g. X.columns = X.columns.astype(str)) or drop them."
        )
    return None


def _from_dataframe(X, name: str):
    """A DataFrame's values as one numpy array, column by column.

    numpy dtypes pass through (all float32 stays float32). pandas' nullable
    and pyarrow-backed numbers (``Float64``, ``Int64``, ``boolean``,
    ``float64[pyarrow]``) become float64, missing values NaN (refused later
    with the row). A text or other non-numeric column is a TypeError naming it.
    """
    dtypes = list(getattr(X, "dtypes", []))
    columns = list(X.columns)
    if all(isinstance(d, np.dtype) and d.kind in "fiub" for d in dtypes):
        return np.asarray(X)
    for col, d in zip(columns, dtypes):
        kind = getattr(d, "kind", "O")
        numeric = getattr(d, "_is_numeric", False) or kind in "fiub"
        if isinstance(d, np.dtype) and kind not in "fiub":
            numeric = False
        if not numeric:
            raise TypeError(
                f"{name} column {col!r} has dtype {d}, not numbers; drop it or convert it "
                "(e.g. an id column: set it as the index)"
            )
    out = np.empty((len(X), len(columns)), dtype=np.float64)
    for j in range(len(columns)):
        out[:, j] = X.iloc[:, j].to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def as_data_matrix(X, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """Return X as a 2-D float32 or float64 array without copying if possible.

    float32 and float64 stay as they are (any strides, memory maps included:
    the kernels read strided rows); float16 becomes float32; integers and
    booleans become float64. Complex, object, string and time values are a
    TypeError. Finiteness is checked by the kernels while they read the data,
    so no extra pass or temporary is spent here.
    """
    if isinstance(X, np.ndarray):
        a = X
    elif hasattr(X, "dtypes") and hasattr(X, "columns") and hasattr(X, "iloc"):
        a = _from_dataframe(X, name)
    else:
        try:
            a = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be array-like of numbers: {exc}") from None
    kind = a.dtype.kind
    if kind == "f":
        if a.dtype.itemsize == 2:
            a = a.astype(np.float32)
        elif a.dtype.itemsize > 8:
            raise TypeError(f"{name} has dtype {a.dtype}; use float32 or float64")
    elif kind in "iub":
        a = a.astype(np.float64)
    else:
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    a = _native(a)
    if a.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got {a.ndim}-D with shape {a.shape}"
            + ("; use X.reshape(1, -1) for a single sample" if a.ndim == 1 else "")
        )
    if n_features is not None and a.shape[1] != n_features:
        raise ValueError(f"{name} has {a.shape[1]} features, but the model has {n_features}")
    if a.strides[0] % a.itemsize or a.strides[1] % a.itemsize:
        a = np.ascontiguousarray(a)
    return a


def as_prototypes(P, name: str, min_rows: int = 1) -> np.ndarray:
    """Validated float64 C-contiguous copy of centroids / support vectors."""
    a = as_data_matrix(P, name)
    if a.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} rows, got {a.shape[0]}")
    if a.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature")
    a = np.array(a, dtype=np.float64, order="C", copy=True)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinity")
    a.setflags(write=False)
    return a


def check_positive_float(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    v = float(value)
    if not (np.isfinite(v) and v > 0.0):
        raise ValueError(f"{name}={_describe(value)} must be a finite number > 0")
    return v


def check_beta(beta) -> float:
    return check_positive_float(beta, "beta")


def check_nonnegative_float(value, name: str) -> float:
    """A finite real number >= 0 (not a bool), as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    v = float(value)
    if not (np.isfinite(v) and v >= 0):
        raise ValueError(f"{name}={value!r} must be a finite number >= 0")
    return v


def check_eps(eps) -> float:
    """The midpoint-rule stabilizer: a finite real number >= 0."""
    return check_nonnegative_float(eps, "eps")


def check_int(value, name: str, minimum: int, *, accepts: str = "an int", note: str = "") -> int:
    """An integer (not a bool) >= minimum; ``accepts`` and ``note`` word the messages."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {accepts}, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be {accepts}, got {_describe(value)}") from None
    if v < minimum:
        raise ValueError(f"{name}={v} must be >= {minimum}{note}")
    return v


#: The largest ``n_threads`` accepted; more is a ValueError (a typo, not a machine).
MAX_THREADS = 4096


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_n_threads(n_threads) -> int:
    """0 for None (the OpenMP default), else a positive int, capped at the CPUs available.

    More threads than CPUs only oversubscribe them (results do not depend on
    the count), and thousands of threads can fail to start inside OpenMP,
    which aborts the process; so the count is capped, and above
    :data:`MAX_THREADS` refused.
    """
    if n_threads is None:
        return 0
    v = check_int(n_threads, "n_threads", 1, accepts="None or a positive int", note=" (or None for the OpenMP default)")
    if v > MAX_THREADS:
        raise ValueError(
            f"n_threads={v} is more than the {MAX_THREADS} threads neon_ext accepts; "
            f"this machine has {available_cpus()} CPUs available"
        )
    return min(v, available_cpus())


def check_targets(target, n_rows: int, n_clusters: int):
    """Normalise `target` to (per_row int64 array or None, fixed index or -1)."""
    if target is None:
        return None, -1
    if isinstance(target, (bool, np.bool_)):
        raise TypeError("target must be None, an int or an array of ints, got a bool")
    if isinstance(target, numbers.Integral):
        fixed = int(target)
        if not 0 <= fixed < n_clusters:
            raise ValueError(f"target={fixed} is out of range for {n_clusters} clusters")
        return None, fixed
    t = np.asarray(target)
    if t.size == 0 and t.dtype.kind == "f":  # [] for no rows: numpy's default dtype is float64
        t = t.astype(np.int64)
    if t.ndim == 0 and t.dtype.kind in "iu":
        return check_targets(int(t), n_rows, n_clusters)
    if t.dtype.kind not in "iu":
        raise TypeError(f"target must hold integers, got dtype {t.dtype}")
    if t.shape != (n_rows,):
        raise ValueError(f"target must have shape ({n_rows},), got {t.shape}")
    if n_rows and (t.min() < 0 or t.max() >= n_clusters):
        bad = int(np.flatnonzero((t < 0) | (t >= n_clusters))[0])
        raise ValueError(f"target[{bad}]={int(t[bad])} is out of range for {n_clusters} clusters")
    return np.ascontiguousarray(t, dtype=np.int64), -1


def available_memory() -> int | None:
    """Bytes of memory available to new allocations without swapping, if known.

    Linux: ``MemAvailable`` of /proc/meminfo; elsewhere the free physical
    pages (``SC_AVPHYS_PAGES``) where the platform reports them; else None.
    """
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


_CHECKED_ALLOCATION = 1 << 24  # smaller arrays are allocated without looking


def _check_fits(specs) -> None:
    """MemoryError when the arrays (shape, dtype, name) together exceed the available memory."""
    sizes = [
        (int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize, shape, dtype, name)
        for shape, dtype, name in specs
    ]
    total = sum(size for size, *_ in sizes)
    if total < _CHECKED_ALLOCATION:
        return
    available = available_memory()
    if available is None or total <= available:
        return
    if len(sizes) == 1:
        _, shape, dtype, name = sizes[0]
        what = f"the {name} array would need {_format_bytes(total)} (shape {shape}, {np.dtype(dtype)})"
    else:
        parts = ", ".join(f"{name} {_format_bytes(size)}" for size, _, _, name in sizes)
        what = f"the outputs would need {_format_bytes(total)} together ({parts})"
    raise MemoryError(
        f"{what} but only {_format_bytes(available)} of memory is available: pass out= a memory-mapped "
        "array (numpy.lib.format.open_memmap) or process the rows in slices"
    )


def allocate_all(specs) -> list:
    """np.empty for each (shape, dtype, name), after checking that all of them
    *together* fit in the available memory (see :func:`allocate`)."""
    specs = list(specs)
    _check_fits(specs)
    return [np.empty(shape, dtype=dtype) for shape, dtype, _ in specs]


def allocate(shape: tuple, dtype, name: str = "out") -> np.ndarray:
    """np.empty(shape, dtype), or a MemoryError before allocating if it cannot fit.

    With overcommit an oversized np.empty succeeds and the process thrashes
    or is killed only when the kernel writes into it; checking against the
    available memory first turns that into an immediate, clear error.
    """
    return allocate_all([(shape, dtype, name)])[0]


def check_out(out, shape: tuple, dtype, name: str = "out") -> np.ndarray:
    """Allocate an output, or check a caller's: exact shape and dtype, C order, writable."""
    if out is None:
        return allocate(shape, dtype, name)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {out.shape}")
    if out.dtype != np.dtype(dtype):
        raise ValueError(f"{name} must have dtype {np.dtype(dtype)}, got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    reserve_file_space(out, name)
    return out


def reserve_file_space(a: np.ndarray, name: str = "out") -> None:
    """Allocate the disk blocks of a memory-mapped array's file before writing into it.

    Writing into a memory map whose file is sparse (``open_memmap`` creates
    it so) makes the disk allocate blocks page by page; when the disk is full
    the kernel can only answer with SIGBUS, which kills the process. Reserving
    the whole file first (``posix_fallocate``) turns a full disk into an
    OSError here, before any work. Arrays that are not file-backed memory
    maps are left alone; so are platforms without ``posix_fallocate``.
    """
    filename = None
    base: np.ndarray | None = a
    while base is not None:  # a view of a memmap keeps the memmap as its base
        if isinstance(base, np.memmap) and getattr(base, "filename", None):
            if getattr(base, "mode", None) == "c":
                return  # copy-on-write: writes go to private memory, never to the file
            filename = base.filename
            break
        base = base.base if isinstance(base, np.ndarray) else None
    if filename is None or not hasattr(os, "posix_fallocate"):
        return
    try:
        fd = os.open(filename, os.O_RDWR)
    except OSError:
        return  # e.g. opened read-write through a descriptor we cannot reopen: nothing to reserve
    try:
        size = os.fstat(fd).st_size
        if size:
            os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return  # the file system cannot reserve: behave as before
        raise OSError(
            exc.errno, f"cannot reserve the {_format_bytes(size)} of {name} on disk ({exc.strerror})", filename
        ) from None
    finally:
        os.close(fd)
