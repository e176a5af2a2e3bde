"""The results store: one tidy schema, atomic per-part writes, the merged ``results.csv``, the manifest.

A run directory holds ``parts/model=<model>/method=<method>/metric=<metric>/b<batch>.csv`` (one file per model x
method x metric x batch, written atomically with a verifying header, see :mod:`xbench.rundir`),
``results.csv`` (all parts merged in suite order), ``manifest.json`` and the report files.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .rundir import atomic_write_text, csv_text, to_json  # noqa: F401 - re-exported: one writer

COLUMNS = [
    "suite", "model", "method", "metric", "metric_name", "stat", "kind", "sample", "point", "x", "value", "flag",
    "model_params", "method_params", "metric_params", "target", "device", "dtype", "batch_size", "batch",
    "chunk_size", "seed",
]
"""Every row: which cell (model, method, metric label, the metric's registered name, stat), which sample (or
batch) and curve point, the value, a flag for nan/inf, and every setting that produced it (JSON for parameter
dicts).  ``metric`` is the suite's label (a metric may appear twice with different settings), ``metric_name``
the registered name the report reads the metric's declared metadata by (``_info`` for method diagnostics)."""


def safe_name(label: str) -> str:
    """A file-system-safe folder name for a label (labels like ``split_ig[ratio=0.95]`` stay readable)."""
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "x"
    if set(clean) == {"."}:  # '.' and '..' would escape the folder
        clean = "x" + clean.replace(".", "_")
    if clean != label:
        clean += "-" + hashlib.sha1(label.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return clean


def atomic_write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a DataFrame as CSV atomically (full float precision, so a merge loses nothing)."""
    atomic_write_text(path, csv_text(df))


def output_rows(output, common: dict[str, Any], sample_ids: list[int]) -> pd.DataFrame:
    """Turn a :class:`~xbench.metrics.base.MetricOutput` for one batch into tidy rows (a DataFrame with
    :data:`COLUMNS`), built column-wise: one device-to-host copy per stat, no Python loop over samples."""
    ids = np.asarray(sample_ids, dtype=np.int64)
    parts: list[dict[str, Any]] = []

    def block(stat: str, kind: str, sample, point, x, value) -> None:
        value = np.asarray(value, dtype=np.float64).reshape(-1)
        parts.append({"stat": stat, "kind": kind, "sample": sample, "point": point, "x": x, "value": value})

    for stat, vals in output.values.items():
        block(stat, "sample", ids, -1, np.nan, vals.detach().double().cpu().numpy())
    for stat, (xs, ys) in output.curves.items():
        y = ys.detach().double().cpu().numpy()  # [N, T]
        t = y.shape[1]
        block(stat, "curve", np.repeat(ids, t), np.tile(np.arange(t), len(ids)),
              np.tile(xs.detach().double().cpu().numpy(), len(ids)), y)
    for stat, v in output.batch_values.items():
        block(stat, "batch", -1, -1, np.nan, [float(v)])
    frames = []
    for b in parts:
        n = len(b["value"])
        cols = {k: np.broadcast_to(np.asarray(v), (n,)) for k, v in b.items()}
        frames.append(pd.DataFrame({**{k: [v] * n for k, v in common.items()}, **cols}))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    value = df["value"].to_numpy(dtype=np.float64) if len(df) else np.zeros(0)
    df["flag"] = np.where(np.isnan(value), "nan", np.where(np.isinf(value), "inf", ""))
    return df.reindex(columns=COLUMNS)


def results_path(run_dir: str | Path) -> Path:
    """``results.csv`` of a run directory, or ``results.csv.gz`` (how committed reference runs store it)."""
    p = Path(run_dir) / "results.csv"
    gz = p.with_name("results.csv.gz")
    return gz if not p.exists() and gz.exists() else p


def read_results(run_dir: str | Path) -> pd.DataFrame:
    """Read the tidy results of a run directory (flags as strings, never parsed as NaN)."""
    df = pd.read_csv(results_path(run_dir), keep_default_na=False,
                     na_values={"value": ["nan", "NaN", ""], "x": ["nan", "NaN", ""]},
                     dtype={"flag": str, "model": str, "method": str, "metric": str, "metric_name": str, "stat": str})
    return with_metric_name(df)


def with_metric_name(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a filled ``metric_name`` column: as written, or, for results written before the column
    existed (committed reference runs, parts of an older run resumed), the ``name`` recorded in the row's
    ``metric_params`` JSON (the label when there is none).  The one place that reads the name from JSON."""
    have = df["metric_name"] if "metric_name" in df.columns else pd.Series("", index=df.index, dtype=object)
    missing = have.isna() | (have.astype(str) == "")
    if not missing.any():
        return df
    df = df.copy()
    params = df["metric_params"] if "metric_params" in df.columns else pd.Series("", index=df.index)
    legacy = {(p, m): _name_in(p, m) for p, m in set(zip(params[missing], df["metric"][missing]))}
    df["metric_name"] = [legacy[(p, m)] if miss else n
                         for p, m, n, miss in zip(params, df["metric"], have, missing)]
    return df


def _name_in(params_json: Any, label: str) -> str:
    try:
        name = json.loads(params_json).get("name")
    except (TypeError, ValueError, AttributeError):
        name = None
    return name if isinstance(name, str) and name else label


def write_json(path: Path, obj: Any) -> None:
    """Atomic, indented JSON (non-JSON values stringified)."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")
