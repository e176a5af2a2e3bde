"""Compare two run directories: the change of every model x method x metric x stat, with a confidence interval.

Where both runs evaluated the same samples (the usual case: same suite, another xbench or method version) the
difference is *paired* over the common samples, which is far tighter than comparing two means; otherwise (or for
per-batch stats such as timing) it is Welch's interval for two independent means. A change is flagged
significant when its 95% interval excludes zero, and a cell whose settings differ between the runs says so,
since then the runs do not measure the same thing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics.base import stat_direction
from ..results import atomic_write_text, read_results, with_metric_name
from .tables import GROUP, fmt, markdown_table, t_quantile

COLUMNS = GROUP + ["mean_a", "mean_b", "diff", "ci95", "n", "test", "significant", "better", "settings_changed",
                   "only_in"]


def paired_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean of b - a, 95% half-width) over paired values (Student t, n - 1 degrees of freedom)."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    n = len(d)
    if n == 0:
        return float("nan"), float("nan")
    if n == 1:
        return float(d[0]), float("nan")
    return float(d.mean()), t_quantile(n - 1) * float(d.std(ddof=1)) / math.sqrt(n)


def welch_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean(b) - mean(a), 95% half-width) for independent samples (Welch–Satterthwaite degrees of freedom)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return float("nan"), float("nan")
    diff = float(b.mean() - a.mean())
    if len(a) < 2 or len(b) < 2:
        return diff, float("nan")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se2 = va + vb
    if se2 == 0:
        return diff, 0.0
    dof = se2**2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return diff, t_quantile(dof) * math.sqrt(se2)


# data fields that do not change which samples are evaluated, or how
_DATA_LOGISTICS = ("batch_size", "num_workers", "root")


def data_differences(run_a: str | Path, run_b: str | Path) -> list[str]:
    """``field: a -> b`` for every data setting that differs between two runs' manifests (which samples, from which
    split, subset, seed, target, dataset parameters); empty when they match or a manifest is missing."""
    sides = []
    for run in (run_a, run_b):
        path = Path(run) / "manifest.json"
        if not path.is_file():
            return []
        suite = json.loads(path.read_text()).get("suite", {})
        data = {k: v for k, v in suite.get("data", {}).items() if k not in _DATA_LOGISTICS}
        sides.append({**{f"data.{k}": v for k, v in data.items()}, "seed": suite.get("seed")})
    a, b = sides
    return [f"{k}: {json.dumps(a.get(k))} -> {json.dumps(b.get(k))}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


def compare_frames(a: pd.DataFrame, b: pd.DataFrame, data_changed: bool = False) -> pd.DataFrame:
    """One row per cell of either run (per-sample and per-batch stats; curve points are covered by their AUCs).

    ``settings_changed`` is set where the method's or metric's parameters differ, where the two runs' cells hold
    different sample ids, and everywhere when ``data_changed`` (another data subset: see :func:`data_differences`).
    """
    a = with_metric_name(a[a["kind"].isin(["sample", "batch"])])
    b = with_metric_name(b[b["kind"].isin(["sample", "batch"])])
    ga = {k: g for k, g in a.groupby(GROUP, sort=False)}
    gb = {k: g for k, g in b.groupby(GROUP, sort=False)}
    rows = []
    for key in list(dict.fromkeys(list(ga) + list(gb))):
        row = dict(zip(GROUP, key))
        if key not in ga or key not in gb:
            rows.append({**row, "only_in": "a" if key in ga else "b", "significant": False,
                         "settings_changed": False})
            continue
        xa, xb = ga[key], gb[key]
        va = xa["value"].to_numpy(dtype=np.float64)
        vb = xb["value"].to_numpy(dtype=np.float64)
        changed = (data_changed or set(xa["method_params"]) != set(xb["method_params"])
                   or set(xa["metric_params"]) != set(xb["metric_params"])
                   or (xa["kind"].iloc[0] == "sample" and set(xa["sample"]) != set(xb["sample"])))
        paired = (xa["kind"].iloc[0] == "sample" and xb["kind"].iloc[0] == "sample")
        if paired:
            sa = xa.drop_duplicates("sample").set_index("sample")["value"]
            sb = xb.drop_duplicates("sample").set_index("sample")["value"]
            common = sa.index.intersection(sb.index)
            pa = sa.loc[common].to_numpy(dtype=np.float64)
            pb = sb.loc[common].to_numpy(dtype=np.float64)
            ok = np.isfinite(pa) & np.isfinite(pb)
            paired = ok.sum() >= 2
        if paired:
            diff, ci = paired_interval(pa[ok], pb[ok])
            n, test = int(ok.sum()), "paired t"
        else:
            fa, fb = va[np.isfinite(va)], vb[np.isfinite(vb)]
            diff, ci = welch_interval(fa, fb)
            n, test = int(min(len(fa), len(fb))), "Welch"
        significant = bool(math.isfinite(ci) and abs(diff) > ci) or bool(ci == 0 and diff != 0)
        direction = stat_direction(xa["metric_name"].iloc[0], key[3])
        better = ""
        if significant and direction:
            better = "b" if (diff > 0) == (direction == "higher") else "a"
        rows.append({**row, "mean_a": float(np.nanmean(va)) if np.isfinite(va).any() else float("nan"),
                     "mean_b": float(np.nanmean(vb)) if np.isfinite(vb).any() else float("nan"), "diff": diff,
                     "ci95": ci, "n": n, "test": test, "significant": significant, "better": better,
                     "settings_changed": changed, "only_in": ""})
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def compare_runs(run_a: str | Path, run_b: str | Path, out: str | Path | None = None) -> tuple[pd.DataFrame, str]:
    """Compare two run directories; with ``out`` write ``compare.csv`` and ``compare.md`` there.

    Returns (the comparison, a markdown report of it). Differences are b − a.
    """
    data = data_differences(run_a, run_b)
    df = compare_frames(read_results(run_a), read_results(run_b), data_changed=bool(data))
    shown = df.copy()
    shown["change (b − a)"] = [fmt(d, c) if isinstance(d, float) and math.isfinite(d) else "" for d, c in
                               zip(df["diff"], df["ci95"])]
    shown["flag"] = ["only in " + o if o else ("**significant**" if s else "") + (" (settings differ)" if c else "")
                     for o, s, c in zip(df["only_in"], df["significant"], df["settings_changed"])]
    n_sig = int(df["significant"].sum())
    text = (f"# Comparison: {Path(run_b).name} − {Path(run_a).name}\n\n"
            f"a = `{run_a}`, b = `{run_b}`. Change = b − a, mean ± 95% CI: paired over common samples where both runs "
            "evaluated the same samples, Welch otherwise. *better* says which run is better by the metric's declared "
            f"direction, for significant changes only. {n_sig} of {len(df)} cells changed significantly.\n\n"
            + (f"**The runs evaluated different data** ({'; '.join(data)}): every cell's settings differ.\n\n"
               if data else "")
            + markdown_table(shown, GROUP + ["mean_a", "mean_b", "change (b − a)", "n", "test", "better", "flag"])
            + "\n")
    if out is not None:
        out = Path(out)
        atomic_write_text(out / "compare.csv", df.to_csv(index=False, float_format="%.9g"))
        atomic_write_text(out / "compare.md", text)
    return df, text
