"""Are NEON's explanations faithful? Feature removal against baselines on real data.

For scikit-learn's bundled wine, breast-cancer and digits data: split the rows
into two random halves, fit k-means and Gaussian kernel k-means on one half,
and explain the assigned cluster of (a subsample of) the other half's points
with NEON and with the baselines of ``neon_ext.baselines``. Each attribution is
scored by feature-removal curves (most relevant first, least relevant first,
random order) with two references: the training mean and the nearest
competitor's prototype. Also varies NEON's stiffness parameters (beta for
k-means; gamma' and the kernel width gamma for kernel k-means) and runs shap's
KernelExplainer on a few points. Writes

- ``<out>/evaluation_results.md``: tables of curve areas and time per method,
- ``<out>/figures/removal_curves.png``: the curves.

Run from the repository root (about two minutes on 2 cores)::

    python examples/evaluate_removal.py            # defaults: 200 points, 16 permutations
    python examples/evaluate_removal.py --points 100 --permutations 8 --kernel-shap 0

Needs scikit-learn and matplotlib; kernel SHAP rows need shap.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import time
import warnings
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


MAX_SUPPORT = 100  # support vectors kept per kernel k-means cluster


def split(X, seed):
    """Two random halves of the rows: (fit, explain)."""
    order = np.random.default_rng(seed).permutation(X.shape[0])
    half = X.shape[0] // 2
    return X[np.sort(order[:half])], X[np.sort(order[half:])]


def kernel_model(X, kmeans_labels, n_clusters, gamma, seed):
    """Gaussian kernel k-means, fitted by ``nx.KernelKMeans`` where this build has
    it; otherwise the soft-min kernel model of the k-means partition
    (``NeuralizedKernelKMeans.from_labels``), which reproduces that partition for
    ``fidelity_`` of the points. gamma: "auto" (median heuristic) or a number."""
    if hasattr(nx, "KernelKMeans"):
        kk = nx.KernelKMeans(
            n_clusters=n_clusters, gamma=gamma, max_support_per_cluster=MAX_SUPPORT, random_state=seed
        ).fit(X)
        model = kk.neuralize()
        model.converged = "yes" if kk.converged_ else f"no ({kk.n_iter_} sweeps)"
        model.description = (
            f"fitted by nx.KernelKMeans ({kk.n_iter_} sweeps, converged: {kk.converged_}; "
            f"the support set reproduces its labels for {kk.fidelity_:.1%} of the points)"
        )
        return model
    model = nx.NeuralizedKernelKMeans.from_labels(
        X, kmeans_labels, gamma=gamma, max_support_per_cluster=MAX_SUPPORT, random_state=seed
    )
    model.converged = "–"
    model.description = f"the kernel model of the k-means partition, reproducing it for {model.fidelity_:.1%} of points"
    return model


def fit_models(X, n_clusters, seed):
    """{model label: neuralized model}, both fitted on X."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters, n_init=10, random_state=seed).fit(X)
    models = {"k-means": nx.neuralize(km)}
    if hasattr(nx, "NeuralizedKernelKMeans"):
        models["kernel k-means"] = kernel_model(X, km.labels_, n_clusters, "auto", seed)
    return models, km.labels_


def stiffness_variants(model, X):
    """NEON with its stiffness varied: beta for k-means; gamma' (pool_stiffness) for kernel k-means."""
    if isinstance(model, nx.NeuralizedKMeans):
        beta = model.beta_heuristic(X)
        return {f"β × {s:g}": (lambda m, Z, t, b=beta * s: neon(m, Z, t, beta=b)) for s in (0.1, 1, 10, 100)}
    variants = {}
    for s in (1, 10, 100, 1000):
        stiffer = nx.NeuralizedKernelKMeans(
            model.support_vectors, model.labels, model.gamma, pool_stiffness=model.gamma * s
        )
        variants[f"γ' = γ × {s:g}"] = lambda m, Z, t, e=stiffer: neon(e, Z, t)
    return variants


def cancellation(R):
    """Per point, sum_i |R_i| / |sum_i R_i|: 1 when all relevance has one sign."""
    return np.abs(R).sum(1) / np.maximum(np.abs(R.sum(1)), 1e-300)


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
            cells.append(
                fmt_time(t) + ("" if m == "neon" else f" (×{ratio:.2g})" if ratio < 10 else f" (×{ratio:.0f})")
            )
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results, columns, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(c.split(" · ")[0] for c in columns))
    models = list(dict.fromkeys(c.split(" · ")[1] for c in columns))
    panels = [(m, ref) for m in models for ref in REFERENCES]
    fig, axes = plt.subplots(
        len(datasets),
        len(panels),
        figsize=(max(7.0, 2.9 * len(panels)), 2.3 * len(datasets) + 0.9),
        squeeze=False,
        sharex=True,
    )
    for i, ds in enumerate(datasets):
        for j, (model, ref) in enumerate(panels):
            ax = axes[i, j]
            r = results.get((f"{ds} · {model}", ref))
            if r is None:
                ax.set_axis_off()
                continue
            r.plot(ax)
            ax.set_xlabel("fraction removed" if i == len(datasets) - 1 else "", fontsize=8)
            ax.set_ylabel(f"{ds}\nlogit / initial" if j == 0 else "", fontsize=8)
            if i == 0:
                ax.set_title(f"{model}, reference = {ref}", fontsize=9)
            ax.tick_params(labelsize=7)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=f"C{i}", lw=2.2 if m == "neon" else 1.3) for i, m in enumerate(METHODS)]
    handles += [Line2D([], [], color="0.3", ls=ls) for ls in ("-", "--", ":")]
    names = list(METHODS) + [
        "most relevant first (lower is better)",
        "least relevant first (higher is better)",
        "random order",
    ]
    fig.legend(handles, names, loc="lower center", ncol=4 if len(panels) >= 4 else 3, fontsize=7.5, frameon=False)
    fig.suptitle(
        "Feature removal: mean logit of the assigned cluster (divided by its initial value)\n"
        "as features are replaced by the reference, in the order each method ranks them",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)
    try:  # a 256-colour palette keeps the PNG small enough for a README (line plots need no more)
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256)
    small.save(path, optimize=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200, help="points explained per dataset")
    parser.add_argument("--permutations", type=int, default=16, help="Shapley sampling budget per point")
    parser.add_argument("--kernel-shap", type=int, default=10, help="points for kernel SHAP (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="+", choices=list(LABELS), default=list(LABELS))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OpenMP / BLAS threads (default 1: timings on a shared machine stay comparable)",
    )
    args = parser.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # timings then use every thread OpenMP and BLAS want
        run(args)
    else:
        with threadpool_limits(args.threads):
            run(args)


def run(args):

    has_shap = args.kernel_shap > 0 and importlib.util.find_spec("shap") is not None
    if has_shap:  # import now, so that kernel SHAP's time does not include importing shap
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import shap  # noqa: F401

    started = time.perf_counter()
    results, ablation, width, kshap, models_info = {}, {}, {}, {}, []
    columns = []
    options = dict(n_samples=args.points, seed=args.seed)
    for name in args.datasets:
        X, K = load(name)
        fit, held_out = split(X, args.seed)
        references = {"mean": fit.mean(0), "competitor": "competitor"}
        models, labels = fit_models(fit, K, args.seed)
        for model_name, model in models.items():
            col = f"{LABELS[name]} · {model_name}"
            columns.append(col)
            for ref, reference in references.items():
                results[(col, ref)] = compare(
                    model, held_out, METHODS, reference=reference, n_permutations=args.permutations, repeat=3, **options
                )
                ablation.setdefault(model_name, {})[(col, ref)] = compare(
                    model, held_out, stiffness_variants(model, fit), reference=reference, **options
                )
            if model_name == "kernel k-means":  # the kernel width: the median heuristic and sharper
                for s in (1, 10, 100):
                    sharper = kernel_model(fit, labels, K, model.gamma * s, args.seed)
                    width[(col, f"γ × {s}", sharper.converged)] = compare(
                        sharper,
                        held_out,
                        ("neon", "gradient_x_input", "occlusion"),
                        reference=references["mean"],
                        **options,
                    )
            if has_shap:
                kshap[col] = compare(
                    model,
                    held_out,
                    ("neon", "shapley", "kernel_shap"),
                    reference=references["mean"],
                    n_samples=args.kernel_shap,
                    n_permutations=args.permutations,
                    seed=args.seed,
                )
            info = f"D={X.shape[1]}, K={K}, fitted on {fit.shape[0]} points"
            if hasattr(model, "support_vectors"):
                info += (
                    f", {model.n_support} support vectors, γ={model.gamma:.3g} (median heuristic), {model.description}"
                )
            ratio = cancellation(results[(col, "mean")].attributions["neon"])
            models_info.append(
                f"- {col}: {info}. NEON's Σ|R_i| / |f_c|: median {np.median(ratio):.3g}, max {ratio.max():.3g}"
            )
            r = results[(col, "mean")]
            print(f"{col:>30}: " + "  ".join(f"{m}={r.areas[m]['morf']:.3f}" for m in METHODS), flush=True)

    figures = args.out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    plot(results, columns, figures / "removal_curves.png")

    n_eval = {c: results[(c, "mean")].n_samples for c in columns}
    text = [
        "# Feature-removal evaluation: results",
        "",
        f"Generated by `python examples/evaluate_removal.py --points {args.points} "
        f"--permutations {args.permutations} --kernel-shap {args.kernel_shap} --seed {args.seed} "
        f"--threads {args.threads}` "
        f"(neon_ext {nx.__version__}, {platform.machine()}, Python {platform.python_version()}, "
        f"{args.threads} thread(s), {time.perf_counter() - started:.0f} s in all).",
        "",
        "Models are fitted on a random half of each dataset; the points explained are drawn from the other "
        "half (" + ", ".join(f"{c}: {n}" for c, n in n_eval.items()) + "). "
        "Each cell is MoRF area / LeRF area of the normalized removal curve (mean target logit divided by "
        "its initial value, over the removed fraction 0..1); **bold** marks the lowest MoRF area. "
        f"Shapley: permutation sampling, {args.permutations} orders per point (antithetic pairs). "
        'Reference "mean" is the mean of the training half.',
        "",
        "Models:",
        "",
        *models_info,
        "",
        "## Reference = training mean",
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
    ]
    for model_name, res in ablation.items():
        cols = [c for c in columns if c.endswith(f" · {model_name}")]
        variants = list(next(iter(res.values())).methods)
        what = (
            "the soft-min stiffness β over competitors, in multiples of the heuristic 1 / mean logit"
            if model_name == "k-means"
            else "the pooling stiffness γ' of the two LME layers (β at its heuristic)"
        )
        text += ["", f"## NEON on {model_name}: {what}; MoRF / LeRF areas", ""]
        for ref in REFERENCES:
            text += [f"reference = {ref}:", "", area_table(res, cols, ref, variants), ""]
    if width:
        text += [
            "## Kernel k-means with a sharper kernel (γ in multiples of the median heuristic; reference = mean)",
            "",
            "MoRF / LeRF areas of NEON (default γ' = γ, heuristic β) and two baselines.",
            "",
            "| model | fit converged | neon | gradient_x_input | occlusion | random | NEON's median Σ\\|R\\| / \\|f\\| |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for (col, s, converged), r in width.items():
            cells = [f"{r.areas[m]['morf']:.3f} / {r.areas[m]['lerf']:.3f}" for m in r.methods]
            ratio = np.median(cancellation(r.attributions["neon"]))
            text.append(
                f"| {col}, {s} | {converged} | "
                + " | ".join(cells)
                + f" | {r.areas['random']['random']:.3f} | {ratio:.3g} |"
            )
    if kshap:
        text += [
            "",
            f"## Kernel SHAP on {args.kernel_shap} points (reference = mean; areas MoRF / LeRF and time)",
            "",
            "| model | neon | shapley | kernel_shap |",
            "|---|---:|---:|---:|",
        ]
        for col, r in kshap.items():
            cells = [f"{r.areas[m]['morf']:.3f} / {r.areas[m]['lerf']:.3f}, {fmt_time(r.times[m])}" for m in r.methods]
            text.append(f"| {col} | " + " | ".join(cells) + " |")
    (args.out / "evaluation_results.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    print(
        f"wrote {args.out / 'evaluation_results.md'} and {figures / 'removal_curves.png'} "
        f"in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
