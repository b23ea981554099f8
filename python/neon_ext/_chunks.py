"""Feeding large inputs to the compiled kernels in chunks of rows.

Interruption is not what chunks are for: the compiled cores poll for Ctrl-C
between their row blocks (``for_each_block`` in cpp/neon/parallel.hpp, the
poll set by ``run_interruptible`` in the bindings), inside a call. Chunks are
for what needs Python between compiled calls: progress bars advance, and
memory-mapped inputs and outputs stream through in pieces.

One rule sizes them for every model: at most ``_TARGET_ELEMENTS`` input
elements per call, and at most ``_TARGET_WORK`` multiply-adds per thread,
counting a row as its features times the prototypes it is compared with (the
distance product every core computes). Calls then last tens of milliseconds,
so progress bars move and the core's poll, made on the calling thread, never
waits long for the other threads' last blocks. Chunk boundaries are multiples
of the kernels' block size, so results do not depend on the chunking.
"""

from __future__ import annotations

_TARGET_ELEMENTS = 1 << 22  # input elements per compiled call (32 MiB as float64)
_TARGET_WORK = 1 << 26  # multiply-adds per thread per compiled call: ~20-70 ms at 1-3 G/s


def chunk_rows(block_rows: int, n_features: int, work_per_row: int = 0, n_threads: int = 1) -> int:
    """Rows per compiled call: a multiple of the kernel's block size.

    Bounded by the input elements streamed per call and, when
    ``work_per_row`` (multiply-adds) is given, by the time a call takes on
    ``n_threads`` threads. At least one block.
    """
    rows = _TARGET_ELEMENTS // max(1, n_features)
    if work_per_row > 0:
        rows = min(rows, _TARGET_WORK * max(1, n_threads) // work_per_row)
    return block_rows * max(1, rows // block_rows)


def rows_per_chunk(budget: int, cost_per_row: int) -> int:
    """Rows that fit in ``budget`` (elements, work) at ``cost_per_row`` each; at least one."""
    return max(1, budget // max(1, cost_per_row))


def row_chunks(n_rows: int, step: int):
    """Yield (start, stop) covering range(n_rows) in steps of `step` rows."""
    for start in range(0, n_rows, step):
        yield start, min(start + step, n_rows)
