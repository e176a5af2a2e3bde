"""Paper B on a real network: the logit along the path, per-sample saturation, and paired differences.

``logit_path_plots`` draws the normalised target logit along IG's path (one line per sample, the
ratio lines r drawn); ``saturation_tables`` gives alpha* and ||Right||/||Left|| per sample beside the
paper's figures, and the paired differences (Left vs full IG, Left vs Right) of ABPC and
max-sensitivity with Student-t 95% confidence intervals: the paper's claim is a comparison, and the
samples are shared, so the paired difference is the honest test.  Samples are named when the run's
dataset names them (the ``photos`` dataset).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..results import safe_name  # noqa: E402
from .meta import labels_of as _metric_by_name  # noqa: E402
from .paper import paper_figures  # noqa: E402
from .tables import _t_quantile, fmt  # noqa: E402


def sample_names(run_dir: Path, model: str | None = None) -> dict[int, str]:
    """Dataset index -> item name when the run's dataset names its items (``photos``), else {}: as ``model`` (default:
    the run's first model) received them, read from the manifest's ``data_items`` (runs made before it was recorded:
    the dataset reopened)."""
    try:
        manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
        suite = manifest["suite"]
    except (OSError, ValueError, KeyError):
        return {}
    items = manifest.get("data_items") or {}
    if items:
        got = items.get(model) if model is not None else None
        got = got if got is not None else next(iter(items.values()))
        return {int(it["sample"]): it["name"] for it in got}
    data = suite.get("data", {})
    if data.get("name") != "photos":
        return {}
    try:
        from ..serving import open_data

        ds = open_data("photos", data.get("split", "test"), **data.get("params", {}))
        return {it["sample"]: it["name"] for it in ds.info["items"]}
    except Exception:  # noqa: BLE001 - names are cosmetic: a report without them is still right
        return {}


def logit_path_plots(run_dir: Path, df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One figure per model: normalised target logit vs a, a line per sample, r = 0.9 / 0.95 drawn."""
    labels = _metric_by_name(df, "logit_path")
    if not labels:
        return []
    names = sample_names(run_dir)
    c = df[(df["metric"] == labels[0]) & (df["kind"] == "curve") & (df["stat"] == "normalised_logit")]
    info = df[(df["metric"] == "_info") & (df["stat"] == "alpha_star")]
    paths = []
    for model, g in c.groupby("model", sort=False):
        fig, ax = plt.subplots(figsize=(7, 4.6))
        cmap = plt.get_cmap("tab10" if g["sample"].nunique() <= 10 else "tab20")
        for i, (s, gs) in enumerate(g.groupby("sample", sort=True)):
            gs = gs.sort_values("x")
            ax.plot(gs["x"], gs["value"], color=cmap(i % cmap.N), lw=1.6, label=names.get(int(s), f"sample {s}"))
        for r, ls in ((0.9, "--"), (0.95, ":")):
            ax.axhline(r, color="k", ls=ls, lw=1, label=f"r = {r}")
        gi = info[info["model"] == model]
        # a boolean Series, not a list: an empty list would select columns (no Split IG unit: no alpha_star rows)
        r09 = gi["method_params"].map(lambda p: _split_ratio(p)[0] == 0.9).astype(bool)
        a = gi[r09].drop_duplicates("sample")["value"]
        fig_b = paper_figures()["split_ig"]["saturation"]
        ax.axvline(fig_b["mean_alpha_star"], color="grey", lw=1, ls="-.",
                   label=f"paper's mean a* {fig_b['mean_alpha_star']} (ResNet-18)")
        if len(a):
            ax.axvline(a.mean(), color="red", lw=1, ls="-.", label=f"our mean a* {a.mean():.2f} (r = 0.9)")
        ax.set_xlabel("a (path position: x' + a (x - x'), zero baseline)")
        ax.set_ylabel("(F(a) - F(x')) / (F(x) - F(x'))")
        ax.set_xlim(0, 1)
        ax.legend(fontsize=7, ncol=2, loc="lower right")
        ax.set_title(f"{model}: target logit along IG's path (paper B's saturation)", fontsize=10)
        fig.tight_layout()
        path = out_dir / f"logit_path_{safe_name(model)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _split_ratio(params: str) -> tuple[float | None, str | None]:
    try:
        p = json.loads(params)
    except (TypeError, ValueError):
        return None, None
    return (float(p.get("ratio", 0.9)), p.get("part")) if p.get("name") == "split_ig" else (None, None)


def per_sample_table(run_dir: Path, df: pd.DataFrame):
    """alpha* and ||Right||/||Left|| per sample and ratio, with the logit's half-way point."""
    info = df[df["metric"] == "_info"]
    if "alpha_star" not in set(info["stat"]):
        return None
    names = sample_names(run_dir)
    rows: dict[tuple, dict] = {}
    seen: set[tuple] = set()
    for (model, _method, params), g in info.groupby(["model", "method", "method_params"], sort=False):
        ratio, _ = _split_ratio(params)
        if ratio is None or (model, ratio) in seen:
            continue  # every part of one ratio has the same alpha* and norms: one column per ratio
        seen.add((model, ratio))
        for stat, col in (("alpha_star", f"alpha* (r={ratio})"), ("right_left_norm_ratio", f"‖R‖/‖L‖ (r={ratio})"),
                          ("left_steps", f"Left steps (r={ratio})")):
            for s, v in g[g["stat"] == stat][["sample", "value"]].itertuples(index=False):
                row = rows.setdefault((model, int(s)), {"model": model, "sample": names.get(int(s), int(s))})
                row[col] = fmt(v)
    for label in _metric_by_name(df, "logit_path"):
        lp = df[(df["metric"] == label) & (df["kind"] == "sample")]
        for model, s, stat, v in lp[["model", "sample", "stat", "value"]].itertuples(index=False):
            if stat in ("alpha_half", "logit_change") and (model, int(s)) in rows:
                rows[(model, int(s))][{"alpha_half": "a at half the change", "logit_change": "F(x) - F(x')"}[stat]] \
                    = fmt(v)
    if not rows:
        return None
    table = pd.DataFrame(list(rows.values()))
    sat = paper_figures()["split_ig"]["saturation"]
    ratio_cols = [c for c in table.columns if c.startswith("‖R‖/‖L‖")]
    shares = "; ".join(f"{c}: mean {pd.to_numeric(table[c]).mean():.3g}, share above 4 "
                       f"{(pd.to_numeric(table[c]) > 4).mean():.2f}" for c in ratio_cols)
    note = (f"Ours: {shares}. The paper's figures ({sat['setting']}): mean alpha* {sat['mean_alpha_star']}, mean "
            f"‖Right‖/‖Left‖ {sat['mean_right_left_norm_ratio']}, share above 4: {sat['share_ratio_above_4']}. "
            "alpha* = a_k* on the method's step grid; 'Left steps' = how many gradients Left IG rests on.")
    return "Saturation per sample (paper B)", table, note


PAIRS = (("left", "full"), ("left", "right"))


def paired_table(df: pd.DataFrame):
    """Paired differences (mean, 95% CI, t, n) of ABPC and max-sensitivity: Left - full IG, Left - Right."""
    metrics = [(label, "abpc", "ABPC (higher better)") for label in _metric_by_name(df, "abpc")]
    metrics += [(label, "sensitivity", "max-sensitivity (lower better)")
                for label in _metric_by_name(df, "max_sensitivity")]
    if not metrics:
        return None
    methods = df[["model", "method", "method_params"]].drop_duplicates()
    parts: dict[tuple, str] = {}
    for model, method, params in methods.itertuples(index=False):
        ratio, part = _split_ratio(params)
        if part is not None:
            parts.setdefault((model, ratio, part), method)
    full = {model: m for (model, _, part), m in parts.items() if part == "full"}
    rows = []
    for label, stat, title in metrics:
        sel = df[(df["metric"] == label) & (df["stat"] == stat) & (df["kind"] == "sample")]
        for (model, ratio, part), left in parts.items():
            if part != "left":
                continue
            others = {"full": full.get(model), "right": parts.get((model, ratio, "right"))}
            for _, other_part in PAIRS:
                other = others[other_part]
                if other is None:
                    continue
                a = sel[sel["method"] == left].set_index("sample")["value"]
                b = sel[sel["method"] == other].set_index("sample")["value"]
                d = (a - b).dropna().astype("float64")
                n = len(d)
                if n == 0:
                    continue
                mean, sd = float(d.mean()), float(d.std(ddof=1)) if n > 1 else float("nan")
                half = _t_quantile(n) * sd / np.sqrt(n) if n > 1 else float("nan")
                tstat = mean / (sd / np.sqrt(n)) if n > 1 and sd > 0 else float("nan")
                rows.append({"model": model, "metric": title, "comparison": f"{left} - {other}", "n": n,
                             "mean difference": fmt(mean), "95% CI": f"[{fmt(mean - half)}, {fmt(mean + half)}]",
                             "t": fmt(tstat), "favours Left": _favours(mean, half, stat)})
    if not rows:
        return None
    note = ("Paired over the same samples; CI = mean ± t(0.975, n-1) · sd / sqrt(n). 'favours Left': yes / no when "
            "the CI excludes 0, 'undecided' when it does not. Paper B's claim: Left beats full IG and Right on both.")
    return "Paired differences: Left IG vs full IG and vs Right IG (paper B's comparison)", pd.DataFrame(rows), note


def _favours(mean: float, half: float, stat: str) -> str:
    if not np.isfinite(half) or abs(mean) <= half:
        return "undecided"
    better = mean > 0 if stat == "abpc" else mean < 0
    return "yes" if better else "no"


def saturation_tables(run_dir: Path, df: pd.DataFrame) -> dict[str, tuple[str, pd.DataFrame, str]]:
    """The per-sample saturation, paired-difference and RISE tables this run has rows for, keyed by file stem."""
    from .rise_table import rise_table

    out = {}
    for key, res in (("saturation_per_sample", per_sample_table(run_dir, df)),
                     ("paired_differences", paired_table(df)), ("rise", rise_table(df))):
        if res is not None and not res[1].empty:
            out[key] = res
    return out
