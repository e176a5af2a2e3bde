"""What the report knows about a metric, read from the metric registry (never a second copy).

Each row of ``results.csv`` names the metric it was produced by in ``metric_name`` (the label in
``metric`` may differ: a suite may list one metric twice with different settings); everything else
(direction, axis labels, per-stat labels) comes from what the metric declared at ``register(...)``.
"""

from __future__ import annotations

import pandas as pd

from ..metrics import METRICS
from ..metrics.base import arrow, stat_direction
from ..results import with_metric_name

__all__ = ["applies", "applies_mask", "arrow", "legend", "labels_of", "metric_names", "stat_direction", "x_axis",
           "y_axis"]

CLAIMED_BY_METHOD = {"completeness": "completeness"}
"""Metrics that test a property only some methods claim: metric name -> the method's declaration that says so."""


def applies(metric_name: str, method_params_json: str) -> bool:
    """Whether ``metric_name`` applies to the method of a result row (``method_params`` JSON, with its
    ``name``): False for completeness of a method that declared no completeness claim.  True where the
    row names no registered method (the model-only rows, an unloaded plugin)."""
    import json

    from ..methods import METHODS
    from ..methods.base import declared

    claim = CLAIMED_BY_METHOD.get(metric_name)
    if claim is None:
        return True
    try:
        params = json.loads(method_params_json or "{}")
    except (TypeError, ValueError):
        return True
    name = params.pop("name", None) if isinstance(params, dict) else None
    if name not in METHODS:
        return True
    return declared(name, claim, params)


def metric_names(df: pd.DataFrame) -> pd.Series:
    """The registered metric name of every row of ``df`` (results older than the column included)."""
    return with_metric_name(df)["metric_name"]


def labels_of(df: pd.DataFrame, name: str) -> list[str]:
    """Metric labels in the run whose registered name is ``name`` (labels may differ from names)."""
    return list(dict.fromkeys(df["metric"][metric_names(df) == name]))


def _meta(name: str) -> dict:
    return METRICS.get(name).meta if name in METRICS else {}


def x_axis(name: str) -> tuple[str, float]:
    """(x-axis label, factor to multiply x by) for the curves of metric ``name``."""
    meta = _meta(name)
    return meta.get("x_label", "x"), float(meta.get("x_scale", 1))


def y_axis(name: str, stat: str = "", params_json: str = "") -> str:
    """The y-axis label of metric ``name``'s values (a per-stat label where the metric declares one)."""
    meta = _meta(name)
    if stat in meta.get("stat_labels", {}):
        return meta["stat_labels"][stat]
    if '"output":"logit"' in (params_json or ""):  # the run's own setting: scores are logits, not probabilities
        return "target logit"
    return meta.get("label", "score")


def applies_mask(df: pd.DataFrame) -> pd.Series:
    """:func:`applies` for every row of ``df`` (with ``metric_name`` and ``method_params``), read once per
    distinct pair: a run holds hundreds of thousands of rows but a few dozen (metric, method settings)."""
    pairs = list(zip(df["metric_name"], df["method_params"]))
    known = {pair: applies(*pair) for pair in set(pairs)}
    return pd.Series([known[pair] for pair in pairs], index=df.index, dtype=bool)


def legend(names: list[str]) -> pd.DataFrame:
    """One row per registered metric in ``names``: what its values are (``label``), their ``units`` and which
    way is better, as the metric declared them at ``register(...)`` (the key under the summary table)."""
    rows = []
    for name in dict.fromkeys(names):
        meta = _meta(name)
        if not meta:
            continue
        better = {"higher": "higher ↑", "lower": "lower ↓", "per_stat": "per stat", "none": "descriptive"}
        rows.append({"metric": name, "values": meta["label"], "units": meta["units"],
                     "better": better.get(meta["direction"], meta["direction"])})
    return pd.DataFrame(rows, columns=["metric", "values", "units", "better"])
