"""Resource limits: outputs that cannot fit fail early with a clear MemoryError,
and memory-mapped inputs and outputs stream with bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from neon_ext import _validation
from model_factories import MODEL_CASES, MODEL_IDS

GiB = 1 << 30


@pytest.mark.parametrize("case", MODEL_CASES, ids=MODEL_IDS)
@pytest.mark.parametrize("method", ["explain", "explain_default_beta", "logits", "predict"])
def test_an_output_larger_than_available_memory_fails_before_any_work(case, method):
    available = _validation.available_memory()
    if available is None:
        pytest.skip("available memory unknown on this platform")
    model = case.make(np.random.default_rng(0), 3, 4)
    # A broadcast input takes no memory; its outputs would need twice what is available.
    n_rows = int(2 * available // (4 * 8)) + 1 if method != "predict" else int(2 * available // 8) + 1
    X = np.broadcast_to(np.ones((1, 4)), (n_rows, 4))
    call = {
        "explain": lambda: model.explain(X, beta=1.0),
        "explain_default_beta": lambda: model.explain(X),  # must not run the beta pass first
        "logits": lambda: model.logits(X),
        "predict": lambda: model.predict(X),
    }[method]
    with pytest.raises(MemoryError, match=r"would need .* GiB .* but only .* available: pass out="):
        call()


def test_allocation_check_against_the_available_memory(monkeypatch):
    monkeypatch.setattr(_validation, "available_memory", lambda: 100 << 20)
    a = _validation.allocate((50 << 20,), np.uint8, "relevance")
    assert a.shape == (50 << 20,)
    with pytest.raises(
        MemoryError,
        match=r"the relevance array would need 200.0 MiB \(shape \(25, 1048576\), "
        r"float64\) but only 100.0 MiB of memory is available",
    ):
        _validation.allocate((25, 1 << 20), np.float64, "relevance")
    monkeypatch.setattr(_validation, "available_memory", lambda: None)  # unknown: no check
    assert _validation.allocate((2, 3), np.float32).dtype == np.float32


def test_available_memory_is_plausible():
    available = _validation.available_memory()
    if available is None:
        pytest.skip("not reported on this platform")
    assert 16 << 20 < available < 1 << 50


CHILD = textwrap.dedent(
    """
    import json, resource, sys, threading, time
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from model_factories import MODEL_CASES
    from neon_ext import _chunks

    _chunks._TARGET_ELEMENTS = 1 << 18  # a small block budget: 2 MiB of float64 per compiled call
    case = {c.name: c for c in MODEL_CASES}[sys.argv[2]]
    X = np.load(sys.argv[3], mmap_mode="r")
    out = np.lib.format.open_memmap(sys.argv[4], mode="w+", dtype=X.dtype, shape=X.shape)
    model = case.make(np.random.default_rng(0), 8, X.shape[1])
    reference = model.explain(np.array(X[:2000]), beta=0.5).relevance  # also warms up threads

    def rss_anon():  # resident anonymous memory: file-backed memmap pages excluded
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024

    base = peak = rss_anon()
    done = threading.Event()
    def sample():
        global peak
        while not done.is_set():
            peak = max(peak, rss_anon())
            time.sleep(0.001)
    sampler = threading.Thread(target=sample)
    sampler.start()
    e = model.explain(X, beta=0.5, out=out)
    model.explain(X, out=out)  # default beta: one more pass over the memory map
    done.set()
    sampler.join()
    e = model.explain(X, beta=0.5, out=out)
    ok = bool(np.allclose(out[:2000], reference, rtol=1e-12, atol=1e-12))
    print(json.dumps({"base": base, "peak": peak, "x_bytes": X.nbytes, "matches": ok, "budget": 8 << 18,
                      "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("case", MODEL_IDS)
def test_memory_mapped_explain_keeps_peak_memory_bounded(tmp_path, case):
    """Explaining a 32 MiB memory map, 16x the (reduced) block budget, into a
    memory-mapped out= grows resident anonymous memory by far less than the data."""
    n, d = 65536, 64
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=(n, d))
    rng = np.random.default_rng(1)
    for lo in range(0, n, 8192):
        X[lo : lo + 8192] = rng.normal(size=(8192, d))
    X.flush()
    del X
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    run = subprocess.run(
        [
            sys.executable,
            str(script),
            str(Path(__file__).parent),
            case,
            str(tmp_path / "X.npy"),
            str(tmp_path / "R.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["matches"], result
    growth = result["peak"] - result["base"]
    # Per-row outputs (logit, assigned: 1 MiB) and per-call scratch are expected;
    # a copy of X or of the relevance would be 32 MiB.
    assert growth < result["x_bytes"] / 4, result
