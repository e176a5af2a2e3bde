"""Turn pytest-benchmark's JSON into a table and a log-scale bar plot with the physical limit drawn.

Benchmarks put what the limit is into ``benchmark.extra_info``: ``limit_seconds`` (the time of the
physical limit for the same work: one forward+backward for single-pass methods, n of them for
n-step methods, one forward per curve step for perturbation metrics) and any ratios they measured.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..results import atomic_write_text  # noqa: E402
from .plots import save  # noqa: E402
from .tables import markdown_table  # noqa: E402


def bench_frame(path: str | Path) -> pd.DataFrame:
    """One row per benchmark: name, group, median/IQR seconds, rounds, extra_info columns, machine."""
    data = json.loads(Path(path).read_text())
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw") or machine.get("processor", "")
    rows = []
    for b in data.get("benchmarks", []):
        st = b["stats"]
        row = {"name": b["name"], "group": b.get("group") or "", "median_s": st["median"], "iqr_s": st["iqr"],
               "rounds": st["rounds"]}
        extra = dict(b.get("extra_info", {}))
        if "limit_seconds" in extra and "ratio_to_limit" not in extra and extra["limit_seconds"]:
            extra["ratio_to_limit"] = st["median"] / extra["limit_seconds"]
        row.update(extra)
        row["machine"] = extra.get("device_name") or cpu
        rows.append(row)
    return pd.DataFrame(rows)


def report_bench(path: str | Path, out_dir: str | Path | None = None) -> tuple[Path, Path | None]:
    """Write ``bench.md``/``bench.csv`` and ``bench.png`` next to the JSON (or into ``out_dir``).

    Returns (markdown path, plot path or None when there is nothing to plot).
    """
    path = Path(path)
    out = Path(out_dir) if out_dir else path.parent
    out.mkdir(parents=True, exist_ok=True)
    df = bench_frame(path)
    stem = path.stem
    atomic_write_text(out / f"{stem}.csv", df.to_csv(index=False, float_format="%.6g"))
    shown = df.copy()
    shown["median_ms"] = shown["median_s"] * 1e3
    if "limit_seconds" in shown:
        shown["limit_ms"] = shown["limit_seconds"] * 1e3
    cols = [c for c in ["group", "name", "median_ms", "limit_ms", "ratio_to_limit", "rounds"] if c in shown]
    cols += [c for c in shown.columns if c.startswith(("ratio", "speedup")) and c not in cols]
    md = f"# Benchmarks: {path.name}\n\nMachine: {', '.join(sorted(set(map(str, df['machine']))))}\n\n"
    md += markdown_table(shown, cols) + "\n"
    md_path = out / f"{stem}.md"
    atomic_write_text(md_path, md)
    if df.empty:
        return md_path, None
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(df) + 2), 4.5))
    xs = range(len(df))
    ax.bar(xs, df["median_s"] * 1e3, color="tab:blue", label="median")
    if "limit_seconds" in df:
        ax.scatter(xs, df["limit_seconds"] * 1e3, marker="_", s=400, color="tab:red", zorder=3,
                   label="physical limit (forward+backward / forward per step)")
    ax.set_yscale("log")
    ax.set_ylabel("ms per call (median)")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(df["name"].str.replace("test_", "", regex=False), rotation=60, ha="right", fontsize=7)
    ax.legend(fontsize=8)
    ax.set_title(f"{path.name}: time per call vs the limit")
    return md_path, save(fig, out / f"{stem}.png")
