"""The quick-start job: cluster the bundled wine data and explain every point.

Run it with ``neon-ext demo`` or ``python -m neon_ext``. It needs no network
and runs in a few seconds: k-means (K=3) on the 178 wines x 13 standardized
chemical measurements of the UCI wine data, NEON relevance of every feature of
every wine for its cluster, a printed report, and — when matplotlib is
installed — a PNG figure with the cluster x feature heat map of mean
relevance and one wine's explanation.
"""

from __future__ import annotations

import sys

import numpy as np

from ..cluster._fitting import fit_kmeans
from ..datasets import load_wine

__all__ = ["run_demo"]


def _figure(e, raw, row, path) -> None:
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, works headless

    from ..io._atomic import AtomicFiles
    from ..plotting import plot_cluster_heatmap, plot_relevance

    fig = Figure(figsize=(15.5, 6.0), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.55, 1.0])
    plot_cluster_heatmap(e, ax=left)
    plot_relevance(e, row, data=raw, ax=right)
    fig.suptitle("NEON explanation of k-means on the UCI wine data (features standardized)", fontsize=12)
    with AtomicFiles() as files:
        fig.savefig(files.temporary(path), format="png", dpi=110)


def run_demo(*, figure=None, file=None, n_clusters: int = 3, seed: int = 0):
    """Cluster the bundled wine data, explain it, print a report, draw a figure.

    Parameters
    ----------
    figure : str or path, optional
        Where to write the PNG figure when matplotlib is installed (the
        command line's default is ``neon-ext-demo.png``); None: no figure.
    file : text stream, optional
        Where to print the report (default ``sys.stdout``).
    n_clusters, seed
        k-means settings.

    Returns
    -------
    Explanation
        Relevance of every wine (standardized features) for its own cluster.
    """
    file = sys.stdout if file is None else file
    X, cultivar, names = load_wine()
    Z = (X - X.mean(0)) / X.std(0)  # standardized: features on one scale
    model = fit_kmeans(Z, n_clusters, seed=seed)
    e = model.explain(Z)
    e.feature_names = np.asarray(names, dtype=object)
    sizes = e.cluster_sizes()
    error = np.abs(e.conservation_error()).max()
    cross = np.zeros((n_clusters, int(cultivar.max()) + 1), dtype=np.int64)
    np.add.at(cross, (e.assigned, cultivar), 1)

    out = [
        f"neon_ext demo: k-means (K={n_clusters}) on the UCI wine data "
        f"({Z.shape[0]} wines x {Z.shape[1]} standardized chemical measurements)",
        "",
        f"cluster sizes: {sizes.tolist()}",
        "wines per cluster and cultivar (unused by k-means):",
    ]
    out += [
        f"  cluster {c}: " + "  ".join(f"cultivar {j}: {cross[c, j]:>2}" for j in range(cross.shape[1]))
        for c in range(n_clusters)
    ]
    out += [
        f"beta (the paper's heuristic, 1 / mean logit): {e.beta:.4f}",
        f"conservation: max |sum(relevance) - logit| = {error:.1e}  (logits up to {e.logit.max():.1f})",
        "",
        "Which features make each cluster (mean relevance of the features, per cluster):",
        e.summary(3).to_string(),
        "",
    ]
    # One wine to look at closely: the one with the median logit of the largest cluster.
    big = int(np.argmax(sizes))
    rows = np.flatnonzero(e.target == big)
    row = int(rows[np.argsort(e.logit[rows], kind="stable")[len(rows) // 2]])
    top = ", ".join(f"{names[j]} = {X[row, j]:.4g} ({r:+.2f})" for j, r in e.top_features(row, 3))
    out.append(f"wine {row} (cluster {big}, logit {e.logit[row]:.2f}): {top}")

    if figure is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            out.append("(install matplotlib for a figure: pip install 'neon-ext[plot]')")
        else:
            _figure(e, X, row, figure)
            out.append(f"figure: {figure}")
    print("\n".join(out), file=file)
    return e
