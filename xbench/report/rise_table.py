"""RISE's deletion / insertion AUCs per method, with the RISE paper's reference figures beside them (labelled)."""

from __future__ import annotations

import json

import pandas as pd

from .meta import labels_of as _metric_by_name
from .paper import _mean_ci, paper_figures


def rise_table(df: pd.DataFrame):
    """(title, table, note) for the runs with both deletion and insertion, else None."""
    dels, inss = _metric_by_name(df, "deletion"), _metric_by_name(df, "insertion")
    if not dels or not inss:
        return None
    d, i = _mean_ci(df, dels[0], "auc"), _mean_ci(df, inss[0], "auc")
    settings = []
    for label in (dels[0], inss[0]):
        p = json.loads(df[df["metric"] == label]["metric_params"].iloc[0])
        settings.append(f"{label}: " + ", ".join(f"{k}={v}" for k, v in p.items() if k not in ("name", "max_batch")))
    keys = list(dict.fromkeys(list(d.index) + list(i.index)))
    rows = [{"model": m, "method": me, "deletion AUC ↓": d.get((m, me), ""), "insertion AUC ↑": i.get((m, me), "")}
            for m, me in keys]
    fig = paper_figures()["rise"]
    rows += [{"model": f"paper: {fig['setting'].split(',')[0]}", "method": f"paper: {r['method']}",
              "deletion AUC ↓": r["deletion"], "insertion AUC ↑": r["insertion"]} for r in fig["rows"]]
    note = (f"Rows 'paper: ...' are the RISE paper's figures ({fig['paper']}; {fig['source']}; {fig['setting']}), "
            "not ours and not on our network or images. Ours: mean ± 95% CI over photos; settings: "
            + "; ".join(settings) + ".")
    return "RISE deletion / insertion (Petsiuk et al. 2018)", pd.DataFrame(rows), note
