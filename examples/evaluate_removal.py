"""Are NEON's explanations faithful? Feature removal against baselines on real data.

For scikit-learn's bundled wine, breast-cancer and digits data, fit k-means (and
kernel k-means when this build of neon_ext has it), explain the assigned
cluster of a subsample of points with NEON and with the baselines of
``neon_ext.baselines``, and record feature-removal curves (most relevant first,
least relevant first, random) with two references: the data mean and the
nearest competitor's prototype. Writes

- ``<out>/evaluation_results.md``: tables of curve areas and time per method,
- ``<out>/figures/removal_curves.png``: the curves.

Run from the repository root (a few minutes on 2 cores)::

    python examples/evaluate_removal.py            # defaults: 200 points, 16 permutations
    python examples/evaluate_removal.py --points 100 --permutations 8 --kernel-shap 0

Needs scikit-learn and matplotlib; kernel SHAP rows need shap.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import time
from pathlib import Path

import numpy as np

import neon_ext as nx
from neon_ext.baselines import neon
from neon_ext.evaluate import compare

METHODS = ("neon", "sensitivity", "gradient_x_input", "occlusion", "shapley")
REFERENCES = ("mean", "competitor")
LABELS = {"wine": "wine", "breast_cancer": "breast cancer", "digits": "digits"}


def load(name):
    from sklearn import datasets

    data = getattr(datasets, f"load_{name}")()
    X = np.asarray(data.data, dtype=np.float64)
    n_clusters = {"wine": 3, "breast_cancer": 2, "digits": 10}[name]
    if name != "digits":  # chemical / morphological measurements on very different scales
        X = (X - X.mean(0)) / X.std(0)
    return X, n_clusters  # digits: raw 0..16 pixel intensities


def fit_models(X, n_clusters, seed):
    """{model label: neuralized model}; kernel k-means only where the package has it."""
    from sklearn.cluster import KMeans

    models = {"k-means": nx.neuralize(KMeans(n_clusters, n_init=10, random_state=seed).fit(X))}
    if hasattr(nx, "KernelKMeans"):
        kk = nx.KernelKMeans(n_clusters=n_clusters, gamma="auto", random_state=seed).fit(X)
        models["kernel k-means"] = kk.neuralize()
    return models


def fmt_time(s):
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def area_table(results, columns, reference, methods):
    head = "| method | " + " | ".join(columns) + " |"
    lines = [head, "|---|" + "---:|" * len(columns)]
    for m in list(methods) + ["random"]:
        cells = []
        for col in columns:
            r = results[(col, reference)]
            if m == "random":
                a = r.areas["random"]["random"]
                cells.append(f"{a:.3f}")
            else:
                best_morf = r.best("morf") == m
                morf = f"**{r.areas[m]['morf']:.3f}**" if best_morf else f"{r.areas[m]['morf']:.3f}"
                cells.append(f"{morf} / {r.areas[m]['lerf']:.3f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def time_table(results, columns, methods):
    lines = ["| method | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for m in methods:
        cells = []
        for col in columns:
            r = results[(col, "mean")]
            t, t0 = r.times[m], r.times["neon"]
            ratio = t / t0
            cells.append(fmt_time(t) + ("" if m == "neon" else f" (×{ratio:.2g})" if ratio < 10 else f" (×{ratio:.0f})"))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results, columns, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(c.split(" · ")[0] for c in columns))
    models = list(dict.fromkeys(c.split(" · ")[1] for c in columns))
    panels = [(m, ref) for m in models for ref in REFERENCES]
    fig, axes = plt.subplots(len(datasets), len(panels), figsize=(max(7.0, 2.9 * len(panels)), 2.3 * len(datasets) + 0.9),
                             squeeze=False, sharex=True)
    for i, ds in enumerate(datasets):
        for j, (model, ref) in enumerate(panels):
            ax = axes[i, j]
            r = results.get((f"{ds} · {model}", ref))
            if r is None:
                ax.set_axis_off()
                continue
            r.plot(ax)
            ax.set_xlabel("fraction removed" if i == len(datasets) - 1 else "")
            ax.set_ylabel(f"{ds}\nlogit / initial" if j == 0 else "", fontsize=8)
            if i == 0:
                ax.set_title(f"{model}, reference = {ref}", fontsize=9)
            ax.tick_params(labelsize=7)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=f"C{i}", lw=2.2 if m == "neon" else 1.3) for i, m in enumerate(METHODS)]
    handles += [Line2D([], [], color="0.3", ls=ls) for ls in ("-", "--", ":")]
    names = list(METHODS) + ["most relevant first (lower is better)", "least relevant first (higher is better)",
                             "random order"]
    fig.legend(handles, names, loc="lower center", ncol=4 if len(panels) >= 4 else 3, fontsize=7.5,
               frameon=False)
    fig.suptitle("Feature removal: mean logit of the assigned cluster (divided by its initial value)\n"
                 "as features are replaced by the reference, in the order each method ranks them", fontsize=9)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200, help="points explained per dataset")
    parser.add_argument("--permutations", type=int, default=16, help="Shapley sampling budget per point")
    parser.add_argument("--kernel-shap", type=int, default=10, help="points for kernel SHAP (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)

    started = time.perf_counter()
    results, ablation, kshap = {}, {}, {}
    columns = []
    for name in ("wine", "breast_cancer", "digits"):
        X, K = load(name)
        for model_name, model in fit_models(X, K, args.seed).items():
            col = f"{LABELS[name]} · {model_name}"
            columns.append(col)
            for ref in REFERENCES:
                results[(col, ref)] = compare(model, X, METHODS, reference=ref, n_samples=args.points,
                                              n_permutations=args.permutations, seed=args.seed, repeat=3)
                # NEON's stiffness beta: the heuristic, and 10x / 100x stiffer (towards the nearest competitor)
                beta = model.beta_heuristic(X)
                variants = {f"β × {s:g}": (lambda m, Z, t, b=beta * s: neon(m, Z, t, beta=b)) for s in (0.1, 1, 10, 100)}
                ablation[(col, ref)] = compare(model, X, variants, reference=ref, n_samples=args.points,
                                               seed=args.seed)
            if args.kernel_shap > 0 and importlib.util.find_spec("shap") is not None:
                kshap[col] = compare(model, X, ("neon", "shapley", "kernel_shap"), reference="mean",
                                     n_samples=args.kernel_shap, n_permutations=args.permutations,
                                     seed=args.seed)
            r = results[(col, "mean")]
            print(f"{col:>30}: N={X.shape[0]} D={X.shape[1]} K={K}  "
                  + "  ".join(f"{m}={r.areas[m]['morf']:.3f}" for m in METHODS), flush=True)

    figures = args.out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    plot(results, columns, figures / "removal_curves.png")

    n_eval = {c: results[(c, "mean")].n_samples for c in columns}
    text = [
        "# Feature-removal evaluation: results",
        "",
        f"Generated by `python examples/evaluate_removal.py --points {args.points} "
        f"--permutations {args.permutations} --kernel-shap {args.kernel_shap} --seed {args.seed}` "
        f"(neon_ext {nx.__version__}, {platform.machine()}, Python {platform.python_version()}, "
        f"{time.perf_counter() - started:.0f} s in all).",
        "",
        "Points explained per column: " + ", ".join(f"{c}: {n}" for c, n in n_eval.items()) + ". "
        "Each cell is MoRF area / LeRF area of the normalized removal curve (target logit divided by "
        "its mean initial value, over the removed fraction 0..1); **bold** marks the lowest MoRF area. "
        f"Shapley: permutation sampling, {args.permutations} orders per point (antithetic pairs).",
        "",
        "## Reference = data mean",
        "",
        area_table(results, columns, "mean", METHODS),
        "",
        "## Reference = nearest competitor's prototype",
        "",
        area_table(results, columns, "competitor", METHODS),
        "",
        "## Time to compute the attributions (reference = mean; fastest of 3 runs; × = multiple of NEON's time)",
        "",
        time_table(results, columns, METHODS),
        "",
        "## NEON's stiffness β (multiples of the heuristic 1 / mean logit), MoRF / LeRF areas",
        "",
        "### reference = mean",
        "",
        area_table(ablation, columns, "mean", list(next(iter(ablation.values())).methods)),
        "",
        "### reference = competitor",
        "",
        area_table(ablation, columns, "competitor", list(next(iter(ablation.values())).methods)),
    ]
    if kshap:
        text += [
            "",
            f"## Kernel SHAP on {args.kernel_shap} points (reference = mean; areas MoRF / LeRF and time)",
            "",
            "| column | neon | shapley | kernel_shap |",
            "|---|---:|---:|---:|",
        ]
        for col, r in kshap.items():
            cells = [f"{r.areas[m]['morf']:.3f} / {r.areas[m]['lerf']:.3f}, {fmt_time(r.times[m])}"
                     for m in r.methods]
            text.append(f"| {col} | " + " | ".join(cells) + " |")
    (args.out / "evaluation_results.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'evaluation_results.md'} and {figures / 'removal_curves.png'} "
          f"in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
