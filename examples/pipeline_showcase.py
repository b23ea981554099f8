"""Which original measurements drive each cluster? NEON through a scikit-learn pipeline.

Clusters scikit-learn's breast cancer data (569 tumours, 30 measurements in
their own units: radii in mm, areas in mm^2, smoothness as a ratio, ...) with
StandardScaler -> PCA(8) -> KMeans(K=3), neuralizes the whole pipeline with
``nx.neuralize(pipeline)`` and explains every tumour's assignment on the 30
raw measurements -- not on the 8 principal components the clusters live in.
The relevance of a tumour sums to its logit (the margin by which it is closer
to its own cluster than to the nearest other one, in PCA space).

Draws two panels:

1. mean relevance of each measurement per cluster (red: speaks for the
   cluster, blue: against it);
2. for each cluster, the diagnosis mix (malignant / benign) of its members,
   to read the clusters by.

Run from the repository root::

    python examples/pipeline_showcase.py       # writes docs/figures/breast_cancer_pipeline.png

Needs scikit-learn and matplotlib.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import neon_ext as nx
import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("-k", "--clusters", type=int, default=3)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_breast_cancer
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer(as_frame=True)
    X, diagnosis = data.data, data.target.to_numpy()  # 0 malignant, 1 benign
    pipe = make_pipeline(StandardScaler(), PCA(8), KMeans(args.clusters, n_init=10, random_state=0)).fit(X)
    model = nx.neuralize(pipe)
    e = model.explain(X)

    agree = float(np.mean(e.assigned == pipe.predict(X)))
    error = np.abs(e.conservation_error()).max()
    print(f"{model!r}")
    print(f"assignments equal to pipeline.predict: {agree:.0%}; beta = {e.beta:.4g}")
    print(f"conservation: max |sum(relevance) - logit| = {error:.2e} (largest logit {e.logit.max():.3g})")
    print(e.summary(4).to_string())

    fig, (ax_heat, ax_mix) = plt.subplots(
        1, 2, figsize=(19, 1.6 + 0.75 * args.clusters + 2.2), gridspec_kw={"width_ratios": [12, 1.4]}
    )
    nx.plotting.plot_cluster_heatmap(e, by="target", annotate=False, ax=ax_heat)
    ax_heat.set_title(
        "breast cancer, StandardScaler -> PCA(8) -> KMeans: mean NEON relevance of each raw measurement per cluster",
        fontsize=10,
    )
    sizes = np.bincount(e.assigned, minlength=args.clusters)
    malignant = np.bincount(e.assigned, weights=(diagnosis == 0), minlength=args.clusters)
    rows = np.arange(args.clusters)
    ax_mix.barh(rows, malignant / sizes, color="#c0392b", label="malignant")
    ax_mix.barh(rows, 1 - malignant / sizes, left=malignant / sizes, color="#7fb3d5", label="benign")
    ax_mix.set_yticks(rows, [f"cluster {k}" for k in rows])
    ax_mix.invert_yaxis()
    ax_mix.set_xlim(0, 1)
    ax_mix.set_xlabel("share of members")
    ax_mix.set_title("diagnosis", fontsize=10)
    ax_mix.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, frameon=False)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "breast_cancer_pipeline.png"
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
