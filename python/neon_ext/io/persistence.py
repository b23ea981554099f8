"""Saving neuralized models to ``.npz`` files and loading them back.

File format (version 1)
-----------------------
A NumPy ``.npz`` archive (``numpy.savez``, uncompressed) of plain arrays; no
pickled objects, so loading never executes code. Strings are 0-d unicode
arrays, numbers 0-d float64/int64 arrays.

=================  ==========================================================
key                content
=================  ==========================================================
``format``         ``"neon_ext.model"`` (identifies the file)
``format_version`` ``1``
``kind``           ``"kmeans"`` or ``"kernel-kmeans"``
``neon_ext``       version of the package that wrote the file
``eps``            stabilizer of the midpoint rule (relative, as the model's)
``beta``           soft-min stiffness over competitors; NaN when not set
``feature_names``  optional: unicode, (n_features,): the names of the
                   features the model was fitted on (columns are then
                   matched by name)
kind ``kmeans``
``centroids``      float64, (n_clusters, n_features)
kind ``kernel-kmeans``
``support_vectors`` float64, (n_support, n_features)
``labels``         int64, (n_support,): cluster of each support vector
``gamma``          kernel width
``pool_stiffness`` gamma' of the two LME layers of the backward pass
=================  ==========================================================

A reader accepts files of its own format version or older and refuses newer
ones with a message naming both versions. Before anything is decompressed the
array headers are read and the file refused if they declare more than 16
times its size (``io/_model_file_checks.py``). Every array is validated on
load by the model's own constructor, so a damaged file gives a ValueError,
never a model that computes nonsense (nor a MemoryError).

Model classes register themselves: a subclass of
:class:`neon_ext.models.NeuralizedModel` that declares ``kind`` and its
``_array_fields`` is saved and loaded with those arrays (the same ones its
pickles keep). Other classes can register a pair of functions with
:func:`register_kind`. This module imports no model.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from typing import Callable

import numpy as np

from ._atomic import AtomicFiles
from ._model_file_checks import check_model_archive

__all__ = ["FORMAT_VERSION", "load", "register_kind", "save"]

FORMAT_NAME = "neon_ext.model"
FORMAT_VERSION = 1

# kind -> (class, to_arrays(model) -> dict, from_arrays(dict of ndarray, eps, beta) -> model)
_KINDS: dict = {}


def register_kind(kind: str, cls: type, to_arrays: Callable, from_arrays: Callable) -> None:
    """Make models of class `cls` saveable under the name `kind`.

    ``to_arrays(model)`` returns the kind's own arrays (a dict of name ->
    array-like); ``from_arrays(arrays, eps=..., beta=...)`` rebuilds the model
    from them, validating them (the constructor does).
    """
    _KINDS[kind] = (cls, to_arrays, from_arrays)


def _resolve(model):
    """(kind, neuralized model) for a neuralized model or a fitted estimator."""
    method = getattr(model, "neuralize", None)
    for candidate in (model, method() if callable(method) else None):
        for kind, (cls, _, _) in _KINDS.items():
            if type(candidate) is cls:
                return kind, candidate
    known = ", ".join(sorted(cls.__name__ for cls, _, _ in _KINDS.values()))
    raise TypeError(
        f"cannot save {type(model).__name__} objects; models that can be saved: {known} "
        "(or estimators whose neuralize() returns one)"
    )


def save(model, path) -> None:
    """Write a neuralized model (or a fitted estimator's neuralized model) to `path`.

    The file is written atomically: to a temporary file in the same folder,
    then renamed, so an interrupted save never leaves a partial file. No
    ``.npz`` suffix is added to `path`.
    """
    from .. import __version__

    kind, model = _resolve(model)
    _, to_arrays, _ = _KINDS[kind]
    beta = getattr(model, "beta", None)
    arrays = {
        "format": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "kind": np.array(kind),
        "neon_ext": np.array(__version__),
        "eps": np.array(float(model.eps)),
        "beta": np.array(np.nan if beta is None else float(beta)),
    }
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        arrays["feature_names"] = np.asarray([str(n) for n in names], dtype=str)
    for name, value in to_arrays(model).items():
        arrays[name] = np.asarray(value)
    with AtomicFiles() as files:
        with open(files.temporary(path), "wb") as fh:
            # numpy's stubs let a ** mapping fill savez's allow_pickle: bool too.
            np.savez(fh, **arrays)  # type: ignore[arg-type]


def load(path):
    """Read a model written by :func:`save` (or ``model.save``).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not a neon_ext model file, is damaged, was written by a
        newer format version, or holds invalid values.
    """
    path = os.fspath(path)
    # Our own file object: numpy leaks the one it opens when the zip is damaged.
    with open(path, "rb") as fh:  # FileNotFoundError, IsADirectoryError, PermissionError as they are
        check_model_archive(fh, path)  # before numpy allocates what the headers declare
        try:
            npz = np.load(fh, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array, not an .npz archive")
            with npz:
                arrays = {name: npz[name] for name in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, zlib.error) as exc:
            raise ValueError(f"{path} is not a readable neon_ext model file ({_reason(exc)})") from None
    if _text(arrays.get("format")) != FORMAT_NAME:
        raise ValueError(f"{path} is not a neon_ext model file (no 'format' entry {FORMAT_NAME!r})")
    version = _integer(arrays, "format_version", path)
    if version > FORMAT_VERSION:
        writer = _text(arrays.get("neon_ext")) or "a newer version"
        raise ValueError(
            f"{path} has model format version {version}, written by neon_ext {writer}; this "
            f"neon_ext reads versions up to {FORMAT_VERSION} (upgrade neon_ext)"
        )
    if version < 1:
        raise ValueError(f"{path}: invalid format_version {version}")
    kind = _text(arrays.get("kind"))
    if kind not in _KINDS:
        known = ", ".join(sorted(_KINDS))
        raise ValueError(f"{path}: unknown model kind {kind!r} (known: {known})")
    eps = _real(arrays, "eps", path)
    beta = _real(arrays, "beta", path)
    _, _, from_arrays = _KINDS[kind]
    names = arrays.get("feature_names")
    if names is not None and not (names.ndim == 1 and names.dtype.kind == "U"):
        raise ValueError(
            f"{path}: entry 'feature_names' must be a 1-D array of text, got {names.dtype} of shape {names.shape}"
        )
    try:
        model = from_arrays(arrays, eps=eps, beta=None if np.isnan(beta) else beta)
        if names is not None:
            model.feature_names_in_ = [str(n) for n in names]
        return model
    except KeyError as exc:
        raise ValueError(f"{path}: a {kind} model file needs the entry {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: invalid {kind} model ({exc})") from None


# -- helpers ------------------------------------------------------------------------
def _reason(exc) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _text(a):
    if isinstance(a, np.ndarray) and a.ndim == 0 and a.dtype.kind == "U":
        return str(a)
    return None


def _scalar(arrays, name, path, kinds):
    a = arrays.get(name)
    if not (isinstance(a, np.ndarray) and a.ndim == 0 and a.dtype.kind in kinds):
        raise ValueError(f"{path}: entry {name!r} is missing or is not a number")
    return a[()]


def _integer(arrays, name, path) -> int:
    return int(_scalar(arrays, name, path, "iu"))


def _real(arrays, name, path) -> float:
    return float(_scalar(arrays, name, path, "fiu"))
