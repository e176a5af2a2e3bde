"""The per-sample values a verdict is computed from, read from a run's tidy results.

Only ``kind == "sample"`` rows of a method count (one value per sample and stat): model-only metrics
(method ``-``), a method's own diagnostics (``_info``), per-batch figures (timing) and curve points are not
per-sample comparisons of methods.  Each (metric label, stat) is one *criterion*; its direction
(``higher``/``lower`` is better, or None for a descriptive stat) comes from the metric registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..metrics.base import stat_direction
from ..results import with_metric_name

MODEL_ONLY = "-"
INFO = "_info"
RANDOM = "random"  # the registered name of the model-independent floor method


@dataclass
class Cube:
    """One model's per-sample values: ``values[method, criterion, sample]`` (float64, NaN where missing)."""

    model: str
    methods: list[str]
    criteria: list[tuple[str, str]]  # (metric label, stat)
    metric_names: list[str]  # the registered name of each criterion's metric
    directions: list[str | None]  # "higher" / "lower" / None (descriptive or unregistered)
    samples: np.ndarray  # sample ids, sorted
    values: np.ndarray  # [methods, criteria, samples]
    random: str | None  # the label of the model's `random` method, None when the suite has none

    def labels(self) -> list[str]:
        """``metric.stat`` of every criterion (``metric`` alone when the stat repeats the label)."""
        return [m if s == m else f"{m}.{s}" for m, s in self.criteria]

    def directed(self) -> list[int]:
        """Indices of the criteria with a declared direction (the ones a ranking can use)."""
        return [i for i, d in enumerate(self.directions) if d in ("higher", "lower")]

    def oriented(self) -> np.ndarray:
        """``values`` signed so that larger is better on every directed criterion (descriptive ones: NaN)."""
        sign = np.array([{"higher": 1.0, "lower": -1.0}.get(d or "", np.nan) for d in self.directions])
        return self.values * sign[None, :, None]


def per_sample(df: pd.DataFrame) -> pd.DataFrame:
    """The rows a verdict reads: per-sample values of attribution methods, with ``metric_name`` filled."""
    keep = (df["kind"] == "sample") & (df["method"] != MODEL_ONLY) & (df["metric"] != INFO)
    out = with_metric_name(df[keep])
    return out[["model", "method", "method_params", "metric", "metric_name", "stat", "sample", "value"]]


def random_label(rows: pd.DataFrame) -> str | None:
    """The method label of a model's `random` method: the label ``random`` when present, else the first
    method whose recorded parameters name the registered ``random`` method; None when there is none."""
    labels = list(dict.fromkeys(rows["method"]))
    if RANDOM in labels:
        return RANDOM
    for label, params in rows.drop_duplicates("method")[["method", "method_params"]].itertuples(index=False):
        try:
            if json.loads(params).get("name") == RANDOM:
                return str(label)
        except (TypeError, ValueError, AttributeError):
            continue
    return None


def cubes(df: pd.DataFrame) -> list[Cube]:
    """One :class:`Cube` per model of the results (suite order), duplicate (sample, value) rows averaged."""
    rows = per_sample(df)
    out = []
    for model, g in rows.groupby("model", sort=False):
        methods = list(dict.fromkeys(g["method"]))
        criteria = list(dict.fromkeys(zip(g["metric"], g["stat"])))
        names = dict(zip(zip(g["metric"], g["stat"]), g["metric_name"]))
        samples = np.sort(g["sample"].unique())
        table = g.pivot_table(index=["method", "metric", "stat"], columns="sample", values="value",
                              aggfunc="mean", dropna=False)
        index = pd.MultiIndex.from_tuples([(m, c, s) for m in methods for c, s in criteria])
        values = table.reindex(index=index, columns=samples).to_numpy(dtype=np.float64, copy=True)
        values = values.reshape(len(methods), len(criteria), len(samples))
        values[~np.isfinite(values)] = np.nan  # inf is as unusable as a missing value in a paired comparison
        out.append(Cube(model=str(model), methods=methods, criteria=criteria,
                        metric_names=[names[c] for c in criteria],
                        directions=[stat_direction(names[c], c[1]) for c in criteria],
                        samples=samples, values=values, random=random_label(g)))
    return out
