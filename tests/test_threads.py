"""Thread safety: shared models used from many Python threads at once, and the
GIL released while the compiled kernels run."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from neon_ext import _chunks
from model_factories import MODEL_CASES, MODEL_IDS


@pytest.mark.parametrize("case", MODEL_CASES, ids=MODEL_IDS)
def test_many_threads_on_a_shared_model_match_serial_calls(case):
    rng = np.random.default_rng(7)
    model = case.make(rng, 6, 11)
    inputs = [rng.normal(size=(int(rng.integers(1, 3000)), 11)) * 2 for _ in range(24)]
    inputs += [x.astype(np.float32) for x in inputs[:8]]

    def work(i):
        X = inputs[i]
        n_threads = (None, 1, 2)[i % 3]
        e = model.explain(X, target=None if i % 2 else i % 6, beta=None if i % 4 else 0.25, n_threads=n_threads)
        return e.relevance, e.logit, e.assigned, e.beta, model.predict(X, n_threads=n_threads)

    serial = [work(i) for i in range(len(inputs))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(2):
            concurrent = list(pool.map(work, range(len(inputs))))
            for got, want in zip(concurrent, serial):
                for a, b in zip(got, want):
                    np.testing.assert_array_equal(a, b, strict=True)


@pytest.mark.parametrize("case", MODEL_CASES, ids=MODEL_IDS)
def test_the_gil_is_released_while_the_kernel_runs(case, monkeypatch):
    """A Python heartbeat thread keeps beating while one long compiled call runs.

    The explanation runs as a single compiled call (chunk budgets raised) of
    about half a second on one OpenMP thread.  If the call held the GIL,
    the heartbeat could only run in the call's short Python prologue and
    epilogue (well under a millisecond), not 20 beats of >= 1 ms each.
    """
    monkeypatch.setattr(_chunks, "_TARGET_ELEMENTS", 1 << 40)
    monkeypatch.setattr(_chunks, "_TARGET_WORK", 1 << 62)
    rng = np.random.default_rng(8)
    model = case.make(rng, 2048, 64)
    row = rng.normal(size=(1, 64))
    t0 = time.perf_counter()
    model.explain(np.broadcast_to(row, (500, 64)), beta=1.0, n_threads=1)  # warm up, and time it
    n = int(min(max(0.5 / ((time.perf_counter() - t0) / 500), 1000), 100_000))  # ~0.5 s of work
    X = np.broadcast_to(row, (n, 64))  # one row repeated: no memory
    out = np.empty(X.shape)

    in_call = threading.Event()
    stop = threading.Event()
    beats_during_call = 0

    def heartbeat():
        nonlocal beats_during_call
        in_call.wait()
        while not stop.is_set():
            time.sleep(0.001)
            if in_call.is_set():
                beats_during_call += 1

    beater = threading.Thread(target=heartbeat)
    beater.start()
    try:
        in_call.set()
        model.explain(X, beta=1.0, out=out, n_threads=1)
        in_call.clear()
    finally:
        stop.set()
        beater.join()
    print("heartbeats during the compiled call:", beats_during_call)
    assert beats_during_call >= 20, f"only {beats_during_call} heartbeats while the kernel ran: GIL held?"
