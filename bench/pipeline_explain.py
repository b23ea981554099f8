"""What explaining through a pipeline costs: NeuralizedPipeline.explain on raw
rows against the same model's explain on the already-transformed rows, and
against the transform itself (scikit-learn's ``pipe[:-1].transform``).

All in one process, repeats interleaved (a busy machine slows every method
alike); median wall and CPU time (``time.process_time``, all threads) per
method, and the ratios to the z-space explanation. Also checks conservation.

    python bench/pipeline_explain.py                       # k-means, 2e5 x 64 -> 16, K = 16
    python bench/pipeline_explain.py --n 2e4 --kernel      # kernel k-means, plain and whitened PCA

Needs scikit-learn.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import neon_ext as nx


def timed(fn, reps):
    walls, cpus = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return float(np.median(walls)), float(np.median(cpus))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=float, default=2e5)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--dz", type=int, default=16)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--dtype", default="float32,float64")
    p.add_argument("--kernel", action="store_true", help="kernel k-means (support = 40 per cluster)")
    args = p.parse_args(argv)

    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    n = int(args.n)
    X = rng.normal(size=(n, args.d)) @ rng.normal(size=(args.d, args.d)) * 3.0 + 100.0
    cases = [("standard+pca", False)] + ([("standard+pca-whiten", True)] if args.kernel else [])
    for name, whiten in cases:
        prep = make_pipeline(StandardScaler(), PCA(args.dz, whiten=whiten)).fit(X[:20000])
        if args.kernel:
            from neon_ext.models.pipeline import affine_steps

            Zfit = prep.transform(X[:4000])
            labels = nx.KMeans(args.k, random_state=0).fit_predict(Zfit)
            inner = nx.NeuralizedKernelKMeans.from_labels(Zfit, labels, "auto", max_support_per_cluster=40)
            A, xc, b, B = affine_steps(prep.steps)
            model = nx.NeuralizedPipeline(inner, A, b, B, x_center=xc)
        else:
            km = nx.KMeans(args.k, random_state=0).fit(prep.transform(X[:20000]))
            model = nx.neuralize(make_pipeline(*prep.named_steps.values(), km))
            inner = model.model
        print(
            f"\n{name}: N = {n}, D_in = {args.d}, D_z = {args.dz}, {inner!r}, pair-level path: {model._core.pair_level}"
        )
        for dtype in args.dtype.split(","):
            Xt = X.astype(dtype)
            Z = prep.transform(Xt).astype(dtype)
            for threads in map(int, args.threads.split(",")):
                beta = model.beta_heuristic(Xt[:5000], n_threads=threads)
                methods = {
                    "pipeline explain (raw x)": lambda: model.explain(Xt, beta=beta, n_threads=threads),
                    "model explain (z given)": lambda: inner.explain(Z, beta=beta, n_threads=threads),
                    "sklearn transform": lambda: prep.transform(Xt),
                }
                for fn in methods.values():
                    fn()  # warm-up
                res = {m: [] for m in methods}
                for _ in range(args.reps):
                    for m, fn in methods.items():
                        res[m].append(timed(fn, 1))
                base = np.median([w for w, _ in res["model explain (z given)"]])
                print(f"  {dtype}, {threads} thread(s):")
                for m, values in res.items():
                    wall = float(np.median([w for w, _ in values]))
                    cpu = float(np.median([c for _, c in values]))
                    print(f"    {m:26s} wall {wall * 1e3:8.1f} ms  cpu {cpu * 1e3:8.1f} ms  ratio {wall / base:5.2f}")
                e = model.explain(Xt[:20000], beta=beta, n_threads=threads)
                rel = np.abs(e.relevance.sum(1, dtype=np.float64) - e.logit) / np.abs(e.relevance).sum(1)
                print(f"    conservation (first 20000 rows): max |sum R - logit| / sum |R| = {rel.max():.1e}")


if __name__ == "__main__":
    main()
