"""The results store: one tidy schema, atomic per-part writes, the merged ``results.csv``, the manifest.

A run directory holds ``parts/<model>/<method>/<metric>/b<batch>.csv`` (one file per model x
method x metric x batch, written atomically: its existence means that unit is done),
``results.csv`` (all parts merged in suite order), ``manifest.json`` and the report files.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import torch

COLUMNS = [
    "suite", "model", "method", "metric", "stat", "kind", "sample", "point", "x", "value", "flag",
    "model_params", "method_params", "metric_params", "target", "device", "dtype", "batch_size", "batch",
    "chunk_size", "seed",
]
"""Every row: which cell (model, method, metric, stat), which sample (or batch) and curve point,
the value, a flag for nan/inf, and every setting that produced it (JSON for parameter dicts)."""

KINDS = ("sample", "curve", "batch")


def safe_name(label: str) -> str:
    """A file-system-safe folder name for a label (labels like ``split_ig[ratio=0.95]`` stay readable)."""
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "x"
    if clean != label:
        clean += "-" + hashlib.sha1(label.encode()).hexdigest()[:6]
    return clean


def to_json(obj: Any) -> str:
    """Compact, sorted JSON; tensors become a short description (never their values)."""

    def default(o: Any) -> Any:
        if isinstance(o, torch.Tensor):
            return f"<tensor {tuple(o.shape)}>"
        return str(o)

    return json.dumps(obj, sort_keys=True, default=default, separators=(",", ":"))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a DataFrame as CSV atomically (full float precision, so a merge loses nothing)."""
    atomic_write_text(path, df.to_csv(index=False, float_format="%.9g"))


def flag_of(value: float) -> str:
    """'' for a finite value, 'nan' or 'inf' otherwise: such values are kept and flagged, never dropped."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    return ""


def output_rows(output, common: dict[str, Any], sample_ids: list[int]) -> list[dict[str, Any]]:
    """Turn a :class:`~xbench.metrics.base.MetricOutput` for one batch into tidy rows."""
    rows: list[dict[str, Any]] = []

    def add(stat: str, kind: str, sample: int, point: int, x: float, value: float) -> None:
        rows.append({**common, "stat": stat, "kind": kind, "sample": sample, "point": point, "x": x,
                     "value": value, "flag": flag_of(value)})

    for stat, vals in output.values.items():
        for sid, v in zip(sample_ids, vals.detach().double().cpu().tolist()):
            add(stat, "sample", sid, -1, float("nan"), v)
    for stat, (xs, ys) in output.curves.items():
        xl = xs.detach().double().cpu().tolist()
        for sid, curve in zip(sample_ids, ys.detach().double().cpu().tolist()):
            for j, (xv, v) in enumerate(zip(xl, curve)):
                add(stat, "curve", sid, j, xv, v)
    for stat, v in output.batch_values.items():
        add(stat, "batch", -1, -1, float("nan"), float(v))
    return rows


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A DataFrame with exactly :data:`COLUMNS`, in that order."""
    return pd.DataFrame(rows, columns=COLUMNS)


def results_path(run_dir: str | Path) -> Path:
    """``results.csv`` of a run directory, or ``results.csv.gz`` (how committed reference runs store it)."""
    p = Path(run_dir) / "results.csv"
    gz = p.with_name("results.csv.gz")
    return gz if not p.exists() and gz.exists() else p


def read_results(run_dir: str | Path) -> pd.DataFrame:
    """Read the tidy results of a run directory (flags as strings, never parsed as NaN)."""
    return pd.read_csv(results_path(run_dir), keep_default_na=False,
                       na_values={"value": ["nan", "NaN", ""], "x": ["nan", "NaN", ""]},
                       dtype={"flag": str, "model": str, "method": str, "metric": str, "stat": str})


def write_json(path: Path, obj: Any) -> None:
    """Atomic, indented JSON (non-JSON values stringified)."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")
