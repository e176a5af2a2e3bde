"""The verdict table: every model x method x metric x stat against the model's `random` method."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .stats import adjust, cles, effect_sign, mean_ci, paired_p
from .table import Cube

COLUMNS = ["model", "method", "metric", "stat", "n", "mean_diff", "ci_low", "ci_high", "p", "p_adjusted",
           "correction", "cles", "beats_random"]
"""verdict.csv's columns, in this order."""

EXCLUDED = "excluded"  # the ``correction`` of a row outside the family (why: in verdict.md)


def compare_cube(cube: Cube, test: str = "wilcoxon") -> pd.DataFrame:
    """Unadjusted rows for one model: paired differences of each method to ``cube.random`` per criterion.

    Extra columns (dropped before writing): ``direction``, ``sign`` (the test's direction of the
    difference) and ``in_family`` (a directed criterion, not random itself, a finite p).
    """
    if cube.random is None:
        return pd.DataFrame(columns=COLUMNS + ["direction", "sign", "in_family"])
    r = cube.methods.index(cube.random)
    rows = []
    for i, method in enumerate(cube.methods):
        for j, (metric, stat) in enumerate(cube.criteria):
            x, y = cube.values[i, j], cube.values[r, j]
            both = np.isfinite(x) & np.isfinite(y)
            d = x[both] - y[both]
            p = paired_p(d, test)
            mean, low, high = mean_ci(d)
            direction = cube.directions[j]
            rows.append({"model": cube.model, "method": method, "metric": metric, "stat": stat, "n": int(both.sum()),
                         "mean_diff": mean, "ci_low": low, "ci_high": high, "p": p, "cles": cles(d),
                         "direction": direction, "sign": effect_sign(d, test),
                         "in_family": direction is not None and i != r and np.isfinite(p)})
    return pd.DataFrame(rows)


def verdict_table(cubes: list[Cube], test: str = "wilcoxon", correction: str = "holm",
                  alpha: float = 0.05) -> pd.DataFrame:
    """verdict.csv's rows for every model, p corrected across the whole run's family at once.

    ``beats_random`` is ``true`` when the row is in the family, ``p_adjusted < alpha`` and both the mean
    difference and the test's own direction (Wilcoxon: R+ vs R-) point the better way of the metric;
    ``false`` otherwise; ``n/a`` for a row outside the family (no direction, random itself, no p).
    """
    frames = [f for f in (compare_cube(c, test) for c in cubes) if len(f)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    fam = df["in_family"].to_numpy(dtype=bool)
    adjusted = np.full(len(df), np.nan)
    adjusted[fam] = adjust(df["p"].to_numpy(dtype=np.float64)[fam], correction)
    df["p_adjusted"] = adjusted
    df["correction"] = np.where(fam, correction, EXCLUDED)
    better = df["direction"].map({"higher": 1.0, "lower": -1.0}).to_numpy(dtype=np.float64)
    wins = fam & (adjusted < alpha) & (np.sign(df["mean_diff"].to_numpy(dtype=np.float64)) == better) \
        & (df["sign"].to_numpy(dtype=np.float64) == better)
    df["beats_random"] = np.where(fam, np.where(wins, "true", "false"), "n/a")
    return df[COLUMNS + ["direction", "sign", "in_family"]]


def family_size(df: pd.DataFrame) -> int:
    """How many comparisons the correction was applied across."""
    return int((df["correction"] != EXCLUDED).sum()) if len(df) else 0
