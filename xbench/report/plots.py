"""Pure functions from tidy results (and saved previews) to PNG plots."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: reports are written to files, never shown
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from ..registry import data_kind  # noqa: E402
from ..results import results_path, safe_name, with_metric_name  # noqa: E402
from .meta import applies_mask, arrow, x_axis, y_axis  # noqa: E402


def style(i: int) -> dict:
    """Colour and line style of the i-th method: ten colours, then the same colours dashed, then dotted,
    so that up to 30 methods stay distinguishable in one panel."""
    return {"color": plt.cm.tab10(i % 10), "ls": ("-", "--", ":")[(i // 10) % 3]}


def save(fig, path: Path, top: float | None = None) -> Path:
    """Lay out (room for a suptitle: the top ``top`` of the height, default 0.97), write as PNG (110 dpi) and
    close ``fig``; returns ``path``."""
    fig.tight_layout(rect=(0, 0, 1, top or 0.97) if fig._suptitle is not None else (0, 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def outside_legend(ax, fontsize: int = 7) -> None:
    """The legend to the right of the axes, outside them, so that it never covers a curve."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)


def curve_plots(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One PNG per model: a panel per curve (metric, stat), the mean curve per method, AUC in the legend."""
    curves = with_metric_name(df[df["kind"] == "curve"])
    paths = []
    for model, g in curves.groupby("model", sort=False):
        panels = list(dict.fromkeys(zip(g["metric"], g["stat"])))
        methods = list(dict.fromkeys(g["method"]))  # one style per method across all panels
        cols = min(3, len(panels))
        rows = -(-len(panels) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(8.0 * cols, 4.0 * rows), squeeze=False)
        for ax, (metric, stat) in zip(axes.flat, panels):
            gm = g[(g["metric"] == metric) & (g["stat"] == stat)]
            params = gm["metric_params"].iloc[0]
            name = gm["metric_name"].iloc[0]
            xlabel, scale = x_axis(name)
            for method, gmm in gm.groupby("method", sort=False):
                mean = gmm.groupby("point").agg(x=("x", "first"), y=("value", "mean"))
                sel = df[(df["model"] == model) & (df["method"] == method) & (df["metric"] == metric)
                         & (df["kind"] == "sample")]
                auc_stat = stat if stat in set(sel["stat"]) else "auc"
                auc = sel[sel["stat"] == auc_stat]["value"].mean()
                name_m = "model (no attribution)" if method == "-" else method
                what = "AUC" if auc_stat == "auc" else auc_stat  # a curve whose stat is its last point (mprt)
                lab = f"{name_m} ({what} {auc:.3f})" if np.isfinite(auc) else name_m
                ax.plot(mean["x"] * scale, mean["y"], label=lab, lw=1.8, marker="." if len(mean) < 20 else None,
                        **style(methods.index(method)))
            title = metric if stat in ("curve",) else f"{metric}: {stat}"
            ax.set_title(title + arrow(name, stat), fontsize=11)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(y_axis(name, stat, params))
            ax.grid(alpha=0.3)
            outside_legend(ax)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        fig.suptitle(f"{model}: curves (mean over samples)", fontsize=12)
        p = save(fig, out_dir / f"curves_{safe_name(model)}.png")
        paths.append(p)
    return paths


def robust_max(a: torch.Tensor, q: float = 0.99) -> float:
    """The ``q`` quantile of |a| (1.0 for an all-zero map): the colour limit of one heatmap, so a few extreme
    pixels do not wash out the rest (Captum's visualiser scales each map by its own outlier percentile too)."""
    v = float(torch.quantile(a.abs().flatten().float(), q))
    return v if v > 0 else 1.0


def heatmap_grids(run_dir: Path, out_dir: Path) -> list[Path]:
    """One PNG per model: rows = samples, columns = input + methods; signed colour map, each map on its own scale."""
    paths = []
    root = run_dir / "previews"
    if not root.exists():
        return paths
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(model_dir.glob("*.pt"))  # by name: file times depend on when the folder was copied
        if not files:
            continue
        previews = {f.stem: torch.load(f, weights_only=True) for f in files}
        names = _method_order(run_dir, model_dir.name, list(previews))
        first = previews[names[0]]
        inputs = first["inputs"]
        k = inputs.shape[0]
        if k == 0:
            continue
        if data_kind(inputs.shape[1:]) != "image":  # tabular: signed bars per feature, not an image
            paths.append(_feature_bars(run_dir, model_dir.name, previews, names, out_dir))
            continue
        fig, axes = plt.subplots(k, len(names) + 1, figsize=(1.9 * (len(names) + 1), 1.9 * k), squeeze=False)
        for i in range(k):
            img = inputs[i]
            img = img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)
            img = (img - img.min()) / (img.max() - img.min() + 1e-12)
            axes[i, 0].imshow(img.numpy(), cmap="gray" if img.dim() == 2 else None)
            # each map on its own scale (±99th percentile of its |A|): methods' units differ by orders of
            # magnitude (Grad-CAM 0.04 next to Occlusion 4), and one scale per row would hide the small ones
            for j, n in enumerate(names, start=1):
                a = previews[n]["attributions"][i]
                vmax = robust_max(a)
                axes[i, j].imshow(a.numpy(), cmap="bwr", vmin=-vmax, vmax=vmax)
        # titles wrapped to what fits: a column is 1.9 in wide (~26 characters at 8 pt), the figure
        # ~11 characters per inch at 10 pt; a narrow grid would otherwise cut the title at both edges
        for j, n in enumerate(["input"] + [_label(run_dir, model_dir.name, n) for n in names]):
            axes[0, j].set_title(textwrap.fill(n, 24), fontsize=8)
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        width_in, height_in = fig.get_size_inches()
        title = textwrap.fill(f"{model_dir.name}: attributions (red +, blue -; each map scaled by its own ±99th "
                              "percentile of |A|, as Captum's visualiser: compare patterns, not magnitudes)",
                              max(30, int(width_in * 11)))
        fig.suptitle(title, fontsize=10)
        p = save(fig, out_dir / f"heatmaps_{model_dir.name}.png",
                 top=1 - (0.17 * (title.count("\n") + 1) + 0.05) / height_in)
        paths.append(p)
    return paths


def _feature_bars(run_dir: Path, model: str, previews: dict, names: list[str], out_dir: Path) -> Path:
    """Tabular previews: rows = samples, columns = methods, one signed bar per feature (flattened order),
    each panel on its own scale as the image heatmaps are."""
    k = previews[names[0]]["inputs"].shape[0]
    fig, axes = plt.subplots(k, len(names), figsize=(2.6 * len(names), 1.6 * k), squeeze=False)
    for i in range(k):
        for j, n in enumerate(names):
            a = previews[n]["attributions"][i].flatten().float()
            vmax = robust_max(a)
            axes[i, j].bar(range(a.numel()), a.clamp(-vmax, vmax).numpy(), width=0.9,
                           color=["tab:red" if v >= 0 else "tab:blue" for v in a.tolist()])
            axes[i, j].set_ylim(-vmax, vmax)
            axes[i, j].axhline(0, color="black", lw=0.5)
    for j, n in enumerate(names):
        axes[0, j].set_title(_label(run_dir, model, n), fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{model}: attribution per feature (red +, blue -; each panel scaled by its own ±99th "
                 "percentile of |A|)", fontsize=10)
    return save(fig, out_dir / f"features_{model}.png")


def _labels(run_dir: Path) -> dict[tuple[str, str], str]:
    try:
        df = pd.read_csv(results_path(run_dir), usecols=["model", "method"]).drop_duplicates()
    except Exception:  # noqa: BLE001
        return {}
    return {(safe_name(m), safe_name(me)): me for m, me in zip(df["model"], df["method"])}


def _label(run_dir: Path, model: str, stem: str) -> str:
    return _labels(run_dir).get((model, stem), stem)


def _method_order(run_dir: Path, model: str, stems: list[str]) -> list[str]:
    order = [k[1] for k in _labels(run_dir) if k[0] == model]
    return sorted(stems, key=lambda s: order.index(s) if s in order else len(order))


def timing_plot(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Seconds per image per method on a log scale (bars), each with the forward+backward time that the same
    method's timing measured beside it (a dashed mark over its bar): the limit is re-measured with each method,
    so under a changing load each bar is read against its own limit, not against one run-wide median."""
    batch = df[df["kind"] == "batch"]
    t = batch[with_metric_name(batch)["metric_name"] == "timing"]
    if t.empty:
        return []
    paths = []
    for model, g in t.groupby("model", sort=False):
        sec = g[g["stat"] == "seconds_per_image"].groupby("method", sort=False)["value"].median()
        lim = g[g["stat"] == "limit_seconds_per_image"].groupby("method", sort=False)["value"].median()
        lim = lim.reindex(sec.index)
        fig, ax = plt.subplots(figsize=(1.2 * len(sec) + 5, 3.8))
        xs = np.arange(len(sec))
        ax.bar(xs, sec.values * 1e3, color="tab:blue", label="attribution")
        span = (lim.min() * 1e3, lim.max() * 1e3)
        what = f"{span[0]:.3g} ms" if np.isclose(span[0], span[1], rtol=0.005) else f"{span[0]:.3g}-{span[1]:.3g} ms"
        ax.hlines(lim.values * 1e3, xs - 0.4, xs + 0.4, colors="tab:red", linestyles="--",
                  label=f"1 forward+backward, measured with each method ({what})")
        ax.set_xticks(xs, list(sec.index))
        ax.set_yscale("log")
        ax.set_ylabel("ms per image (median)")
        ax.set_title(f"{model}: attribution time ({g['device'].iloc[0]})")
        outside_legend(ax, 8)
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
        p = save(fig, out_dir / f"timing_{safe_name(model)}.png")
        paths.append(p)
    return paths


SENSITIVITY = ("max_sensitivity", "avg_sensitivity", "infidelity", "ig_distance", "completeness")


def distribution_plots(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per model, a box plot of per-sample values per method for each robustness-type metric."""
    paths = []
    sel = with_metric_name(df[(df["kind"] == "sample") & (df["metric"] != "_info")])
    sel = sel[applies_mask(sel)] if len(sel) else sel  # completeness of a method that claims none: left out
    for model, g in sel.groupby("model", sort=False):
        metrics = [m for m in dict.fromkeys(g["metric"])
                   if g[g["metric"] == m]["metric_name"].iloc[0] in SENSITIVITY]
        if not metrics:
            continue
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 4.0), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            gm = g[g["metric"] == metric]
            stat = list(dict.fromkeys(gm["stat"]))[0]
            gm = gm[gm["stat"] == stat]
            methods = list(dict.fromkeys(gm["method"]))
            data = [gm[gm["method"] == me]["value"].replace([np.inf, -np.inf], np.nan).dropna().to_numpy()
                    for me in methods]
            ax.boxplot(data, showfliers=True)
            ax.set_xticks(range(1, len(methods) + 1), methods, rotation=30, ha="right", fontsize=8)
            name = gm["metric_name"].iloc[0]
            ax.set_title(f"{metric}.{stat}" + arrow(name, stat), fontsize=10)
            ax.set_ylabel(y_axis(name, stat))
            if all(len(d) and (d > 0).all() for d in data) and max(d.max() for d in data) / max(
                    min(d.min() for d in data), 1e-300) > 100:
                ax.set_yscale("log")
            ax.grid(alpha=0.3, axis="y")
        fig.suptitle(f"{model}: per-sample distributions", fontsize=11)
        p = save(fig, out_dir / f"distributions_{safe_name(model)}.png")
        paths.append(p)
    return paths


def saturation_plots(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Split IG (paper B): histograms of alpha* and of ||Right|| / ||Left|| per model and method."""
    info = df[df["metric"] == "_info"]
    a = info[info["stat"] == "alpha_star"]
    if a.empty:
        return []
    r = info[info["stat"] == "right_left_norm_ratio"]
    paths = []
    for model, ga in a.groupby("model", sort=False):
        fig, axes = plt.subplots(1, 2, figsize=(14, 3.8))
        for method, gm in ga.groupby("method", sort=False):
            axes[0].hist(gm["value"], bins=np.linspace(0, 1, 21), alpha=0.5,
                         label=f"{method} (mean {gm['value'].mean():.3f})")
        axes[0].set_xlabel("alpha* (where the path reaches r of the output change)")
        axes[0].set_ylabel("samples")
        outside_legend(axes[0])
        gr = r[r["model"] == model]
        logs = np.log10(gr["value"].replace([np.inf, -np.inf], np.nan).dropna().clip(lower=1e-3))
        bins = np.linspace(min(logs.min(), np.log10(4)) - 0.1, max(logs.max(), np.log10(4)) + 0.1, 31) if len(logs) \
            else 20  # one set of bins for every method, wide enough to show the ratio-4 line
        for method, gm in gr.groupby("method", sort=False):
            v = gm["value"].replace([np.inf, -np.inf], np.nan).dropna()
            if len(v):
                axes[1].hist(np.log10(v.clip(lower=1e-3)), bins=bins, alpha=0.5,
                             label=f"{method} (mean {v.mean():.2f})")
        axes[1].axvline(np.log10(4), color="k", ls=":", label="ratio 4")
        axes[1].set_xlabel("log10 ||Right|| / ||Left||")
        outside_legend(axes[1])
        fig.suptitle(f"{model}: IG saturation (paper B)", fontsize=11)
        p = save(fig, out_dir / f"saturation_{safe_name(model)}.png")
        paths.append(p)
    return paths


def contrast_plot(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Paper A §4.4: top-1 accuracy vs contrast factor a, one line per model (regular and X together)."""
    sel = df[(df["kind"] == "curve") & (df["stat"] == "top1")]
    sel = sel[with_metric_name(sel)["metric_name"] == "contrast"]
    if sel.empty:
        return []
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for model, g in sel.groupby("model", sort=False):
        mean = g.groupby("x")["value"].mean() * 100
        ax.plot(mean.index, mean.values, marker="o", label=model)
    ax.set_xlabel("contrast factor a (input scaled in normalised space)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    outside_legend(ax, 8)
    ax.set_title("Accuracy vs contrast (paper A §4.4)")
    p = save(fig, out_dir / "contrast.png")
    return [p]
