"""Resident memory of a k-means model, relative to its centroid bytes.

    PYTHONPATH=$PWD/python python3 bench/model_memory.py [K] [D]

Builds a NeuralizedKMeans over K x D float64 centroids (default 2000 x 2000),
then saves and loads it, and prints the growth of the resident set (VmRSS,
Linux) as a multiple of the centroid bytes, with the process's peak.
Allocator noise is a few MiB, so use a few hundred MiB of centroids or more.
"""

import gc
import os
import resource
import sys
import tempfile

import numpy as np

import neon_ext as nx


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS (Linux only)")


def main() -> None:
    K, D = (int(a) for a in (sys.argv[1:3] if len(sys.argv) >= 3 else (2000, 2000)))
    C = np.random.default_rng(0).normal(size=(K, D))
    mib = C.nbytes / 2**20
    gc.collect()
    before = rss_mib()
    m = nx.NeuralizedKMeans(C)
    gc.collect()
    built = rss_mib()
    print(f"centroids {mib:.0f} MiB; model resident +{built - before:.0f} MiB = {(built - before) / mib:.1f}x")
    m.explain(C[:1].astype(np.float32), beta=1.0)  # the float32 layout is packed at the first float32 call
    gc.collect()
    print(f"after a float32 call +{rss_mib() - before:.0f} MiB = {(rss_mib() - before) / mib:.1f}x")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.npz")
        m.save(path)
        del m
        gc.collect()
        before = rss_mib()
        loaded_model = nx.load(path)
        gc.collect()
        loaded = rss_mib()
        del loaded_model
    print(
        f"after load +{loaded - before:.0f} MiB = {(loaded - before) / mib:.1f}x; "
        f"process peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
