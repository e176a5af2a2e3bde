"""Regenerate the committed reference runs under ``results/`` in a scratch folder and compare them.

    python benchmarks/compare_reference_runs.py --scratch /tmp/refs            # run every suite, then compare
    python benchmarks/compare_reference_runs.py --scratch /tmp/refs --no-run   # compare runs already there
    python benchmarks/compare_reference_runs.py --scratch /tmp/refs --suites quickstart split_ig
    python benchmarks/compare_reference_runs.py --scratch /tmp/refs --no-run --against /tmp/base  # two regenerations

Each suite is run with one torch thread (``OMP_NUM_THREADS=1``, as the committed runs are made: with more threads
float32 sums split differently and the last bits of the values change, even with the same weights), with the
code this interpreter imports (``PYTHONPATH`` decides: a worktree's checkout,
or the installed xbench) into ``<scratch>/<suite>``, never into ``results/``.  The comparison reads both
``results.csv`` files as text (every value as written, nothing parsed) and compares them row by row on
every column except timing: the rows of the ``timing`` metric and the wall-clock columns of prior runs
(``step_ms``, ``train_seconds``).  A column present on one side only is listed, not compared (e.g.
``metric_name``, added after some reference runs were made).

Rows are compared exactly only where they can be: for each model, the SHA-256 of the weight files both
manifests record (``weights``; trained, cached or loaded) must match.  The rows of a model whose weights
differ (another CPU's kernels can train other bits) are compared by their summary instead: every
mean of one run must lie within the two runs' 95% confidence half-widths of the other's (``summary.csv``;
rows without a CI, n < 2, are counted, not compared; two means both within 1e-5 of zero, float32 rounding
residues such as an X-model's completeness gap, count as equal).  A run whose manifest records no weights (made
before the hashes were recorded, or a prior run) is compared exactly.  The table says which comparison
each suite got.  Prints one Markdown table; exit code 1 if a
compared value differs.  Suites left out by default: the photo suites, which take 1-8 min each on 2 cores and
whose Guided IG rows depend on the torch thread count (its feature selection turns on exact ties that
a different summation order breaks differently); ``--suites`` can still name them.  ``--against DIR`` compares
with runs in ``DIR/<suite>`` instead of the committed ones: regenerate with the code before a change into
one folder and after it into another to see that change's effect alone, apart from any older drift of a
committed run.
"""

from __future__ import annotations

import argparse
import json
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
    # one torch thread, as the committed runs were made: a float32 sum's bits depend on how threads split it
    # (measured on quickstart with the same weights: 11,273 of 31,488 values differ by up to 5.7e-6 at 2 threads)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _read(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "results.csv"
    path = path if path.is_file() else run_dir / "results.csv.gz"
    return pd.read_csv(path, dtype=str, keep_default_na=False)  # text as written: nothing is parsed or rounded


def weight_hashes(run_dir: Path) -> dict[str, frozenset[tuple[str, str]]] | None:
    """Model label -> its weight files' (file, SHA-256) pairs from the run's manifest; None if it records none."""
    weights = json.loads((run_dir / "manifest.json").read_text()).get("weights")
    if not isinstance(weights, dict):
        return None
    return {label: frozenset((e["file"], e["sha256"]) for e in entries) for label, entries in weights.items()}


def differing_weights(committed_dir: Path, new_dir: Path) -> list[str] | None:
    """Labels of the models whose weight hashes differ between two runs (sorted); None when a run records none."""
    a, b = weight_hashes(committed_dir), weight_hashes(new_dir)
    if a is None or b is None:
        return None
    return sorted(label for label in set(a) | set(b) if a.get(label) != b.get(label))


ROUNDING = 1e-5  # |mean| at or below which two float32 results are both rounding residues (see compare_ci)
SUMMARY_KEY = ["model", "method", "metric", "stat", "metric_params", "method_params"]


def compare_ci(committed: pd.DataFrame, new: pd.DataFrame, models: list[str]) -> dict[str, object]:
    """The summary rows of ``models`` (non-timing) whose means lie further apart than the sum of both 95% CI
    half-widths: {compared, outside [key strings], no_ci (rows with n < 2 or no CI), unmatched (one side only)}."""
    def rows(df: pd.DataFrame) -> pd.DataFrame:
        df = df[df["model"].isin(models) & (df["metric"] != "timing")]
        return df.set_index([c for c in SUMMARY_KEY if c in df.columns])

    a, b = rows(committed), rows(new)
    both = a.index.intersection(b.index)
    unmatched = len(a.index.symmetric_difference(b.index))
    a, b = a.loc[both], b.loc[both]
    ci = a["ci95"].astype(float) + b["ci95"].astype(float)
    has_ci = (a["n"].astype(int) >= 2) & (b["n"].astype(int) >= 2) & ci.notna()
    mean_a, mean_b = a["mean"].astype(float), b["mean"].astype(float)
    gap = (mean_a - mean_b).abs()
    # float32 rounding residues (an X-model's completeness gap, ~1e-7) change with any bit of the weights and
    # have no scale a CI could express: both below ROUNDING is "the same zero"
    rounding = (mean_a.abs() <= ROUNDING) & (mean_b.abs() <= ROUNDING)
    outside = has_ci & ~(gap <= ci) & ~rounding
    return {"compared": int(has_ci.sum()), "outside": ["/".join(map(str, k[:4])) for k in both[outside.to_numpy()]],
            "no_ci": int((~has_ci).sum()), "unmatched": unmatched, "rounding": int((has_ci & rounding).sum())}


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


def compare_runs(old: Path, new: Path) -> tuple[bool, str]:
    """Compare two run folders (exactly where the weights match, by CIs where not): (same, table cells)."""
    old_rows, new_rows = _read(old), _read(new)
    models = differing_weights(old, new)
    how = "exact (no weight hashes recorded)" if models is None else "exact (same weights)"
    ci_ok = True
    if models:
        exact = ~old_rows["model"].isin(models), ~new_rows["model"].isin(models)
        old_rows, new_rows = old_rows[exact[0]], new_rows[exact[1]]
        ci = compare_ci(pd.read_csv(old / "summary.csv"), pd.read_csv(new / "summary.csv"), models)
        ci_ok = not (ci["outside"] or ci["unmatched"])
        how = (f"{'exact for the rest, ' if len(old_rows) or len(new_rows) else ''}CI overlap for "
               f"{', '.join(models)} (other weights): {ci['compared']} means, {len(ci['outside'])} outside"
               f"{' (' + ', '.join(ci['outside'][:3]) + ')' if ci['outside'] else ''}, "
               f"{ci['rounding']} at rounding level, {ci['no_ci']} without a CI, {ci['unmatched']} on one side only")
    r = compare(old_rows.reset_index(drop=True), new_rows.reset_index(drop=True))
    differing = ", ".join(f"{c} ({n})" for c, n in r["differing"].items()) or (
        "none: identical" if r["rows"] != (0, 0) else "- (no row compared exactly)")
    row = (f"{r['rows'][0]} / {r['rows'][1]} | {how} | {len(r['compared'])} | {differing} | "
           f"{', '.join(r['only_committed']) or '-'} | {', '.join(r['only_new']) or '-'}")
    return not r["differing"] and ci_ok, row


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
    lines = [f"| suite | rows ({other} / new) | compared | compared columns | differing columns (rows) | "
             f"only {other} | only new | run s |", "|---|---|---|---|---|---|---|---|"]
    failed = False
    for suite in args.suites or reference_suites():
        out = scratch / suite
        seconds = float("nan")
        if not args.no_run:
            seconds = regenerate(suite, out)
        ok, row = compare_runs((args.against or RESULTS) / suite, out)
        failed |= not ok
        lines.append(f"| {suite} | {row} | {seconds:.0f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
