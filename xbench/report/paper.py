"""Paper-shaped tables: ours beside the papers' published figures (labelled as the papers').

Each builder takes the tidy results and returns ``(title, table DataFrame, note)`` or None when
the run has no rows for it, so one report function serves every suite.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import pandas as pd
import yaml

from ..metrics import METRICS
from .meta import arrow, labels_of
from .tables import fmt


@lru_cache(maxsize=1)
def paper_figures() -> dict:
    """The papers' published figures (``paper_figures.yaml``), with their sources and settings."""
    return yaml.safe_load(resources.files("xbench.report").joinpath("paper_figures.yaml").read_text())


def _mean_ci(df: pd.DataFrame, metric: str, stat: str) -> pd.Series:
    from .tables import summarise

    s = summarise(df[(df["metric"] == metric) & (df["stat"] == stat)])
    return pd.Series({(m, me): fmt(v, c) for m, me, v, c in zip(s["model"], s["method"], s["mean"], s["ci95"])},
                     dtype=object)


def accuracy_table(df: pd.DataFrame):
    """Paper A §4.1: accuracy of each regular model and its X-variant, side by side."""
    labels = labels_of(df, "accuracy")
    if not labels:
        return None
    acc = df[(df["metric"] == labels[0]) & (df["kind"] == "sample")]
    models = list(dict.fromkeys(acc["model"]))
    stats = list(dict.fromkeys(acc["stat"]))
    rows = []
    for m in models:
        g = acc[acc["model"] == m]
        params = json.loads(g["model_params"].iloc[0])
        homogeneous = params.get("homogeneous", params.get("x"))
        row = {"model": m, "variant": "X (bias-free)" if homogeneous else "regular", "n": g["sample"].nunique()}
        for st in stats:
            row[f"{st} (%)"] = 100 * g[g["stat"] == st]["value"].mean()
        rows.append(row)
    table = pd.DataFrame(rows)
    fig = paper_figures()["xdnn_accuracy"]
    note = (f"The paper's figures ({fig['paper']}; {fig['source']}; {fig['setting']}):\n\n"
            + "\n".join(f"- {r['model']}: regular {r['regular_top5']}, X {r['x_top5']}" for r in fig["rows"]))
    return "Accuracy, regular vs X (paper A §4.1)", table, note


def contrast_table(df: pd.DataFrame):
    """Paper A §4.4: top-1 accuracy (%) per contrast factor a, one row per model."""
    labels = labels_of(df, "contrast")
    if not labels:
        return None
    c = df[(df["metric"] == labels[0]) & (df["kind"] == "curve") & (df["stat"] == "top1")]
    if c.empty:
        return None
    piv = c.groupby(["model", "x"], sort=False)["value"].mean().mul(100).unstack("x")
    piv = piv[sorted(piv.columns, reverse=True)]
    piv.columns = [f"a={a:.1f}" for a in piv.columns]
    inv = df[(df["metric"] == labels[0]) & (df["stat"] == "invariance")].groupby("model", sort=False)["value"].mean()
    piv["argmax invariant (%)"] = 100 * inv
    fig = paper_figures()["xdnn_contrast"]
    return ("Top-1 accuracy (%) vs contrast (paper A §4.4)", piv.reset_index(),
            f"The paper's claim ({fig['paper']}; {fig['setting']}): {fig['claim']}.")


def ig_equivalence_table(df: pd.DataFrame):
    """Paper A §4.1: distance of each method to IG-128 on each model."""
    labels = labels_of(df, "ig_distance")
    if not labels:
        return None
    s = _mean_ci(df, labels[0], "distance")
    models = list(dict.fromkeys(m for m, _ in s.index))
    methods = list(dict.fromkeys(me for _, me in s.index))
    table = pd.DataFrame([{"method": me, **{m: s.get((m, me), "") for m in models}} for me in methods])
    fig = paper_figures()["xdnn_ig_equivalence"]
    rows = df[df["metric"] == labels[0]]
    targets = sorted(set(rows["target"].astype(str))) if "target" in rows else []
    explained = {"label": "the true label (as the X-DNN authors)", "predicted": "the predicted class"}
    said = " and ".join(explained.get(t, t) for t in targets) or "not recorded"
    return (f"Distance to IG-128{arrow('ig_distance', 'distance')} (paper A §4.1; mean ± 95% CI)", table,
            f"Attributions and IG-128 explain {said} (`data.target`). Per sample, mean|A - IG| / mean|IG|; the "
            f"authors average a ratio of means per batch (stat `batch_ratio_of_means`). "
            f"The paper's claim ({fig['paper']}; {fig['setting']}): {fig['claim']}.")


def keep_remove_table(df: pd.DataFrame):
    """Paper A §4.2: AUC of the six keep/remove curves per model x method (stats and directions from the registry)."""
    labels = labels_of(df, "keep_remove")
    if not labels:
        return None
    meta = METRICS.get("keep_remove").meta
    curves = list(meta["directions"])
    g = df[(df["metric"] == labels[0]) & (df["kind"] == "sample") & (df["stat"].isin(curves))]
    table = g.groupby(["model", "method", "stat"], sort=False)["value"].mean().unstack("stat")
    table = table[[k for k in curves if k in table.columns]].reset_index()
    table.columns = [c + arrow("keep_remove", c) if c in curves else c for c in table.columns]
    by_direction = {d: "/".join(k for k in curves if meta["directions"][k] == d) for d in ("higher", "lower")}
    note = (f"{by_direction['higher']}: higher is better; {by_direction['lower']}: lower is better. Positive/negative "
            "curves score the target logit, absolute curves top-1 accuracy (%/100). The paper's AUC values were not "
            "recovered, so no paper column is shown.")
    return "Keep/remove AUCs (paper A §4.2)", table, note


def split_ig_table(df: pd.DataFrame):
    """Paper B: faithfulness (ABPC), sensitivity, deletion/insertion and saturation per method."""
    if "alpha_star" not in set(df[df["metric"] == "_info"]["stat"]) and not labels_of(df, "abpc"):
        return None
    fig = paper_figures()["split_ig"]
    paper_rows = {r["method"]: r for r in fig["faithfulness_sensitivity"]["rows"]}
    cols = {name: (stat, title + arrow(name, stat)) for name, stat, title in (
        ("abpc", "abpc", "faithfulness (ABPC)"), ("max_sensitivity", "sensitivity", "max-sensitivity"),
        ("deletion", "auc", "deletion AUC"), ("insertion", "auc", "insertion AUC"))}
    pieces = {}
    for name, (stat, title) in cols.items():
        for label in labels_of(df, name):
            pieces[title if len(labels_of(df, name)) == 1 else f"{title} [{label}]"] = _mean_ci(df, label, stat)
    info = df[df["metric"] == "_info"]
    rows = []
    for (model, method), g in df.groupby(["model", "method"], sort=False):
        if method == "-":
            continue
        mp = json.loads(g["method_params"].iloc[0]) if g["method_params"].iloc[0] else {}
        kind = _paper_b_kind(mp)
        row = {"model": model, "method": method}
        for title, series in pieces.items():
            row[title] = series.get((model, method), "")
        gi = info[(info["model"] == model) & (info["method"] == method)]
        a = gi[gi["stat"] == "alpha_star"]["value"]
        r = gi[gi["stat"] == "right_left_norm_ratio"]["value"]
        row["mean alpha*"] = fmt(a.mean()) if len(a) else ""
        row["mean ‖Right‖/‖Left‖"] = fmt(r.mean()) if len(r) else ""
        row["share ratio > 4"] = fmt(float((r > 4).mean())) if len(r) else ""
        paper = paper_rows.get(kind, {})
        row["paper: faithfulness"] = paper.get("faithfulness", "")
        row["paper: sensitivity"] = paper.get("sensitivity", "")
        rows.append(row)
    sat = fig["saturation"]
    note = (f"Columns 'paper: ...' are the paper's figures ({fig['paper']}; "
            f"{fig['faithfulness_sensitivity']['setting']}), shown on the rows of the matching part (Left, Right, "
            f"full IG). The paper's saturation figures ({sat['setting']}): mean alpha* {sat['mean_alpha_star']}, "
            f"mean ‖Right‖/‖Left‖ {sat['mean_right_left_norm_ratio']}, share above 4: {sat['share_ratio_above_4']}.")
    return "Split IG: faithfulness, sensitivity and saturation (paper B)", pd.DataFrame(rows), note


def _paper_b_kind(mp: dict) -> str:
    if mp.get("name") == "split_ig":
        return {"left": "left", "right": "right", "full": "ig"}.get(mp.get("part"), "")
    if mp.get("name") == "integrated_gradients":
        return "ig"
    return ""


BUILDERS = {"accuracy": accuracy_table, "contrast": contrast_table, "ig_equivalence": ig_equivalence_table,
            "keep_remove": keep_remove_table, "split_ig": split_ig_table}


def paper_tables(df: pd.DataFrame) -> dict[str, tuple[str, pd.DataFrame, str]]:
    """Every paper-shaped table this run has rows for, keyed by a file stem."""
    out = {}
    for key, build in BUILDERS.items():
        res = build(df)
        if res is not None and not res[1].empty:
            out[key] = res
    return out

