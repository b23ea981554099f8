"""Feeding large inputs to the compiled kernels in chunks of rows.

One compiled call per chunk keeps every call short: between chunks Python
runs, so Ctrl-C raises KeyboardInterrupt promptly, and memory-mapped inputs and
outputs stream through in pieces. Chunk boundaries are multiples of the
kernels' block size, so results do not depend on the chunking.
"""

from __future__ import annotations

_TARGET_ELEMENTS = 1 << 22  # input elements per compiled call (32 MiB as float64)
# Multiply-adds per thread per compiled call: about 20-70 ms at 1-3 G/s, so a
# KeyboardInterrupt is seen well within a second even for large models.
_TARGET_WORK = 1 << 26


def chunk_rows(block_rows: int, n_features: int, work_per_row: int = 0, n_threads: int = 1) -> int:
    """Rows per compiled call: a multiple of the kernel's block size.

    Bounded by the input elements streamed per call and, when the kernel's
    ``work_per_row`` (multiply-adds) is given, by the time a call takes on
    ``n_threads`` threads. At least one block.
    """
    rows = _TARGET_ELEMENTS // max(1, n_features)
    if work_per_row > 0:
        rows = min(rows, _TARGET_WORK * max(1, n_threads) // work_per_row)
    return block_rows * max(1, rows // block_rows)


def row_chunks(n_rows: int, step: int):
    """Yield (start, stop) covering range(n_rows) in steps of `step` rows."""
    for start in range(0, n_rows, step):
        yield start, min(start + step, n_rows)
