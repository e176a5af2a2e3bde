"""The verdict of a run: each method against `random` with corrected paired tests, rank aggregation and
metric agreement, computed from a run directory's ``results.csv`` and the metric registry's declared
directions alone (no suite schema, no model)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from ..results import atomic_write_text, read_results, results_path
from ..rundir import atomic_write
from .compare import COLUMNS, verdict_table
from .plot import verdict_plot
from .ranks import N_BOOT, rank_cube
from .stats import CORRECTIONS, TESTS
from .table import cubes
from .write import agreement_frame, ranks_frame, summary_lines, verdict_markdown

__all__ = ["COLUMNS", "CORRECTIONS", "FILES", "TESTS", "make_verdict"]

FILES = ("verdict.csv", "verdict.md", "verdict.png", "verdict_ranks.csv", "verdict_agreement.csv")
RELIABILITY = "reliability.csv"


def _title(run_dir: Path) -> str:
    try:
        return str(json.loads((run_dir / "manifest.json").read_text())["suite"]["name"]) or run_dir.name
    except (OSError, ValueError, KeyError, TypeError):
        return run_dir.name


def make_verdict(run_dir: str | Path, df: pd.DataFrame | None = None, *, test: str = "wilcoxon",
                 correction: str = "holm", alpha: float = 0.05, seed: int = 0, n_boot: int = N_BOOT) -> str:
    """Write :data:`FILES` into ``run_dir`` from its results (``df``: already read, to skip reading again);
    returns the terminal summary (a few lines).  Deterministic: the same results give the same files."""
    if test not in TESTS:
        raise ValueError(f"test {test!r}; allowed: {', '.join(TESTS)}")
    if correction not in CORRECTIONS:
        raise ValueError(f"correction {correction!r}; allowed: {', '.join(CORRECTIONS)}")
    run_dir = Path(run_dir)
    if df is None:
        df = read_results(run_dir)
    cs = cubes(df)
    table = verdict_table(cs, test=test, correction=correction, alpha=alpha)
    rankings = [rank_cube(c, n_boot=n_boot, seed=seed) for c in cs]
    atomic_write_text(run_dir / "verdict.csv", table[COLUMNS].to_csv(index=False, float_format="%.10g"))
    atomic_write_text(run_dir / "verdict_ranks.csv", ranks_frame(rankings).to_csv(index=False, float_format="%.6g"))
    atomic_write_text(run_dir / "verdict_agreement.csv",
                      agreement_frame(rankings).to_csv(index=False, float_format="%.6g"))
    rel_path = run_dir / RELIABILITY
    reliability = pd.read_csv(rel_path) if rel_path.is_file() else None
    md = verdict_markdown(_title(run_dir), cs, table, rankings, test=test, correction=correction, alpha=alpha,
                          seed=seed, reliability=reliability)
    atomic_write_text(run_dir / "verdict.md", md)
    buf = io.BytesIO()
    verdict_plot(table, rankings, buf, alpha=alpha)
    atomic_write(run_dir / "verdict.png", lambda fh: fh.write(buf.getvalue()))
    return summary_lines(table, cs, rankings, correction, test, alpha)


def has_results(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds tidy results a verdict can read."""
    return results_path(run_dir).exists()
