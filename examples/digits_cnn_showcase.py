"""Clusters of a convolutional network's features, explained in pixels.

"Deep k-means" (NEON_SPEC.md section 3): a small convolutional network is
trained for a few seconds on scikit-learn's 8x8 digits (1797 images, pixel
intensities scaled to [0, 1]); its 32 penultimate ReLU activations are the
features a = Psi(x) that k-means (K = 10) clusters. For each image,
``neon_ext.torch.explain`` computes NEON's relevance of the 32 features for
the assigned cluster's logit in the compiled core and propagates it through
Psi to the 64 pixels with zennit's EpsilonGammaBox composite (z^B rule on the
first layer with pixel bounds [0, 1], gamma rule on the other convolutions,
epsilon on the dense layer). The figure has one column per cluster:

1. the cluster's mean image,
2. the mean pixel relevance over its members,
3. a typical member (median logit),
4. that member's pixel relevance (red: for the cluster, blue: against).

Run from the repository root (needs PyTorch, zennit, scikit-learn,
matplotlib: ``pip install ".[torch,plot]" scikit-learn``)::

    python examples/digits_cnn_showcase.py   # writes docs/figures/digits_cnn_neon.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from zennit.composites import EpsilonGammaBox

import neon_ext as nx

# the figure of examples/digits_showcase.py (same folder, on sys.path when run as a script)
from digits_showcase import draw_clusters
from neon_ext.torch import explain


def digits_network(n_features=32):
    """Psi (convolutions -> 32 ReLU features) and a linear classifier on top."""
    psi = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),  # 8x8 -> 4x4
        torch.nn.Conv2d(32, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 4 * 4, n_features),
        torch.nn.ReLU(),
    )
    return psi, torch.nn.Linear(n_features, 10)


def train(psi, classifier, x, y, epochs, seed):
    """Adam on the cross-entropy of digit labels, minibatches of 64."""
    net = torch.nn.Sequential(psi, classifier).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for rows in torch.randperm(len(x), generator=generator).split(64):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(x[rows]), y[rows]).backward()
            optimizer.step()
    net.eval()
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    from sklearn.datasets import load_digits

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    data = load_digits()
    digits = data.target
    x = torch.tensor(data.images / 16.0, dtype=torch.float32)[:, None]  # (1797, 1, 8, 8) in [0, 1]

    psi, classifier = digits_network()
    wall, cpu = time.perf_counter(), time.process_time()
    accuracy = train(psi, classifier, x, torch.tensor(digits), args.epochs, args.seed)
    print(
        f"trained {args.epochs} epochs in {time.perf_counter() - wall:.1f} s wall, "
        f"{time.process_time() - cpu:.1f} s CPU; training accuracy {accuracy:.3f}"
    )

    with torch.no_grad():
        features = psi(x).numpy()
    model = nx.KMeans(n_clusters=10, n_init=4, random_state=args.seed).fit(features)
    wall, cpu = time.perf_counter(), time.process_time()
    e = explain(psi, model, x, composite=EpsilonGammaBox(low=0.0, high=1.0))
    print(
        f"explained {len(x)} images in {time.perf_counter() - wall:.2f} s wall, "
        f"{time.process_time() - cpu:.2f} s CPU (beta = {e.beta:.3g}, the heuristic on the training features)"
    )

    relevance = e.relevance.numpy().reshape(len(x), 64)
    feature_gap = np.abs(e.features.relevance.sum(1) - e.logit) / np.abs(e.features.relevance).sum(1)
    kept = relevance.sum(1) / e.logit
    print(
        f"features: max |sum R_a - logit| / sum |R_a| = {feature_gap.max():.1e}; pixels: sum R_x / logit "
        f"median {np.median(kept):.3f}, 5%..95% {np.percentile(kept, 5):.3f}..{np.percentile(kept, 95):.3f} "
        "(biases and stabilizers absorb the rest)"
    )

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "digits_cnn_neon.png"
    draw_clusters(
        x.numpy().reshape(len(x), 64),
        relevance,
        e.logit,
        e.assigned,
        digits,
        model.n_clusters,
        "k-means (K = 10) on 32 CNN features of 8x8 digits: NEON on the features, LRP "
        "(EpsilonGammaBox) to the pixels (red: for the cluster, blue: against)",
        path,
        ink=1.0,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
