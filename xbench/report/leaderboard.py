"""A leaderboard across run directories: methods (matched by label) ranked within every (run, model, metric.stat)
cell that has a declared direction, then the mean of those ranks with a bootstrap interval over the cells.

Ranks within a cell run from 1 (best) to the number of methods in it (ties share the mean rank).  Cells hold
different numbers of methods, so methods are ordered by the *normalised* rank (rank - 1) / (methods - 1), 0 best,
1 worst; the raw mean rank is shown beside it.  The interval is the 2.5-97.5 percentile of the mean normalised
rank over ``N_BOOT`` resamplings of the cells with replacement (seed 0), each method averaged over the resampled
cells it appears in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import XBenchError
from ..results import atomic_write_text, results_path, with_metric_name
from ..rundir import MARKER
from .html import esc, num, page, table_html
from .meta import applies_mask, stat_direction
from .tables import markdown_table

__all__ = ["N_BOOT", "leaderboard", "rank_cells", "write_leaderboard"]

N_BOOT = 2000
BENCH_JSON = "bench.json"
"""What ``pytest --benchmark-json`` and ``xbench report-bench`` leave in a timing folder (no run)."""
OWN_MARK = ".xbench-leaderboard"
"""Written into a leaderboard's folder, so that a shell glob over runs that also matches it skips it."""
COLUMNS = ["rank", "method", "mean_norm_rank", "ci_low", "ci_high", "mean_rank", "cells", "runs"]


@dataclass
class Skipped:
    """An input path left out, and why (printed as a note)."""

    path: str
    why: str


def _summary(run_dir: Path) -> pd.DataFrame | None:
    """The run's summary.csv (None for a run without one: a train-prior run ranks no attribution methods)."""
    p = run_dir / "summary.csv"
    if not p.is_file():
        return None
    s = pd.read_csv(p, keep_default_na=False, na_values={"mean": ["nan", ""]})
    return s if {"model", "method", "metric", "stat", "mean"} <= set(s.columns) else None


def load_runs(paths: list[str], out: str | Path | None = None) -> tuple[dict[str, pd.DataFrame], list[Skipped]]:
    """Each run's summary by its folder name.  Raises :class:`XBenchError` for a missing path or a folder that is
    not an xbench run; a plain file (a README beside the runs), a leaderboard folder (``out`` or one holding
    :data:`OWN_MARK`), a timing benchmark folder and a run without a method summary (train-prior) are skipped with
    a reason, so that a shell glob over a folder of runs works."""
    runs: dict[str, pd.DataFrame] = {}
    skipped = []
    out_dir = Path(out).resolve() if out else None
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise XBenchError(f"leaderboard: '{raw}' does not exist; give run directories written by xbench run")
        if p.is_file():
            skipped.append(Skipped(raw, "a file, not a run directory"))
            continue
        if (out_dir is not None and p.resolve() == out_dir) or (p / OWN_MARK).is_file():
            skipped.append(Skipped(raw, "a leaderboard folder"))
            continue
        if (p / BENCH_JSON).is_file() and not results_path(p).exists():
            skipped.append(Skipped(raw, f"a timing benchmark folder ({BENCH_JSON}), not a run"))
            continue
        # committed runs older than the marker keep their manifest.json, which only xbench run writes
        if not results_path(p).exists() or not ((p / MARKER).is_file() or (p / "manifest.json").is_file()):
            raise XBenchError(f"leaderboard: '{raw}' is not an xbench run directory (results.csv with "
                              f"{MARKER} or manifest.json); give folders written by xbench run")
        s = _summary(p)
        if s is None:
            skipped.append(Skipped(raw, "no summary.csv of methods (a train-prior run); run xbench report on it"))
            continue
        name = p.resolve().name
        if name in runs:
            raise XBenchError(f"leaderboard: two runs are named '{name}'; give each run once")
        runs[name] = s
    return runs, skipped


def rank_cells(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Long table: run, model, metric (``label.stat``), method, mean, rank, n_methods, norm_rank; one row per method
    in every cell with a declared direction and at least two methods.  Rows of a property a method does not
    claim (completeness of saliency) and non-finite means are left out, as the summary marks them n/a."""
    parts = []
    for run, s in runs.items():
        s = with_metric_name(s)
        if "method_params" in s.columns:
            s = s[list(applies_mask(s.assign(method_params=s["method_params"].fillna("{}"))))]
        s = s[np.isfinite(s["mean"].astype(float))]
        for (model, metric, stat, name), g in s.groupby(["model", "metric", "stat", "metric_name"], sort=False):
            d = stat_direction(name, stat)
            if d is None or g["method"].nunique() < 2:
                continue
            g = g.drop_duplicates("method")
            score = g["mean"].astype(float) * (-1 if d == "higher" else 1)
            rank = score.rank(method="average")
            n = len(g)
            parts.append(pd.DataFrame({"run": run, "model": model, "metric": f"{metric}.{stat}",
                                       "direction": d, "method": g["method"].astype(str), "mean": g["mean"],
                                       "rank": rank, "n_methods": n, "norm_rank": (rank - 1) / (n - 1)}))
    if not parts:
        return pd.DataFrame(columns=["run", "model", "metric", "direction", "method", "mean", "rank", "n_methods",
                                     "norm_rank"])
    return pd.concat(parts, ignore_index=True)


def leaderboard(cells: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """One row per method: mean normalised rank with its bootstrap 95% interval over cells, mean raw rank, how
    many cells and which runs it was ranked in; best first."""
    keys = list(dict.fromkeys(zip(cells["run"], cells["model"], cells["metric"])))
    methods = list(dict.fromkeys(cells["method"]))
    idx = {k: i for i, k in enumerate(keys)}
    mat = np.full((len(keys), len(methods)), np.nan)
    col = {m: j for j, m in enumerate(methods)}
    for r, mo, me, meth, v in zip(cells["run"], cells["model"], cells["metric"], cells["method"], cells["norm_rank"]):
        mat[idx[(r, mo, me)], col[meth]] = v
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(keys), size=(n_boot, len(keys)))
    # how often each cell is drawn, per resampling: sums over drawn cells become one matrix product
    weights = np.zeros((n_boot, len(keys)))
    np.add.at(weights, (np.repeat(np.arange(n_boot), len(keys)), draws.ravel()), 1.0)
    present = ~np.isnan(mat)
    sums = weights @ np.where(present, mat, 0.0)  # [boot, methods]
    counts = weights @ present.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = sums / counts
    rows = []
    for m, j in col.items():
        g = cells[cells["method"] == m]
        b = boot[:, j][np.isfinite(boot[:, j])]
        rows.append({"method": m, "mean_norm_rank": float(g["norm_rank"].mean()),
                     "ci_low": float(np.percentile(b, 2.5)) if len(b) else float("nan"),
                     "ci_high": float(np.percentile(b, 97.5)) if len(b) else float("nan"),
                     "mean_rank": float(g["rank"].mean()), "cells": len(g),
                     "runs": ", ".join(dict.fromkeys(g["run"]))})
    out = pd.DataFrame(rows).sort_values(["mean_norm_rank", "method"]).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out[COLUMNS]


def _html(board: pd.DataFrame, cells: pd.DataFrame, runs: list[str], n_boot: int) -> str:
    rows = [[(str(r["rank"]), r["rank"], "num"), r["method"], num(r["mean_norm_rank"]), num(r["ci_low"]),
             num(r["ci_high"]), num(r["mean_rank"]), (str(r["cells"]), r["cells"], "num"), r["runs"]]
            for _, r in board.iterrows()]
    detail = [[r["run"], r["model"], r["metric"], {"higher": "↑", "lower": "↓"}[r["direction"]], r["method"],
               num(r["mean"]), num(r["rank"]), (str(r["n_methods"]), r["n_methods"], "num")]
              for _, r in cells.iterrows()]
    body = (f"<h1>xbench leaderboard</h1><p class=\"note\">Runs: {esc(', '.join(runs))}. "
            f"{len(cells.groupby(['run', 'model', 'metric']))} (run, model, metric.stat) cells with a declared "
            "direction; within each, methods (matched by label) are ranked 1 = best on the summary mean. Ordered by "
            "the mean normalised rank (rank − 1)/(methods − 1), 0 best; the 95% interval is the percentile "
            f"bootstrap over cells ({n_boot} resamplings, seed 0). Click a header to sort.</p>"
            + table_html(["rank", "method", "mean norm. rank", "CI low", "CI high", "mean rank", "cells", "runs"],
                         rows, "leaderboard", filter_hint="filter methods or runs")
            + "<h2>Every ranked cell</h2>"
            + table_html(["run", "model", "metric.stat", "better", "method", "mean", "rank", "methods"], detail,
                         "cells", filter_hint="filter, e.g. 'quickstart deletion'"))
    return page("xbench leaderboard", body)


def write_leaderboard(paths: list[str], out: str | Path, n_boot: int = N_BOOT) -> tuple[pd.DataFrame, list[Skipped]]:
    """Write ``index.html``, ``leaderboard.csv``/``.md``, ``cells.csv`` and :data:`OWN_MARK` into ``out`` (once
    every input was read and ranked: bad input writes nothing); returns the board and the inputs skipped."""
    runs, skipped = load_runs(paths, out)
    if not runs:
        raise XBenchError("leaderboard: no run directory among the inputs; give folders written by xbench run")
    cells = rank_cells(runs)
    if cells.empty:
        raise XBenchError("leaderboard: no (model, metric) cell ranks two methods with a declared direction; "
                          "nothing to rank")
    if len(runs) > 1 and not (cells.groupby("method")["run"].nunique() > 1).any():
        raise XBenchError(f"leaderboard: no method label occurs in two of the runs ({', '.join(runs)}); "
                          "methods are matched by label across runs")
    board = leaderboard(cells, n_boot=n_boot)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / OWN_MARK, "written by xbench leaderboard\n")
    atomic_write_text(out / "leaderboard.csv", board.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(out / "cells.csv", cells.to_csv(index=False, float_format="%.9g"))
    atomic_write_text(out / "leaderboard.md", "# xbench leaderboard\n\nMethods ranked within every (run, model, "
                      "metric.stat) cell with a declared direction (1 = best); ordered by the mean normalised rank "
                      f"(0 best), 95% percentile bootstrap over cells ({n_boot} resamplings, seed 0). Per-cell ranks: "
                      "[cells.csv](cells.csv).\n\n" + markdown_table(board) + "\n")
    atomic_write_text(out / "index.html", _html(board, cells, list(runs), n_boot))
    return board, skipped
