"""The randomisation checks' table: which methods fail them (their explanation survives the randomisation)."""

from __future__ import annotations

import pandas as pd

from ..results import with_metric_name
from .tables import fmt, summarise

CHECKS = ("mprt", "random_logit", "data_randomisation")
"""The registered randomisation metrics the table reads (their per-sample ``similarity`` rows)."""
FAIL_THRESHOLD = 0.5
"""A method fails a check when its mean similarity to the randomised explanation is at least this: more than
half of the explanation's structure survives the destruction of the model, the class or the labels.  A stated
convention (Adebayo et al. 2018 and Sixt et al. 2020 show similarities, they set no threshold)."""


def sanity_table(df: pd.DataFrame) -> tuple[str, pd.DataFrame, str] | None:
    """(heading, one row per model x method with each check's mean similarity ± 95% CI and passes/fails, note),
    or None when the run has no randomisation check."""
    rows = with_metric_name(df)
    rows = rows[rows["metric_name"].isin(CHECKS) & (rows["stat"] == "similarity") & (rows["kind"] == "sample")]
    if rows.empty:
        return None
    s = summarise(rows)
    labels = list(dict.fromkeys(s["metric"]))
    out = []
    for (model, method), g in s.groupby(["model", "method"], sort=False):
        row = {"model": model, "method": method}
        failed = []
        for label in labels:
            hit = g[g["metric"] == label]
            if hit.empty:
                row[label] = "-"
                continue
            mean, ci = float(hit["mean"].iloc[0]), float(hit["ci95"].iloc[0])
            fails = mean >= FAIL_THRESHOLD
            row[label] = f"{fmt(mean, ci)} ({'fails' if fails else 'passes'})"
            if fails:
                failed.append(label)
        row["fails"] = ", ".join(failed) or "none"
        out.append(row)
    note = (f"Mean similarity (± 95% CI over samples) between the method's explanation and the explanation after "
            f"the randomisation; lower is better. A method *fails* a check when the mean is at least "
            f"{FAIL_THRESHOLD} (xbench's stated threshold; the papers set none). mprt: after the last randomised "
            "layer (the whole model for cascading orders); random_logit: a random other class; data_randomisation: "
            "the architecture trained on permuted labels. A model-independent explanation (`random`) scores 1.")
    return "Randomisation sanity checks: which methods fail", pd.DataFrame(out), note


def sanity_tables(df: pd.DataFrame) -> dict[str, tuple[str, pd.DataFrame, str]]:
    """``{"sanity": table}`` when the run has randomisation checks, else empty (the report's table builders' form)."""
    res = sanity_table(df)
    return {} if res is None else {"sanity": res}
