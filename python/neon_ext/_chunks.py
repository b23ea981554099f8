"""Feeding large inputs to the compiled kernels in chunks of rows.

One compiled call per chunk keeps every call short: between chunks Python
runs, so Ctrl-C raises KeyboardInterrupt promptly, and memory-mapped inputs and
outputs stream through in pieces. Chunk boundaries are multiples of the
kernels' block size, so results do not depend on the chunking.
"""

from __future__ import annotations

_TARGET_ELEMENTS = 1 << 22  # input elements per compiled call (32 MiB as float64)


def chunk_rows(block_rows: int, n_features: int) -> int:
    """Rows per compiled call: a multiple of the kernel's block size."""
    blocks = max(1, _TARGET_ELEMENTS // max(1, block_rows * n_features))
    return block_rows * blocks


def row_chunks(n_rows: int, step: int):
    """Yield (start, stop) covering range(n_rows) in steps of `step` rows."""
    for start in range(0, n_rows, step):
        yield start, min(start + step, n_rows)
