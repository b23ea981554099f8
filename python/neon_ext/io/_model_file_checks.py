"""What a model file may declare, checked before anything is decompressed.

A ``.npz`` model file is a zip archive of ``.npy`` arrays. Each array's
header states its shape and dtype; numpy allocates that much and then fills
it from the (possibly compressed) member. A small crafted file could thus
declare gigabytes (a 779 KB compressed file declaring 10000 x 10000
centroids peaked at 8.6 GB). :func:`check_model_archive` reads only the zip
directory and the array headers, and refuses:

- a file that is not a zip archive (with what it is instead, e.g. a ``.npy``
  array), members that are not ``.npy`` arrays, object (pickled) arrays;
- arrays that together declare more than :data:`MAX_EXPANSION` times the
  file's size plus :data:`ALLOWANCE` bytes. The files ``save`` writes are
  uncompressed, so their arrays take about the file's size; compressed files
  (``numpy.savez_compressed``) of real models compress far less than 16x.
"""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from .._validation import _format_bytes

__all__ = ["ALLOWANCE", "MAX_EXPANSION", "check_model_archive"]

#: Arrays may declare at most this many times the model file's size ...
MAX_EXPANSION = 16
#: ... plus this many bytes (small files: scalars, names).
ALLOWANCE = 1 << 20

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"


def _member_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path):
    """(shape, dtype) from the header of one .npy member, reading only the header."""
    with zf.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as exc:
            raise ValueError(f"{path} is not a neon_ext model file (entry {info.filename!r}: {exc})") from None
    return shape, dtype


def check_model_archive(fh, path) -> dict:
    """Check the open binary file `fh` of model file `path`; returns name -> (shape, dtype).

    Leaves `fh` at its start. Raises ValueError, naming the problem.
    """
    head = fh.read(6)
    fh.seek(0)
    if head[:4] not in _ZIP_MAGIC:
        what = "a single .npy array" if head == _NPY_MAGIC else "not an .npz archive"
        raise ValueError(f"{path} is not a neon_ext model file ({what})")
    size = os.fstat(fh.fileno()).st_size
    limit = MAX_EXPANSION * size + ALLOWANCE
    try:
        return _check_members(fh, path, size, limit)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ValueError(f"{path} is not a readable neon_ext model file ({exc})") from None


def _check_members(fh, path, size: int, limit: int) -> dict:
    declared = {}
    total = 0
    with zipfile.ZipFile(fh) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"{path} is not a neon_ext model file (entry {info.filename!r} is not an array)")
            shape, dtype = _member_header(zf, info, path)
            if dtype.hasobject:
                raise ValueError(
                    f"{path} is not a neon_ext model file (entry {info.filename!r} holds Python "
                    "objects; model files hold numbers and text only)"
                )
            count = 1
            for n in shape:
                count *= int(n)
            nbytes = count * max(dtype.itemsize, 1)
            total += nbytes
            if total > limit:
                raise ValueError(
                    f"{path}: entry {info.filename[:-4]!r} declares shape {tuple(shape)} ({dtype}), "
                    f"{_format_bytes(total)} of arrays in a file of {_format_bytes(size)}; a model file may "
                    f"declare at most {MAX_EXPANSION} times its size plus {_format_bytes(ALLOWANCE)} "
                    "(the file is damaged or crafted)"
                )
            declared[info.filename[:-4]] = (tuple(shape), dtype)
    fh.seek(0)
    return declared
