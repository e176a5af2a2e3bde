"""Reports: tables and plots regenerated from a run directory's ``results.csv`` (and previews)."""

from __future__ import annotations

import json
from pathlib import Path

from ..results import atomic_write_text, read_results
from ..verdict import make_verdict
from .claims import has_split_claims, make_claims
from .html import write_index_html
from .meta import legend
from .paper import paper_tables
from .plots import contrast_plot, curve_plots, distribution_plots, heatmap_grids, saturation_plots, timing_plot
from .sanity import sanity_tables
from .saturation import logit_path_plots, saturation_tables
from .tables import latex_table, markdown_table, summarise, summary_display, text_table

__all__ = ["make_report", "summarise", "write_index_html"]


def suite_name(run_dir: Path) -> str:
    """The suite's name from the run's ``manifest.json`` (so a copied run dir reports the same), else the folder's."""
    try:
        name = json.loads((run_dir / "manifest.json").read_text())["suite"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return run_dir.name
    return str(name) if name else run_dir.name


def _sanity_section(df) -> str:
    """The randomisation checks' pass/fail table as a section of summary.md ('' when the run has none)."""
    table = sanity_tables(df).get("sanity")
    return "" if table is None else f"\n## {table[0]}\n\n{markdown_table(table[1])}\n\n{table[2]}\n"


def make_report(run_dir: str | Path) -> str:
    """Write summary.csv/.md, tables/, plots/, index.md and index.html into ``run_dir``; return the terminal
    summary."""
    run_dir = Path(run_dir)
    title = suite_name(run_dir)
    df = read_results(run_dir)
    summary = summarise(df)
    (run_dir / "tables").mkdir(exist_ok=True)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    atomic_write_text(run_dir / "summary.csv", summary.to_csv(index=False, float_format="%.9g"))
    disp = summary_display(summary)
    md = markdown_table(disp)
    key = legend(list(summary.get("metric_name", [])))
    atomic_write_text(run_dir / "summary.md", f"# Summary: {title}\n\nMean ± 95% CI (Student t) over "
                      "samples (per-batch stats: over batches).\n\n" + md + "\n" + _sanity_section(df)
                      + "\n## Metrics\n\n" + markdown_table(key) + "\n")
    atomic_write_text(run_dir / "tables" / "summary.tex", latex_table(disp) + "\n")
    lines = [f"# {title}", "", "Read in this order:", "", "1. [summary.md](summary.md): every model x method x "
             "metric, mean ± 95% CI ([CSV](summary.csv), [LaTeX](tables/summary.tex))",
             "2. [verdict.md](verdict.md): each method against `random` (corrected paired tests), rank aggregation "
             "and metric agreement ([CSV](verdict.csv))"]
    i = 2
    built = {**paper_tables(df), **saturation_tables(run_dir, df), **sanity_tables(df)}
    for key, (heading, table, note) in built.items():
        cols = [str(c) for c in table.columns]
        table = table.copy()
        table.columns = cols
        body = f"# {heading}\n\n{markdown_table(table)}\n\n{note}\n"
        atomic_write_text(run_dir / "tables" / f"{key}.md", body)
        atomic_write_text(run_dir / "tables" / f"{key}.csv", table.to_csv(index=False, float_format="%.6g"))
        atomic_write_text(run_dir / "tables" / f"{key}.tex", latex_table(table) + "\n")
        i += 1
        lines.append(f"{i}. [{heading}](tables/{key}.md) ([CSV](tables/{key}.csv), [LaTeX](tables/{key}.tex))")
    made = (logit_path_plots(run_dir, df, plots) + contrast_plot(df, plots) + curve_plots(df, plots)
            + saturation_plots(df, plots)
            + distribution_plots(df, plots) + heatmap_grids(run_dir, plots) + timing_plot(df, plots))
    for p in made:
        i += 1
        lines.append(f"{i}. [{p.stem}](plots/{p.name})")
        lines.append(f"   ![{p.stem}](plots/{p.name})")
    verdict = make_verdict(run_dir, df)  # verdict.csv/.md/.png, from the same rows
    if has_split_claims(df):  # paper B's claims, after the verdict (claims.md quotes its tests against random)
        make_claims(run_dir, df)
        lines += ["", "Paper B's claims: [claims.md](claims.md) (paired differences per network and pooled by "
                  "photo, saturation; [CSV](claims.csv), [plot](claims.png))"]
    lines += ["", "Raw rows: [results.csv](results.csv); settings: [manifest.json](manifest.json)."]
    atomic_write_text(run_dir / "index.md", "\n".join(lines) + "\n")
    write_index_html(run_dir, df)  # the same files as one page, last: it reads what was just written
    return text_table(disp) + "\n\n" + verdict


__all__ += ["latex_table", "markdown_table", "summary_display", "text_table"]
