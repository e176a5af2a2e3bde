"""Pure functions from tidy results to summary tables (CSV, markdown, LaTeX)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..results import with_metric_name
from .meta import applies_mask, arrow

GROUP = ["model", "method", "metric", "stat"]


def t_quantile(dof: float) -> float:
    """Two-sided 95% Student-t quantile for ``dof`` degrees of freedom (1.96 without scipy; nan below 1)."""
    if not dof or not math.isfinite(dof) or dof < 1:
        return float("nan")
    try:
        from scipy.stats import t

        return float(t.ppf(0.975, dof))
    except Exception:  # noqa: BLE001 - scipy missing: normal approximation
        return 1.959964


def _t_quantile(n: int) -> float:
    """The quantile for a mean of ``n`` values (n - 1 degrees of freedom)."""
    return t_quantile(n - 1)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% confidence half-width per model x method x metric x stat.

    Per-sample and per-batch rows only (curve points are summarised by their AUC stats).  Non-finite
    values are excluded from the mean and counted in ``n_nonfinite`` so the table flags them.
    """
    scalar = with_metric_name(df[df["kind"].isin(["sample", "batch"])])
    rows = []
    order = {k: i for i, k in enumerate(dict.fromkeys(zip(*(scalar[c] for c in GROUP))))}
    for key, g in scalar.groupby(GROUP, sort=False):
        v = g["value"].to_numpy(dtype=float)
        finite = v[np.isfinite(v)]
        n = len(finite)
        mean = float(finite.mean()) if n else float("nan")
        sd = float(finite.std(ddof=1)) if n > 1 else float("nan")
        ci = _t_quantile(n) * sd / math.sqrt(n) if n > 1 else float("nan")
        rows.append({**dict(zip(GROUP, key)), "mean": mean, "ci95": ci, "std": sd, "n": n,
                     "n_nonfinite": int(len(v) - n), "metric_name": g["metric_name"].iloc[0],
                     "metric_params": g["metric_params"].iloc[0],
                     "method_params": g["method_params"].iloc[0], "_order": order.get(key, 0)})
    out = pd.DataFrame(rows, columns=GROUP + ["mean", "ci95", "std", "n", "n_nonfinite", "metric_name",
                                              "metric_params", "method_params", "_order"])
    return out.sort_values("_order").drop(columns="_order").reset_index(drop=True)


def fmt(v: float, ci: float | None = None) -> str:
    """A compact number (4 significant digits), with ``± ci`` when given."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    s = f"{v:.4g}"
    if ci is not None and not (isinstance(ci, float) and math.isnan(ci)):
        s += f" ± {ci:.2g}"
    return s


def markdown_table(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    """A GitHub-flavoured markdown table of ``df`` (strings as given, numbers via :func:`fmt`)."""
    cols = columns or list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        cells = [fmt(r[c]) if isinstance(r[c], float) else str(r[c]).replace("|", "\\|") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latex_table(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    """A booktabs LaTeX tabular of ``df``."""
    cols = columns or list(df.columns)

    def esc(s: str) -> str:
        return s.replace("_", r"\_").replace("%", r"\%").replace("±", r"$\pm$").replace("&", r"\&")

    lines = [r"\begin{tabular}{" + "l" * len(cols) + "}", r"\toprule", " & ".join(esc(c) for c in cols) + r" \\",
             r"\midrule"]
    for _, r in df.iterrows():
        lines.append(" & ".join(esc(fmt(r[c]) if isinstance(r[c], float) else str(r[c])) for c in cols) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def summary_display(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as the terminal and summary.md show it: one value column 'mean ± 95% CI', the metric
    with its direction from the registry (↑ higher is better, ↓ lower)."""
    if summary.empty:
        return pd.DataFrame(columns=["model", "method", "metric", "mean ± 95% CI", "n", "flags"])
    names = with_metric_name(summary)["metric_name"]
    # a property the method does not claim (completeness of saliency) is measured but not a verdict on it
    ok = list(applies_mask(summary.assign(metric_name=names)))
    out = pd.DataFrame({
        "model": summary["model"], "method": summary["method"],
        "metric": [f"{m}.{s}{arrow(n, s)}" for m, s, n in zip(summary["metric"], summary["stat"], names)],
        "mean ± 95% CI": [fmt(m, c) if a else "n/a" for m, c, a in zip(summary["mean"], summary["ci95"], ok)],
        "n": summary["n"].astype(str),
        "flags": [("" if a else "no completeness claim")
                  + ("; " if k and not a else "") + (f"{k} non-finite" if k else "")
                  for k, a in zip(summary["n_nonfinite"], ok)],
    })
    return out


def text_table(df: pd.DataFrame) -> str:
    """A plain aligned text table for the terminal."""
    cols = list(df.columns)
    cells = [[str(v) for v in row] for row in df.itertuples(index=False)]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(out)
