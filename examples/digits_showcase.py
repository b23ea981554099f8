"""Why does a handwritten digit fall in its cluster? NEON heat maps on scikit-learn's digits.

Clusters the 1797 8x8 digit images (raw 0..16 pixel intensities, 64 features)
with k-means, K = 10 (and, with --kernel, Gaussian kernel k-means),
explains every image's assignment with NEON, and draws one column per cluster:

1. the cluster's centroid,
2. the mean NEON relevance over the cluster's members,
3. a typical member (the one with the median logit),
4. that member's relevance: red pixels speak for the cluster, blue against
   it; the relevance of an image sums to its logit, the margin by which it is
   closer to its own cluster than to the nearest other one.

Run from the repository root::

    python examples/digits_showcase.py            # writes docs/figures/digits_neon_kmeans.png
    python examples/digits_showcase.py --kernel   # and digits_neon_kernel_kmeans.png

Needs scikit-learn and matplotlib.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import neon_ext as nx


def cluster_order(assigned, digits, n_clusters):
    """Clusters sorted by their majority digit, with that digit and its share."""
    majority = []
    for c in range(n_clusters):
        members = digits[assigned == c]
        counts = np.bincount(members, minlength=10) if members.size else np.zeros(10, int)
        majority.append((int(counts.argmax()), counts.max() / max(members.size, 1)))
    order = sorted(range(n_clusters), key=lambda c: (majority[c][0], -majority[c][1]))
    return order, majority


def showcase(model, X, digits, title, path, prototypes=None):
    e = model.explain(X)
    draw_clusters(X, e.relevance, e.logit, e.assigned, digits, model.n_clusters, title, path, prototypes=prototypes)
    return e


def draw_clusters(images, relevance, logit, assigned, digits, n_clusters, title, path, *, prototypes=None, ink=16.0):
    """One column per cluster (sorted by majority digit): its centroid (or mean
    image), its mean relevance, a typical member (median logit) and that
    member's relevance. ``images`` and ``relevance`` are (N, 64); pixel
    intensities run from 0 to ``ink``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    K = n_clusters
    order, majority = cluster_order(assigned, digits, K)
    fig, axes = plt.subplots(4, K, figsize=(1.05 * K, 4.9))
    rows = [
        "centroid" if prototypes is not None else "cluster mean",
        "mean relevance",
        "typical member",
        "its relevance",
    ]
    for j, c in enumerate(order):
        members = np.flatnonzero(assigned == c)
        proto = prototypes[c] if prototypes is not None else images[members].mean(0)
        mean_rel = relevance[members].mean(0)
        typical = members[np.argsort(logit[members])[len(members) // 2]]
        panels = [
            (proto, "gray_r", 0, ink),
            (mean_rel, "bwr", None, None),
            (images[typical], "gray_r", 0, ink),
            (relevance[typical], "bwr", None, None),
        ]
        for i, (img, cmap, lo, hi) in enumerate(panels):
            ax = axes[i, j]
            if lo is None:
                m = np.abs(img).max() or 1.0
                lo, hi = -m, m
            ax.imshow(np.asarray(img).reshape(8, 8), cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(rows[i], fontsize=7.5)
        digit, share = majority[c]
        axes[0, j].set_title(f"cluster {c}\n{share:.0%} '{digit}'s, n={members.size}", fontsize=7.5)
        axes[3, j].set_xlabel(f"logit {logit[typical]:.0f}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97), h_pad=0.3, w_pad=0.2)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernel", action="store_true", help="also draw kernel k-means (see docs/evaluation.md)")
    args = parser.parse_args(argv)
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_digits

    data = load_digits()
    X, digits = data.data.astype(np.float64), data.target
    args.out.mkdir(parents=True, exist_ok=True)

    km = KMeans(10, n_init=10, random_state=args.seed).fit(X)
    model = nx.neuralize(km)
    path = args.out / "digits_neon_kmeans.png"
    e = showcase(
        model,
        X,
        digits,
        "k-means (K = 10) on 8x8 digits: NEON relevance of each pixel for the "
        "assigned cluster (red: for, blue: against)",
        path,
        prototypes=model.centroids,
    )
    print(f"wrote {path}; conservation max |sum R - logit| = {np.abs(e.conservation_error()).max():.1e}")

    if not args.kernel:
        return
    # kernel k-means: fitted where this build has the estimator, else the soft-min kernel model
    # of the k-means partition; at most 100 support vectors per cluster
    if hasattr(nx, "KernelKMeans"):
        kernel = (
            nx.KernelKMeans(n_clusters=10, gamma="auto", max_support_per_cluster=100, random_state=args.seed)
            .fit(X)
            .neuralize()
        )
    else:
        kernel = nx.NeuralizedKernelKMeans.from_labels(
            X, km.labels_, gamma="auto", max_support_per_cluster=100, random_state=args.seed
        )
    path = args.out / "digits_neon_kernel_kmeans.png"
    e = showcase(
        kernel,
        X,
        digits,
        "kernel k-means (K = 10, Gaussian kernel) on 8x8 digits: NEON relevance "
        "for the assigned cluster (red: for, blue: against)",
        path,
    )
    R = e.relevance
    ratio = np.abs(R).sum(1) / np.maximum(np.abs(R.sum(1)), 1e-300)
    print(f"wrote {path}; median sum|R| / |logit| = {np.median(ratio):.3g} (1 = no cancellation)")


if __name__ == "__main__":
    main()
