"""``neon-ext explain DATA --dask [N]`` / ``--scheduler ADDRESS``: the explain
command run by Dask workers (neon_ext.dask), for data too large for one machine.

DATA is a zarr store (``.zarr``), a parquet file or a directory of parquet
files, or a ``.npy`` file or a directory of ``.npy`` files (stacked in name
order, read by the workers in blocks of rows): paths the workers can read.
Outputs are a zarr store (``.zarr``) or a parquet directory (``.parquet``),
written by the workers into a temporary directory next to the final path and
renamed when complete. The summary is reduced on the workers in the same pass.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

import numpy as np

__all__ = ["add_arguments", "run", "wanted"]

_BLOCK_BYTES = 64 << 20  # rows per .npy block: about this many bytes


def add_arguments(parser) -> None:
    """The explain command's Dask options."""
    from .commands import _nonnegative_int

    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run on the Dask scheduler at ADDRESS (e.g. tcp://host:8786); DATA and the "
        "outputs must be paths the workers can reach (needs the 'dask' extra)",
    )
    group.add_argument(
        "--dask",
        metavar="N",
        nargs="?",
        type=_nonnegative_int,
        const=0,
        default=None,
        help="run on a local Dask cluster of N worker processes (default: one per core)",
    )


def wanted(args) -> bool:
    return getattr(args, "scheduler", None) is not None or getattr(args, "dask", None) is not None


# -- inputs ---------------------------------------------------------------------------------
def _is_zarr(path: str) -> bool:
    return path.rstrip("/").endswith(".zarr") or any(
        os.path.exists(os.path.join(path, m)) for m in (".zarray", "zarr.json")
    )


def _npy_rows(path: str, lo: int, hi: int) -> np.ndarray:
    return np.array(np.load(path, mmap_mode="r", allow_pickle=False)[lo:hi])


def _npy_stack(files):
    """The rows of several .npy files as one dask Array, read by the workers in blocks."""
    import dask
    import dask.array as da

    blocks, shape, dtype = [], None, None
    for f in files:
        try:
            a = np.load(f, mmap_mode="r", allow_pickle=False)  # reads the header only
        except ValueError as exc:
            raise ValueError(f"{f}: not a readable .npy array ({exc})") from None
        if a.ndim != 2 or (shape is not None and a.shape[1] != shape) or (dtype is not None and a.dtype != dtype):
            raise ValueError(
                f"{f}: expected a 2-D array of {shape or 'n'} columns"
                f"{'' if dtype is None else ' of ' + str(dtype)}, got {a.dtype} {a.shape}"
            )
        shape, dtype = a.shape[1], a.dtype
        step = max(1, _BLOCK_BYTES // max(1, a.shape[1] * a.itemsize))
        for lo in range(0, a.shape[0], step):
            hi = min(lo + step, a.shape[0])
            blocks.append(
                da.from_delayed(dask.delayed(_npy_rows, pure=True)(f, lo, hi), (hi - lo, a.shape[1]), a.dtype)
            )
    return da.concatenate(blocks, axis=0)


def read_rows(path: str, drop):
    """(X: dask Array or DataFrame, column names or None, columns left out)."""
    import dask.array as da
    import dask.dataframe as dd

    from ..io._datafiles import _select

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or directory")
    if _is_zarr(path):
        X, kind = da.from_zarr(path), "array"
    elif os.path.isdir(path):
        npy = sorted(glob.glob(os.path.join(path, "*.npy")))
        parquet = sorted(glob.glob(os.path.join(path, "*.parquet")) + glob.glob(os.path.join(path, "*.pq")))
        if bool(npy) == bool(parquet):
            raise ValueError(
                f"{path}: expected a directory of .npy files or of .parquet files "
                f"(found {len(npy)} .npy and {len(parquet)} parquet)"
            )
        X, kind = (_npy_stack(npy), "array") if npy else (dd.read_parquet(parquet), "frame")
    elif path.endswith(".npy"):
        X, kind = _npy_stack([path]), "array"
    elif path.endswith((".parquet", ".pq")):
        X, kind = dd.read_parquet(path), "frame"
    else:
        raise ValueError(
            f"{path}: with --dask or --scheduler, DATA must be a .zarr store, a .npy or parquet "
            "file, or a directory of .npy or parquet files"
        )
    if kind == "array":
        if X.ndim != 2:
            raise ValueError(f"{path}: expected a 2-D array (rows x features), got shape {X.shape}")
        if drop:
            X = X[:, _select(None, range(X.shape[1]), drop, path)[0]]
        return _Rows(X, None, [])
    names = [str(c) for c in X.columns]
    numeric = [j for j, t in enumerate(X.dtypes) if getattr(t, "kind", "O") in "fiub"]
    keep, excluded = _select(names, numeric, drop, path)
    skipped = [n for j, n in enumerate(names) if j not in keep and j not in excluded]
    return _Rows(X[[X.columns[j] for j in keep]], [names[j] for j in keep], skipped)


class _Rows:
    """Rows read for the workers, shaped like the in-memory command's table
    (``X``, ``names``, ``skipped``) so that it matches columns to the model by
    the same rule (``commands._align_columns``): ``X[:, columns]`` selects
    columns of a dask Array or DataFrame alike."""

    def __init__(self, X, names, skipped):
        self.X, self.names, self.skipped = self, names, skipped
        self.rows = X

    @property
    def shape(self):
        cols = len(self.rows.columns) if hasattr(self.rows, "columns") else self.rows.shape[1]
        return (np.nan, cols)

    def __getitem__(self, key):
        _, columns = key
        if hasattr(self.rows, "columns"):
            return _Rows(self.rows[[self.rows.columns[j] for j in columns]], None, [])
        return _Rows(self.rows[:, list(columns)], None, [])


# -- outputs ----------------------------------------------------------------------------------
def output_kind(path: str, what: str) -> str:
    from .commands import UsageError

    if path.rstrip("/").endswith(".zarr"):
        return "zarr"
    if path.rstrip("/").endswith((".parquet", ".pq")):
        return "parquet"
    raise UsageError(f"{what} {path!r}: with --dask or --scheduler, outputs are a .zarr store or a .parquet directory")


def _writer(values, kind: str, tmp: str, names):
    """A lazy write of a dask Array/DataFrame/Series (relevance, or one column) to tmp."""
    import dask.array as da
    import dask.dataframe as dd

    if kind == "zarr":
        if not isinstance(values, da.Array):
            values = values.to_dask_array(lengths=True)
        return values.to_zarr(tmp, compute=False)
    if isinstance(values, da.Array):
        values = dd.from_dask_array(values, columns=names if values.ndim == 2 else names[0])
    if isinstance(values, dd.Series):
        values = values.to_frame(name=names[0])
    # As a Delayed: computing DataFrame expressions together with graph-backed
    # arrays and Delayeds in one dask.compute warns and materializes them anyway.
    return values.to_parquet(tmp, compute=False, write_index=False).to_delayed()


class _Directories:
    """Output directories written under temporary names, renamed in place on success."""

    def __init__(self):
        self.pending = []

    def temporary(self, final: str) -> str:
        final = os.path.abspath(final.rstrip("/"))
        directory, name = os.path.split(final)
        tmp = tempfile.mkdtemp(dir=directory, prefix=f".{name}.", suffix=".part")
        os.rmdir(tmp)  # the writers create it
        self.pending.append((tmp, final))
        return tmp

    def commit(self) -> None:
        for tmp, final in self.pending:
            old = None
            if os.path.lexists(final):  # replace an older result only now that the new one is complete
                old = final + ".old-" + os.path.basename(tmp)
                os.replace(final, old)
            os.replace(tmp, final)
            if old is not None:
                shutil.rmtree(old) if os.path.isdir(old) else os.remove(old)
        self.pending.clear()

    def discard(self) -> None:
        for tmp, _ in self.pending:
            shutil.rmtree(tmp, ignore_errors=True)
        self.pending.clear()


# -- the command --------------------------------------------------------------------------------
def _client(args):
    import distributed

    if args.scheduler is not None:
        return distributed.Client(args.scheduler, timeout="30s"), None
    cluster = distributed.LocalCluster(
        n_workers=args.dask or None, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    return distributed.Client(cluster), cluster


def run(args) -> int:
    """The explain command on Dask; returns the exit status."""
    try:
        import dask

        import neon_ext.dask as nxd
    except ImportError as exc:
        raise ImportError(f"--dask and --scheduler need the 'dask' extra: {exc}") from None
    from ..io.persistence import load
    from .commands import UsageError, _align_columns, _check_distinct, _say

    out_kind = output_kind(args.output, "the output")
    extra = [
        (path, output_kind(path, flag), what, flag)
        for path, flag, what in (
            (args.logits_out, "--logits-out", "logit"),
            (args.assigned_out, "--assigned-out", "assigned"),
        )
        if path is not None
    ]
    _check_distinct(
        [("the data", args.data), ("the model", args.model)],
        [("the output", args.output)] + [(flag, path) for path, _, _, flag in extra],
    )
    model = load(args.model)
    if args.target is not None and args.target >= model.n_clusters:
        raise UsageError(f"--target {args.target} is out of range: the model has {model.n_clusters} clusters")
    table = read_rows(args.data, args.drop)
    if table.skipped:
        _say(args, f"ignored non-numeric columns of {args.data}: {', '.join(table.skipped)}")
    rows, names = _align_columns(args, model, table)  # the in-memory command's rule, by name or by count
    X, n_features = rows.rows, len(names)

    client, cluster = _client(args)
    outputs = _Directories()
    try:
        if args.beta == "auto" or (args.beta is None and getattr(model, "beta", None) is None):
            beta, source = nxd.beta_heuristic(model, X, n_threads=args.threads), "heuristic on DATA, distributed"
        elif args.beta is not None:
            beta, source = args.beta, "given"
        else:
            beta, source = model.beta, "stored in the model file"
        e = nxd.explain(model, X, args.target, beta=beta, n_threads=args.threads)
        by = "target" if args.target is None else "assigned"
        writes = [_writer(e.relevance, out_kind, outputs.temporary(args.output), names)]
        writes += [_writer(getattr(e, what), kind, outputs.temporary(path), [what]) for path, kind, what, _ in extra]
        summary = e.summary(min(args.top, n_features), by=by, compute=False)
        *_, table = dask.compute(*writes, summary)  # one pass: every block explained once
        outputs.commit()
    except BaseException:
        outputs.discard()
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    target = "each row's own cluster" if args.target is None else f"cluster {args.target}"
    where = f"the Dask scheduler {args.scheduler}" if args.scheduler else "a local Dask cluster"
    _say(
        args,
        f"explained {int(table.sizes[-1])} rows x {n_features} features of {args.data} for {target} on {where}",
        f"beta = {beta:.6g} ({source})",
        "",
        f"mean relevance per {'explained' if by == 'target' else 'assigned'} cluster:",
        table.to_string(),
        "",
        f"wrote {args.output}" + "".join(f", {item[0]}" for item in extra),
    )
    return 0
