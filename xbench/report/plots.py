"""Pure functions from tidy results (and saved previews) to PNG plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: reports are written to files, never shown
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from ..results import safe_name  # noqa: E402


def curve_plots(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One PNG per model: a panel per curve metric, the mean curve per method, AUC in the legend."""
    curves = df[df["kind"] == "curve"]
    paths = []
    for model, g in curves.groupby("model", sort=False):
        metrics = list(dict.fromkeys(g["metric"]))
        fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.2), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            gm = g[g["metric"] == metric]
            for method, gmm in gm.groupby("method", sort=False):
                mean = gmm.groupby("point").agg(x=("x", "first"), y=("value", "mean"))
                auc = df[(df["model"] == model) & (df["method"] == method) & (df["metric"] == metric)
                         & (df["kind"] == "sample") & (df["stat"] == "auc")]["value"].mean()
                lab = f"{method} (AUC {auc:.3f})" if np.isfinite(auc) else method
                ax.plot(mean["x"] * 100, mean["y"], label=lab, lw=1.8)
            params = gm["metric_params"].iloc[0]
            ax.set_title(f"{metric}", fontsize=11)
            ax.set_xlabel("pixels perturbed (%)")
            ax.set_ylabel(_ylabel(params))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"{model}: perturbation curves (mean over samples)", fontsize=12)
        fig.tight_layout()
        p = out_dir / f"curves_{safe_name(model)}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def _ylabel(params_json: str) -> str:
    if '"output":"logit"' in params_json:
        return "target logit"
    if '"output":"softmax"' in params_json:
        return "target probability (softmax)"
    return "score"


def heatmap_grids(run_dir: Path, out_dir: Path) -> list[Path]:
    """One PNG per model: rows = samples, columns = input + methods; signed colour map, one scale per row."""
    paths = []
    root = run_dir / "previews"
    if not root.exists():
        return paths
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(model_dir.glob("*.pt"), key=lambda f: f.stat().st_mtime)
        if not files:
            continue
        previews = {f.stem: torch.load(f, weights_only=True) for f in files}
        names = _method_order(run_dir, model_dir.name, list(previews))
        first = previews[names[0]]
        inputs = first["inputs"]
        k = inputs.shape[0]
        if k == 0:
            continue
        fig, axes = plt.subplots(k, len(names) + 1, figsize=(1.9 * (len(names) + 1), 1.9 * k), squeeze=False)
        for i in range(k):
            img = inputs[i]
            img = img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)
            img = (img - img.min()) / (img.max() - img.min() + 1e-12)
            axes[i, 0].imshow(img.numpy(), cmap="gray" if img.dim() == 2 else None)
            # one colour scale per row (sample) so methods compare directly; the 99th percentile of |A|
            # keeps a few extreme pixels from washing out the rest
            row = torch.stack([previews[n]["attributions"][i].abs().flatten() for n in names])
            vmax = float(torch.quantile(row.float(), 0.99)) or 1.0
            for j, n in enumerate(names, start=1):
                a = previews[n]["attributions"][i].numpy()
                axes[i, j].imshow(a, cmap="bwr", vmin=-vmax, vmax=vmax)
        for j, n in enumerate(["input"] + [_label(run_dir, model_dir.name, n) for n in names]):
            axes[0, j].set_title(n, fontsize=8)
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"{model_dir.name}: attributions (red +, blue -; one colour scale per row: ±99th pct of |A|)",
                     fontsize=10)
        fig.tight_layout()
        p = out_dir / f"heatmaps_{model_dir.name}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def _labels(run_dir: Path) -> dict[tuple[str, str], str]:
    try:
        df = pd.read_csv(run_dir / "results.csv", usecols=["model", "method"]).drop_duplicates()
    except Exception:  # noqa: BLE001
        return {}
    return {(safe_name(m), safe_name(me)): me for m, me in zip(df["model"], df["method"])}


def _label(run_dir: Path, model: str, stem: str) -> str:
    return _labels(run_dir).get((model, stem), stem)


def _method_order(run_dir: Path, model: str, stems: list[str]) -> list[str]:
    order = [k[1] for k in _labels(run_dir) if k[0] == model]
    return sorted(stems, key=lambda s: order.index(s) if s in order else len(order))


def timing_plot(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Seconds per image per method on a log scale, with one forward+backward (the limit) as a line."""
    t = df[(df["metric"] == "timing") & (df["kind"] == "batch")]
    if t.empty:
        return []
    paths = []
    for model, g in t.groupby("model", sort=False):
        sec = g[g["stat"] == "seconds_per_image"].groupby("method", sort=False)["value"].median()
        lim = g[g["stat"] == "limit_seconds_per_image"]["value"].median()
        fig, ax = plt.subplots(figsize=(1.2 * len(sec) + 3, 3.8))
        ax.bar(sec.index, sec.values * 1e3, color="tab:blue")
        ax.axhline(lim * 1e3, color="tab:red", ls="--", label=f"1 forward+backward ({lim * 1e3:.3g} ms)")
        ax.set_yscale("log")
        ax.set_ylabel("ms per image (median)")
        ax.set_title(f"{model}: attribution time ({g['device'].iloc[0]})")
        ax.legend(fontsize=8)
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
        fig.tight_layout()
        p = out_dir / f"timing_{safe_name(model)}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths
