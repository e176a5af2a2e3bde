"""Regenerate the committed reference runs under ``results/`` in a scratch folder and compare them.

    python benchmarks/compare_reference_runs.py --scratch /tmp/refs            # run every suite, then compare
    python benchmarks/compare_reference_runs.py --scratch /tmp/refs --no-run   # compare runs already there
    python benchmarks/compare_reference_runs.py --scratch /tmp/refs --suites quickstart split_ig
    python benchmarks/compare_reference_runs.py --scratch /tmp/refs --no-run --against /tmp/base  # two regenerations

Each suite is run with the code this interpreter imports (``PYTHONPATH`` decides: a worktree's checkout,
or the installed xbench) into ``<scratch>/<suite>``, never into ``results/``.  The comparison reads both
``results.csv`` files as text (every value as written, nothing parsed) and compares them row by row on
every column except timing: the rows of the ``timing`` metric and the wall-clock columns of prior runs
(``step_ms``, ``train_seconds``).  A column present on one side only is listed, not compared (e.g.
``metric_name``, added after some reference runs were made).  Prints one Markdown table; exit code 1 if a
compared value differs.  Suites left out by default: the photo suites, which take 1-8 min each on 2 cores and
whose Guided IG rows depend on the torch thread count (its feature selection turns on exact ties that
a different summation order breaks differently); ``--suites`` can still name them.  ``--against DIR`` compares
with runs in ``DIR/<suite>`` instead of the committed ones: regenerate with the code before a change into
one folder and after it into another to see that change's effect alone, apart from any older drift of a
committed run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
SKIPPED = ("split_ig_photos", "quality_photos", "schedule_photos")
TIMING_COLUMNS = ("step_ms", "train_seconds")  # prior runs: wall-clock per step and per training


def reference_suites() -> list[str]:
    """Committed runs with a results table and a manifest, photo suites left out, fastest-looking first."""
    found = [d.name for d in sorted(RESULTS.iterdir()) if d.is_dir() and (d / "manifest.json").is_file()
             and any((d / f).is_file() for f in ("results.csv", "results.csv.gz"))]
    return [s for s in found if s not in SKIPPED]


def is_prior(suite: str) -> bool:
    return (RESULTS / suite / "timing.csv").is_file()  # only train-prior runs write a timing table


def regenerate(suite: str, out: Path) -> float:
    """Run ``suite`` (its built-in name) into ``out`` with this interpreter; returns the wall seconds."""
    cmd = [sys.executable, "-m", "xbench", "train-prior" if is_prior(suite) else "run", suite, "--out", str(out),
           "--quiet"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _read(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "results.csv"
    path = path if path.is_file() else run_dir / "results.csv.gz"
    return pd.read_csv(path, dtype=str, keep_default_na=False)  # text as written: nothing is parsed or rounded


def compare(committed: pd.DataFrame, new: pd.DataFrame) -> dict[str, object]:
    """Row-by-row equality of every common non-timing column: {rows, differing {column: n rows}, one-sided}."""
    def untimed(df: pd.DataFrame) -> pd.DataFrame:
        if "metric" not in df.columns:
            return df
        timing = (df["metric"] == "timing") | (df["metric_name"] == "timing" if "metric_name" in df.columns else False)
        return df[~timing].reset_index(drop=True)

    committed, new = untimed(committed), untimed(new)
    only_committed = [c for c in committed.columns if c not in new.columns]
    only_new = [c for c in new.columns if c not in committed.columns]
    common = [c for c in committed.columns if c in new.columns and c not in TIMING_COLUMNS]
    out: dict[str, object] = {"rows": (len(committed), len(new)), "only_committed": only_committed,
                              "only_new": only_new, "differing": {}, "compared": common}
    if len(committed) != len(new):
        out["differing"] = {"(row count)": abs(len(committed) - len(new))}
        return out
    diff = {c: int((committed[c] != new[c]).sum()) for c in common}
    out["differing"] = {c: n for c, n in diff.items() if n}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scratch", type=Path, required=True, help="folder for the regenerated runs (outside results/)")
    ap.add_argument("--suites", nargs="*", help="suite names (default: every committed reference run but photos)")
    ap.add_argument("--no-run", action="store_true", help="compare runs already in --scratch, run nothing")
    ap.add_argument("--against", type=Path, help="compare with DIR/<suite> instead of the committed results/<suite>")
    args = ap.parse_args(argv)
    scratch = args.scratch.resolve()
    if scratch == RESULTS or RESULTS in scratch.parents:
        ap.error("--scratch must be outside results/ (the committed runs are never overwritten)")
    scratch.mkdir(parents=True, exist_ok=True)
    other = "other" if args.against else "committed"
    lines = [f"| suite | rows ({other} / new) | compared columns | differing columns (rows) | only {other} | "
             "only new | run s |", "|---|---|---|---|---|---|---|"]
    failed = False
    for suite in args.suites or reference_suites():
        out = scratch / suite
        seconds = float("nan")
        if not args.no_run:
            seconds = regenerate(suite, out)
        r = compare(_read((args.against or RESULTS) / suite), _read(out))
        failed |= bool(r["differing"])
        differing = ", ".join(f"{c} ({n})" for c, n in r["differing"].items()) or "none: identical"
        lines.append(f"| {suite} | {r['rows'][0]} / {r['rows'][1]} | {len(r['compared'])} | {differing} | "
                     f"{', '.join(r['only_committed']) or '-'} | {', '.join(r['only_new']) or '-'} | {seconds:.0f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
