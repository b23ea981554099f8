"""The ``neon-ext`` command line (also ``python -m neon_ext``).

::

    neon-ext demo                                  # the bundled wine data, explained
    neon-ext fit data.csv --model kmeans -k 5 -o model.npz
    neon-ext explain data.npy --model model.npz -o relevance.npy
    neon-ext info model.npz

Without a command, ``neon-ext`` runs the demo. Exit status: 0 success, 1 the
job failed (missing or unreadable file, bad data), 2 wrong usage, 130
interrupted (Ctrl-C), 143 terminated (SIGTERM). Errors are one line on
stderr, never a traceback. Results go to stdout, progress bars to stderr
(only when it is a terminal, tqdm is installed and ``--quiet`` is not given).
Output files are written to a temporary file and renamed when complete: an
interrupted run never leaves a partial result under the final name.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import signal
import sys
import warnings

import numpy as np

from . import dask_explain

__all__ = ["main"]

PROG = "neon-ext"


class UsageError(Exception):
    """A problem with the arguments found after parsing them (exit status 2)."""


# -- argument types ---------------------------------------------------------------
def _int_at_least(minimum: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_nonnegative_int = _int_at_least(0, "an integer >= 0")


def _thread_count(text: str) -> int:
    from .._validation import MAX_THREADS

    value = _positive_int(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_THREADS} threads, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _float_or_auto(text: str):
    return "auto" if text == "auto" else _positive_float(text)


def _column_list(text: str) -> list:
    return [c.strip() for c in text.split(",") if c.strip()]


# -- the parser -------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from ..cluster._fitting import fitters

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors (no report, no progress bar)"
    )
    data_opts = argparse.ArgumentParser(add_help=False)
    data_opts.add_argument(
        "--drop",
        type=_column_list,
        default=[],
        metavar="COLS",
        help="comma-separated names (or 0-based indices) of columns to leave out, e.g. an id or label column",
    )
    data_opts.add_argument(
        "--delimiter", default=None, help="field delimiter of a text file (default: ',' for .csv, tab for .tsv)"
    )
    data_opts.add_argument(
        "--threads",
        type=_thread_count,
        default=None,
        metavar="N",
        help="threads for the compiled kernels (default: OpenMP's default; at most the CPUs available are used)",
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Exact NEON explanations of k-means and kernel k-means cluster assignments "
        "(Kauffmann et al., IEEE TNNLS 2024). Without a command: run the demo.",
        epilog="Inputs: .npy (memory-mapped), .csv/.tsv (header detected, numeric columns used), "
        ".parquet (needs pyarrow). Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="cluster and explain the bundled wine data",
        description="Cluster the bundled UCI wine data with k-means, explain every wine, "
        "print a report and (with matplotlib) write a figure.",
    )
    p.add_argument(
        "--figure",
        default="neon-ext-demo.png",
        metavar="PATH",
        help="where to write the PNG figure when matplotlib is installed "
        "(default: %(default)s in the current directory)",
    )
    p.add_argument("--no-figure", action="store_true", help="do not write a figure")
    p.set_defaults(func=_cmd_demo, parser=p)

    p = sub.add_parser(
        "fit",
        parents=[common, data_opts],
        help="fit a clustering model and save it",
        description="Fit a clustering model on DATA and save it, with the stiffness beta "
        "of the paper's heuristic on DATA, to a .npz model file.",
    )
    p.add_argument("data", metavar="DATA", help="training data (.npy, .csv, .tsv, .parquet)")
    p.add_argument(
        "--model",
        required=True,
        choices=sorted(fitters()),
        help="the model family (kernel-kmeans: each fitting sweep costs O(rows^2 x features))",
    )
    p.add_argument("-k", "--clusters", type=_positive_int, required=True, metavar="K", help="number of clusters (>= 2)")
    p.add_argument(
        "-o", "--output", required=True, metavar="MODEL.npz", help="model file to write (.npz; never the data file)"
    )
    p.add_argument("--seed", type=_nonnegative_int, default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--max-iter",
        type=_positive_int,
        default=None,
        metavar="N",
        help="maximum number of iterations (default: the model's)",
    )
    p.add_argument(
        "--gamma", type=_float_or_auto, default=None, help="kernel k-means: kernel width, a number or 'auto'"
    )
    p.add_argument(
        "--max-support",
        type=_positive_int,
        default=None,
        metavar="N",
        help="kernel k-means: keep at most N support vectors per cluster",
    )
    p.add_argument(
        "--pool-stiffness",
        type=_positive_float,
        default=None,
        metavar="G",
        help="kernel k-means: gamma' of the explanation's pooling layers (default: gamma)",
    )
    p.add_argument(
        "--standardize",
        action="store_true",
        help="cluster the standardized columns (mean 0, standard deviation 1); the model file "
        "keeps the map and 'explain' reports relevance on the raw columns",
    )
    p.add_argument(
        "--pca",
        type=_positive_int,
        default=None,
        metavar="N",
        help="cluster the N leading principal components (after --standardize if given); "
        "relevance is still reported on the raw columns",
    )
    p.set_defaults(func=_cmd_fit, parser=p)

    p = sub.add_parser(
        "explain",
        parents=[common, data_opts],
        help="explain the rows of a data file",
        description="Compute the NEON relevance of every feature of every row of DATA "
        "for a cluster of the model, and write it as a rows x features array.",
    )
    p.add_argument("data", metavar="DATA", help="data to explain (.npy, .csv, .tsv, .parquet)")
    p.add_argument("--model", required=True, metavar="MODEL.npz", help="model file written by 'fit'")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="relevance file: .npy (written while computed, for data larger than memory), .csv, .tsv or .parquet",
    )
    p.add_argument(
        "--target",
        type=_nonnegative_int,
        default=None,
        metavar="C",
        help="explain cluster C for every row (default: each row's own cluster)",
    )
    p.add_argument(
        "--beta",
        type=_float_or_auto,
        default=None,
        help="soft-min stiffness over competitors: a number, or 'auto' for the heuristic "
        "on DATA (default: the value stored in the model file, else 'auto')",
    )
    p.add_argument(
        "--logits-out",
        metavar="PATH",
        default=None,
        help="also write the explained logit of each row (.npy, .csv, ...)",
    )
    p.add_argument(
        "--assigned-out",
        metavar="PATH",
        default=None,
        help="also write the assigned cluster of each row (.npy, .csv, ...)",
    )
    p.add_argument(
        "--top",
        type=_positive_int,
        default=3,
        metavar="K",
        help="features per cluster in the printed summary (default: %(default)s)",
    )
    dask_explain.add_arguments(p)
    p.set_defaults(func=_cmd_explain, parser=p)

    p = sub.add_parser(
        "info", parents=[common], help="describe a model file", description="Print what a model file holds."
    )
    p.add_argument("model", metavar="MODEL.npz")
    p.set_defaults(func=_cmd_info, parser=p)
    return parser


# -- helpers ------------------------------------------------------------------------------
def _say(args, *lines) -> None:
    if not args.quiet:
        print(*lines, sep="\n", flush=True)


def _show_progress(args) -> bool:
    return not args.quiet and sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None


def _check_output_suffix(path, what: str) -> str:
    from ..io._datafiles import OUTPUT_SUFFIXES, suffix_of

    fmt = suffix_of(path)
    if fmt not in OUTPUT_SUFFIXES:
        raise UsageError(f"{what} {path!r} must end in one of {', '.join(OUTPUT_SUFFIXES)}")
    return fmt


def _read(args):
    from .._validation import as_data_matrix
    from ..io._datafiles import read_table

    table = read_table(args.data, drop=args.drop, delimiter=args.delimiter)
    table.X = as_data_matrix(table.X, "data")
    if table.excluded:
        _say(args, f"dropped columns of {args.data} (--drop): {', '.join(table.excluded)}")
    if table.skipped:
        _say(args, f"ignored non-numeric columns of {args.data}: {', '.join(table.skipped)}")
    return table


def _same_file(a, b) -> bool:
    """Whether two paths name one file: through symbolic links, and hard links of existing files."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_distinct(inputs, outputs) -> None:
    """Refuse an output (label, path) that is an input or another output: it would be overwritten."""
    seen = list(inputs)
    for what, path in outputs:
        for other, other_path in seen:
            if _same_file(path, other_path):
                raise UsageError(
                    f"{what} {path!r} is the same file as {other} {other_path!r}; choose another output name"
                )
        seen.append((what, path))


def _align_columns(args, model, table):
    """X with the model's columns in the model's order, and their names.

    A model that knows its feature names (fitted on a file with a header or a
    DataFrame) takes the columns of that name, in its order, wherever they
    are in DATA; columns it does not know are left out and reported; missing
    ones are an error naming them. Without names on either side, the number
    of columns must match.
    """
    X = table.X
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None and table.names is not None:
        fitted = [str(n) for n in fitted]
        missing = [n for n in fitted if n not in table.names]
        if missing:
            raise ValueError(
                f"{args.data} lacks the model's columns {', '.join(missing)} "
                f"(its numeric columns: {', '.join(table.names)})"
            )
        extra = [n for n in table.names if n not in fitted]
        if extra:
            _say(args, f"ignored columns of {args.data} that the model was not fitted on: {', '.join(extra)}")
        order = [table.names.index(n) for n in fitted]
        if order != list(range(X.shape[1])):
            X = X[:, order]
        return X, fitted
    if X.shape[1] != model.n_features_in_:
        hint = f" (ignored non-numeric columns: {', '.join(table.skipped)})" if table.skipped else ""
        raise ValueError(
            f"{args.data} has {X.shape[1]} numeric columns{hint}, but the model was fitted on "
            f"{model.n_features_in_} features; use --drop to leave columns out"
        )
    if fitted is not None:
        _say(
            args,
            f"note: {args.data} has no column names; its columns are taken as the model's "
            f"({', '.join(str(n) for n in fitted)}) in that order",
        )
        return X, [str(n) for n in fitted]
    return X, table.names or [f"x{j}" for j in range(X.shape[1])]


def _scale_hint(args, X) -> None:
    """Point out features on very different scales (they dominate Euclidean distances)."""
    step = max(1, X.shape[0] // 100_000)
    std = np.asarray(X[::step], dtype=np.float64).std(axis=0)
    if X.shape[1] < 2 or not np.isfinite(std).all() or std.min() <= 0:
        return
    if std.max() > 100 * std.min():
        names = getattr(args, "_names", None) or [f"x{j}" for j in range(X.shape[1])]
        _say(
            args,
            f"note: feature scales differ widely (standard deviation {std.min():.3g} for "
            f"{names[int(std.argmin())]} to {std.max():.3g} for {names[int(std.argmax())]}); "
            "k-means distances will mostly measure the large ones. Standardize the data "
            "first if every feature should count.",
        )


def _model_name(model) -> str:
    names = {"NeuralizedKMeans": "k-means", "NeuralizedKernelKMeans": "kernel k-means"}
    inner = getattr(model, "model", None)  # a pipeline: the model on its feature map
    if inner is not None:
        return f"{_model_name(inner)} (on {model.A.shape[0]} affine features of the raw columns)"
    return names.get(type(model).__name__, type(model).__name__)


# -- commands --------------------------------------------------------------------------------
def _cmd_demo(args) -> int:
    from .demo import run_demo

    figure = None if args.no_figure else args.figure
    run_demo(figure=figure, file=io.StringIO() if args.quiet else sys.stdout)
    return 0


def _cmd_fit(args) -> int:
    from ..cluster._fitting import fitters
    from ..io.persistence import save

    kernel_only = {"gamma": args.gamma, "max_support": args.max_support, "pool_stiffness": args.pool_stiffness}
    options = {name: value for name, value in kernel_only.items() if value is not None}
    if args.model == "kmeans" and options:
        flags = ", ".join("--" + name.replace("_", "-") for name in options)
        raise UsageError(f"{flags}: only for --model kernel-kmeans")
    if args.clusters < 2:
        raise UsageError("-k must be at least 2")
    if os.path.splitext(args.output)[1].lower() != ".npz":
        raise UsageError(f"the model file {args.output!r} must end in .npz")
    _check_distinct([("the data", args.data)], [("the model file", args.output)])
    table = _read(args)
    X = table.X
    args._names = table.names
    if X.shape[0] < args.clusters:
        raise ValueError(f"{args.data} has {X.shape[0]} rows, fewer than the {args.clusters} clusters asked for")
    if args.max_iter is not None:
        options["max_iter"] = args.max_iter
    progress = _show_progress(args)
    if args.standardize or args.pca is not None:
        model = _fit_through_map(args, X, options, progress)
    else:
        _scale_hint(args, X)
        model = fitters()[args.model](
            X, args.clusters, seed=args.seed, n_threads=args.threads, progress=progress, **options
        )
    model.beta = model.beta_heuristic(X, n_threads=args.threads, progress=progress)
    sizes = np.bincount(model.predict(X, n_threads=args.threads), minlength=model.n_clusters)
    if table.names is not None:
        model.feature_names_in_ = table.names  # explain then finds the columns by name
    save(model, args.output)
    _say(
        args,
        f"fitted {_model_name(model)} with {model.n_clusters} clusters on {X.shape[0]} rows x "
        f"{X.shape[1]} features of {args.data}",
        f"cluster sizes: {sizes.tolist()}",
        f"beta (heuristic on the training data, stored with the model): {model.beta:.6g}",
        f"wrote {args.output}",
    )
    return 0


def _fit_through_map(args, X, options, progress):
    """The model fitted on the preprocessed data, behind its affine map."""
    from ..cluster._fitting import fit_preprocessing, fitters
    from ..models.pipeline import NeuralizedPipeline

    A, center, b, B = fit_preprocessing(X, standardize=args.standardize, pca=args.pca)
    Z = np.empty((X.shape[0], A.shape[0]))
    for lo in range(0, X.shape[0], 65536):  # row blocks: no float64 copy of X
        Z[lo : lo + 65536] = (np.asarray(X[lo : lo + 65536], dtype=np.float64) - center) @ A.T + b
    inner = fitters()[args.model](
        Z, args.clusters, seed=args.seed, n_threads=args.threads, progress=progress, **options
    )
    steps = " and ".join(
        s
        for s, on in (("standardized", args.standardize), (f"reduced to {args.pca} principal components", args.pca))
        if on
    )
    _say(args, f"clustering the data {steps}; relevance will be reported on the raw columns")
    return NeuralizedPipeline(inner, A, b, B, x_center=center)


def _cmd_explain(args) -> int:
    if dask_explain.wanted(args):  # the same job on Dask workers (cli/dask_explain.py)
        return dask_explain.run(args)
    from ..io.persistence import load

    out_fmt = _check_output_suffix(args.output, "the output")
    extra = [
        (path, _check_output_suffix(path, flag), values)
        for path, flag, values in (
            (args.logits_out, "--logits-out", "logit"),
            (args.assigned_out, "--assigned-out", "assigned"),
        )
        if path is not None
    ]
    _check_distinct(
        [("the data", args.data), ("the model", args.model)],
        [("the output", args.output)]
        + [
            (flag, path)
            for path, flag in ((args.logits_out, "--logits-out"), (args.assigned_out, "--assigned-out"))
            if path
        ],
    )
    model = load(args.model)
    if args.target is not None and args.target >= model.n_clusters:
        raise UsageError(f"--target {args.target} is out of range: the model has {model.n_clusters} clusters")
    table = _read(args)
    X, names = _align_columns(args, model, table)
    with warnings.catch_warnings():
        # The columns were matched to the model's names above; X has none left to check.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        beta, source = _beta(args, model, X)
        e = _explain_to_files(args, model, X, beta, out_fmt, extra, names, table.ids)
    if not args.quiet:
        _report_explanation(args, model, X, e, beta, source, names, extra)
    return 0


def _beta(args, model, X):
    """The soft-min stiffness to explain with, and where it comes from."""
    if args.beta is not None and args.beta != "auto":
        return args.beta, "given"
    if args.beta is None and getattr(model, "beta", None) is not None:
        return model.beta, "stored in the model file"
    return model.beta_heuristic(X, n_threads=args.threads, progress=_show_progress(args)), "heuristic on DATA"


def _explain_to_files(args, model, X, beta, out_fmt, extra, names, ids):
    """Explain X and write the relevance (and the extra outputs) atomically; the ids
    of DATA (its text columns) lead every table output."""
    from ..io._atomic import AtomicFiles
    from ..io._datafiles import write_columns

    with AtomicFiles() as files:
        tmp = files.temporary(args.output)
        out = None
        if out_fmt == ".npy":  # written block by block while the kernels run
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=X.dtype, shape=X.shape)
        e = model.explain(X, args.target, beta=beta, out=out, n_threads=args.threads, progress=_show_progress(args))
        if out is not None:
            out.flush()
        else:
            write_columns(tmp, out_fmt, e.relevance, names, ids)
        for path, fmt, what in extra:
            write_columns(files.temporary(path), fmt, getattr(e, what), [what], ids)
    return e


def _report_explanation(args, model, X, e, beta, source, names, extra) -> None:
    e.feature_names = np.asarray(names, dtype=object)
    error = np.abs(e.conservation_error())
    scale = max(float(np.abs(np.asarray(e.logit, dtype=np.float64)).max(initial=0.0)), 1e-300)
    target = "each row's own cluster" if args.target is None else f"cluster {args.target}"
    by = "target" if args.target is None else "assigned"
    _say(
        args,
        f"explained {X.shape[0]} rows x {X.shape[1]} features of {args.data} for {target} with the "
        f"{_model_name(model)} model {args.model} ({model.n_clusters} clusters)",
        f"beta = {beta:.6g} ({source})",
        f"conservation: max |sum(relevance) - logit| = {error.max(initial=0.0):.2e} "
        f"({error.max(initial=0.0) / scale:.1e} of the largest |logit|)",
        "",
        f"mean relevance per {'explained' if by == 'target' else 'assigned'} cluster:",
        e.summary(min(args.top, X.shape[1]), by=by).to_string(),
        "",
        f"wrote {args.output} ({X.dtype.name}, {X.shape[0]} x {X.shape[1]})"
        + "".join(f", {path}" for path, _, _ in extra),
    )


def _cmd_info(args) -> int:
    from ..io.persistence import load

    model = load(args.model)
    with np.load(args.model, allow_pickle=False) as npz:
        written_by = str(npz["neon_ext"])
    beta = getattr(model, "beta", None)
    kernel = ""
    if hasattr(model, "support_vectors"):
        kernel = (
            f", {model.support_vectors.shape[0]} support vectors, gamma = {model.gamma:.6g}, "
            f"pool stiffness = {model.pool_stiffness:.6g}"
        )
    print(
        f"{args.model}: {_model_name(model)} model, {model.n_clusters} clusters, "
        f"{model.n_features_in_} features{kernel}, beta = {'not set' if beta is None else f'{beta:.6g}'}, "
        f"eps = {model.eps:g}, written by neon_ext {written_by}"
    )
    if model.feature_names_in_ is not None:
        print(f"features: {', '.join(model.feature_names_in_)}")
    return 0


# -- entry point -------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    text = str(exc) or type(exc).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


_DEMO_OPTIONS = ("-q", "--quiet", "--no-figure", "--figure")


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C, so temporary files are removed


def main(argv=None) -> int:
    """Run the command line with `argv` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or (argv[0] in _DEMO_OPTIONS or argv[0].startswith("--figure=")):
        argv = ["demo"] + argv  # no command: the demo, with the demo's options
    args = parser.parse_args(argv)  # exits with status 2 on a usage error
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        return args.func(args)
    except UsageError as exc:
        args.parser.print_usage(sys.stderr)
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `neon-ext demo | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output was written", file=sys.stderr)
        return 130
    except (ValueError, TypeError, IndexError, OSError, MemoryError, ImportError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
