"""``index.html`` of a run directory: one self-contained page (inline CSS and JS, images referenced relatively)
built from the files the report already wrote (``summary.csv``, ``verdict*.csv``, ``plots/``, ``manifest.json``)
and the per-sample rows of the results, so it shows the same numbers as ``summary.md`` and ``verdict.md``."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import pandas as pd

from ..results import atomic_write_text, read_results, results_path, safe_name, with_metric_name
from .meta import applies_mask, stat_direction
from .page_assets import CSS, JS
from .sample_maps import ModelMaps, sample_maps
from .tables import fmt

__all__ = ["PAGE", "page", "table_html", "write_index_html"]

PAGE = "index.html"
PLOT_KINDS = ("curves", "logit_path", "saturation", "distributions", "timing", "heatmaps", "features")
"""The per-model PNGs of ``plots/`` (``<kind>_<model>.png``), in the order the page shows them."""
ARROWS = {"higher": "↑", "lower": "↓"}


def esc(v) -> str:
    """``v`` as HTML text."""
    return html.escape(str(v), quote=True)


def page(title: str, body: str) -> str:
    """A complete HTML document: ``body`` with the inline stylesheet and script."""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head>\n<body>\n{body}\n<script>{JS}</script>\n</body></html>\n")


def table_html(columns: list[str], rows: list[list], table_id: str = "", sortable: bool = True,
               filter_hint: str = "") -> str:
    """A table; a cell is text or ``(text, sort_value, css_class, title)``.  ``filter_hint``: a filter box above."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in r:
            text, v, cls, title = (c + (None,) * (4 - len(c))) if isinstance(c, tuple) else (c, None, None, None)
            attrs = (f' data-v="{esc(v)}"' if v is not None else "") + (f' class="{cls}"' if cls else "") \
                + (f' title="{esc(title)}"' if title else "")
            cells.append(f"<td{attrs}>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    tid = f' id="{table_id}"' if table_id else ""
    box = (f'<input type="search" data-filter="{table_id}" placeholder="{esc(filter_hint)}">'
           if filter_hint and table_id else "")
    cls = ' class="sortable"' if sortable else ""
    return f'{box}<div class="scroll"><table{tid}{cls}><thead><tr>{head}</tr></thead><tbody>' \
           + "\n".join(body) + "</tbody></table></div>"


def num(v: float, blank_nan: bool = False) -> tuple:
    """A numeric cell: 4 significant digits shown, the full value sorted on (NaN sorts as text, last; shown
    empty with ``blank_nan``)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return (str(v), None, "num")
    if math.isnan(f):
        return ("" if blank_nan else "nan", "", "num")
    return (fmt(f), repr(f), "num")


def _manifest(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def settings_html(man: dict) -> str:
    """The run's settings (suite, data, models, methods, metrics, seed, versions, weight hashes) as a
    collapsible block, the whole manifest in a nested one."""
    suite = man.get("suite") or {}
    rows = [["suite", suite.get("name", "")], ["description", suite.get("description", "")],
            ["data", json.dumps(suite.get("data", {}), sort_keys=True)], ["seed", man.get("seed", "")],
            ["models", "; ".join(f"{m.get('label')} ({m.get('name')}, weights {m.get('weights')})"
                                 for m in suite.get("models", []))],
            ["methods", "; ".join(f"{m.get('label')} = {m.get('name')} {json.dumps(m.get('params', {}))}"
                                  for m in suite.get("methods", []))],
            ["metrics", "; ".join(f"{m.get('label')} = {m.get('name')} {json.dumps(m.get('params', {}))}"
                                  for m in suite.get("metrics", []))],
            ["versions", ", ".join(f"{k} {v}" for k, v in (man.get("versions") or {}).items())],
            ["git commit", man.get("git_commit", "")], ["device", man.get("device_name", man.get("device", ""))],
            ["started / finished", f"{man.get('started', '')} / {man.get('finished', '')}"],
            ["command", man.get("command", "")]]
    for model, files in (man.get("weights") or {}).items():
        for f in files or []:
            rows.append([f"weights of {model}", f"{f.get('file')} ({f.get('source')}) sha256 {f.get('sha256')}"])
    body = table_html(["setting", "value"], rows, sortable=False)
    full = esc(json.dumps(man, indent=1, sort_keys=True))
    return (f"<details id=\"settings\"><summary>Run settings (suite, models, data, seeds, versions, weight hashes)"
            f"</summary>{body}<details><summary>manifest.json</summary><pre>{full}</pre></details></details>")


def summary_frame(run_dir: Path, df: pd.DataFrame | None) -> pd.DataFrame:
    """``summary.csv`` as the report wrote it (computed from ``df`` when the file is missing)."""
    path = run_dir / "summary.csv"
    if path.is_file():
        return pd.read_csv(path, keep_default_na=False, na_values={"mean": ["nan", ""], "ci95": ["nan", ""]})
    from .tables import summarise

    return summarise(df if df is not None else read_results(run_dir))


def results_table(summary: pd.DataFrame) -> str:
    """Every model x method x metric x stat: mean, ± 95% CI, n and the direction arrow the metric declared."""
    if summary.empty:
        return "<p>No scalar results.</p>"
    s = with_metric_name(summary)
    params = s["method_params"].fillna("{}") if "method_params" in s.columns else "{}"  # older summaries lack it
    ok = list(applies_mask(s.assign(method_params=params)))
    rows = []
    for (_, r), applies in zip(s.iterrows(), ok):
        d = stat_direction(r["metric_name"], r["stat"])
        flags = ("" if applies else "no claim of this property") + \
            (f" {int(r['n_nonfinite'])} non-finite" if int(r.get("n_nonfinite", 0) or 0) else "")
        mean = num(r["mean"]) if applies else ("n/a", "", "num")
        ci = num(r["ci95"], blank_nan=True) if applies else ("", "", "num")
        better = (ARROWS.get(d or "", ""), None, None, f"{d} is better" if d else "descriptive")
        rows.append([r["model"], r["method"], f"{r['metric']}.{r['stat']}", better, mean, ci,
                     (str(r["n"]), r["n"], "num"), flags.strip()])
    return table_html(["model", "method", "metric.stat", "better", "mean", "± 95% CI", "n", "flags"], rows,
                      "results-table", filter_hint="filter rows, e.g. 'resnet deletion' (all words must match)")


def verdict_html(run_dir: Path) -> str:
    """The verdict as a coloured matrix: beats random after correction per (model, method) x metric.stat,
    the mean rank with its bootstrap interval, and the metric reliability table where the run has one."""
    path = run_dir / "verdict.csv"
    if not path.is_file():
        return ""
    v = pd.read_csv(path, keep_default_na=False)
    if v.empty:
        return ""
    v["col"] = v["metric"].astype(str) + "." + v["stat"].astype(str)
    cols = list(dict.fromkeys(v["col"]))
    ranks = {}
    rp = run_dir / "verdict_ranks.csv"
    if rp.is_file():
        for _, r in pd.read_csv(rp).iterrows():
            ranks[(str(r["model"]), str(r["method"]))] = (r["mean_rank"], r["ci_low"], r["ci_high"])
    mark = {"true": ("✓", "yes"), "false": ("✗", "no")}
    rows = []
    for (model, method), g in v.groupby(["model", "method"], sort=False):
        by = {c: r for c, (_, r) in zip(g["col"], g.iterrows())}
        rk = ranks.get((str(model), str(method)))
        row = [model, method, (f"{rk[0]:.3g} [{rk[1]:.3g}, {rk[2]:.3g}]", repr(float(rk[0])), "num")
                               if rk else ("", None, "num")]
        for c in cols:
            r = by.get(c)
            if r is None:
                row.append(("", None, "na"))
                continue
            text, cls = mark.get(str(r["beats_random"]), ("–", "na"))
            row.append((text, {"yes": 2, "no": 1, "na": 0}[cls], cls,
                        f"mean diff {r['mean_diff']}, p adj {r['p_adjusted'] or 'n/a'} ({r['correction']}), "
                        f"CLES {r['cles']}"))
        rows.append(row)
    out = ("<h2 id=\"verdict\">Verdict</h2><p class=\"note\">✓ beats <code>random</code> after correction, "
           "✗ does not, – not tested (random itself, descriptive stats); hover a cell for the mean difference, "
           "adjusted p and CLES. Mean rank over the metrics with its bootstrap interval "
           "(<a href=\"verdict.md\">verdict.md</a>, <a href=\"verdict.csv\">CSV</a>).</p>")
    out += table_html(["model", "method", "mean rank [95% CI]"] + cols, rows, "verdict-matrix")
    rel = run_dir / "reliability.csv"
    if rel.is_file():
        t = pd.read_csv(rel)
        out += "<h3>Metric reliability (MetaQuantus)</h3>" + table_html(
            list(map(str, t.columns)), [[num(x) if isinstance(x, float) else str(x) for x in r]
                                        for r in t.itertuples(index=False)], "reliability")
    if (run_dir / "verdict.png").is_file():
        out += '<details><summary>verdict.png</summary><img class="plot" src="verdict.png" alt="verdict"></details>'
    return out


def _preview_samples(df: pd.DataFrame, model: str, k: int) -> list:
    """The sample ids of the first ``k`` rows of batch 0 of ``model`` (the rows previews keep)."""
    rows = df[(df["model"] == model) & (df["kind"] == "sample") & (df["batch"] == 0)]
    return list(dict.fromkeys(rows["sample"]))[:k]


def sample_scores(df: pd.DataFrame, model: str, sample) -> str:
    """One sample's value of every method x metric.stat of ``model``: methods as rows."""
    rows = df[(df["model"] == model) & (df["kind"] == "sample") & (df["sample"] == sample)]
    if rows.empty:
        return "<p class=\"note\">No per-sample scores for this sample.</p>"
    rows = rows.assign(col=rows["metric"].astype(str) + "." + rows["stat"].astype(str))
    cols = list(dict.fromkeys(rows["col"]))
    table = []
    for method, g in rows.groupby("method", sort=False):
        vals = dict(zip(g["col"], g["value"]))
        table.append([method] + [num(vals[c]) if c in vals else "" for c in cols])
    return table_html(["method"] + cols, table, f"scores-{safe_name(model)}-{sample}")


def browser_html(model: str, mm: ModelMaps | None, df: pd.DataFrame | None, grid: str | None, k: int) -> str:
    """The heatmap browser of ``model``: a sample picker; per sample the input, every method's map and that
    sample's scores.  Without per-sample maps (no previews), the grid PNG and the scores of the ``k`` samples
    the grid shows."""
    if df is None:
        return ""
    k = len(mm.inputs) if mm else k
    samples = _preview_samples(df, model, k)
    if not samples:
        return ""
    sid = safe_name(model)
    buttons = "".join(f'<button type="button" data-sample="{i}"{" class=on" if i == 0 else ""}>sample {esc(s)}'
                      f"</button>" for i, s in enumerate(samples))
    blocks = []
    for i, s in enumerate(samples):
        figs = ""
        if mm and i < len(mm.inputs):
            figs = f'<figure><img src="{esc(mm.inputs[i])}" alt="input"><figcaption>input</figcaption></figure>'
            figs += "".join(f'<figure><img src="{esc(mm.maps[(i, stem)])}" alt="{esc(label)}">'
                            f"<figcaption>{esc(label)}</figcaption></figure>"
                            for stem, label in mm.methods if (i, stem) in mm.maps)
            figs = f'<div class="maps">{figs}</div>'
        blocks.append(f'<div class="sample{" shown" if i == 0 else ""}" data-sample="{i}">{figs}'
                      f"<h3>Scores of sample {esc(s)}</h3>{sample_scores(df, model, s)}</div>")
    note = ("Red +, blue −; each map scaled by its own ±99th percentile of |A| (compare patterns, not "
            "magnitudes)." if mm else "This run keeps no per-sample previews (previews/ is not committed for "
                                      "real-network runs): the grid below shows the maps; the picker switches "
                                      "the scores.")
    grid_html = (f'<img class="plot" src="{esc(grid)}" alt="heatmap grid">' if grid and not mm else "")
    return (f'<h3>Heatmap browser</h3><div class="browser" id="browser-{sid}"><p class="note">{note}</p>'
            f'<div class="picker">{buttons}</div>{grid_html}' + "".join(blocks) + "</div>")


def model_sections(run_dir: Path, df: pd.DataFrame | None, maps: dict[str, ModelMaps], man: dict) -> str:
    """Per model: its plots (curves, logit along the path, saturation, distributions, timing) and browser."""
    plots = run_dir / "plots"
    # how many samples the previews (and so the heatmap grid) keep: the suite's report setting, as the run read it
    k = int(((man.get("suite") or {}).get("report") or {}).get("heatmap_samples", 4))
    models = list(dict.fromkeys(df["model"])) if df is not None else []
    out = []
    for model in models:
        sid = safe_name(model)
        imgs = []
        grid = None
        for kind in PLOT_KINDS:
            p = plots / f"{kind}_{sid}.png"
            if not p.is_file():
                continue
            rel = p.relative_to(run_dir).as_posix()
            if kind == "heatmaps":
                grid = rel
                if sid not in maps:
                    continue
            imgs.append(f'<h3>{esc(kind.replace("_", " "))}</h3><img class="plot" src="{esc(rel)}" alt="{esc(kind)}">')
        body = "".join(imgs) + browser_html(model, maps.get(sid), df, grid, k)
        if body:
            out.append(f'<h2 id="model-{sid}">Model {esc(model)}</h2>{body}')
    return "".join(out)


def tables_page(run_dir: Path, man: dict, title: str) -> str:
    """The body of a run whose results are not attribution scores (a train-prior run): its settings, every
    ``tables/*.csv`` as a sortable table (titled by the table's markdown heading) and its plots."""
    parts = [f"<h1>{esc(title)}</h1><nav><a href=\"index.md\">index.md</a></nav>{settings_html(man)}"]
    for i, csv in enumerate(sorted((run_dir / "tables").glob("*.csv"))):
        md = csv.with_suffix(".md")
        heading = md.read_text().splitlines()[0].lstrip("# ") if md.is_file() else csv.stem
        t = pd.read_csv(csv)
        rows = [[num(x) if isinstance(x, float) else str(x) for x in r] for r in t.itertuples(index=False)]
        parts.append(f"<h2>{esc(heading)}</h2>" + table_html(list(map(str, t.columns)), rows, f"table-{i}"))
    for png in sorted((run_dir / "plots").glob("*.png")):
        rel = png.relative_to(run_dir).as_posix()
        parts.append(f'<h3>{esc(png.stem)}</h3><img class="plot" src="{esc(rel)}" alt="{esc(png.stem)}">')
    return "".join(parts)


def write_index_html(run_dir: str | Path, df: pd.DataFrame | None = None) -> Path:
    """Write ``index.html`` (and the per-sample map PNGs under ``plots/maps/``) into ``run_dir``; return its path.
    ``df``: the run's results when already read."""
    run_dir = Path(run_dir)
    if df is None and results_path(run_dir).exists():
        df = read_results(run_dir)
    man = _manifest(run_dir)
    title = str((man.get("suite") or {}).get("name") or run_dir.name)
    if df is not None and "kind" not in df.columns:  # a train-prior run: its own tables, no attribution scores
        path = run_dir / PAGE
        atomic_write_text(path, page(title, tables_page(run_dir, man, title)))
        return path
    maps = sample_maps(run_dir, run_dir / "plots") if (run_dir / "plots").is_dir() else {}
    summary = summary_frame(run_dir, df)
    models = list(dict.fromkeys(summary["model"])) if len(summary) else []
    verdict = verdict_html(run_dir)
    nav = ('<nav><a href="#results">results</a>' + ('<a href="#verdict">verdict</a>' if verdict else "")
           + "".join(f'<a href="#model-{safe_name(m)}">{esc(m)}</a>' for m in models)
           + '<a href="index.md">index.md</a><a href="summary.md">summary.md</a></nav>')
    sections = model_sections(run_dir, df, maps, man)
    # any other plot the report writes (contrast.png, a plot kind added later) is still on the page
    others = [p.relative_to(run_dir).as_posix() for p in sorted((run_dir / "plots").glob("*.png"))]
    others = "".join(f'<h3>{esc(Path(rel).stem)}</h3><img class="plot" src="{esc(rel)}" alt="{esc(Path(rel).stem)}">'
                     for rel in others if f'src="{esc(rel)}"' not in sections)
    others = f'<h2 id="other-plots">Other plots</h2>{others}' if others else ""
    body = (f"<h1>{esc(title)}</h1>{nav}{settings_html(man)}"
            f"<h2 id=\"results\">Results</h2><p class=\"note\">Mean ± 95% CI (Student t) over samples (per-batch "
            f"stats: over batches); ↑ higher / ↓ lower is better as the metric declares. Click a header to sort."
            f"</p>{results_table(summary)}{verdict}{sections}{others}")
    path = run_dir / PAGE
    atomic_write_text(path, page(title, body))
    return path
