"""A run's ``manifest.json``: what produced its results, for ``xbench run`` and ``xbench train-prior`` alike.

The common part (resolved suite and its hash, versions, git commit, start and finish times, invocation
count, wall time) comes from the run directory's stamp and :mod:`xbench.provenance`; each pipeline adds
its own fields (device, workers, cell times, ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .provenance import file_sha256, git_commit, now, versions
from .rundir import RunDir

TIMES_GLOB = "times.rank*.json"
WEIGHTS_GLOB = "weights.rank*.json"


def model_files(models: list[Any]) -> dict[str, dict[str, str]]:
    """``{"models[i].<field>": {"path", "sha256"}}`` for every user model file a suite names (a ``file`` model's
    archive, a ``python`` model's ``weights`` file and its factory module when it lies in its ``search_path``): the run
    records what it evaluated, not only where it was."""
    from .models.user import _local_module

    out: dict[str, dict[str, str]] = {}
    for i, m in enumerate(models):
        weights = m.weights if m.name == "python" else None
        if isinstance(weights, dict):
            weights = weights.get("path")
        factory = m.params.get("factory") if m.name == "python" else None
        module = (_local_module(factory.split(":")[0], m.params.get("search_path"))
                  if isinstance(factory, str) and ":" in factory else None)
        for key, value in (("path", m.params.get("path")), ("weights", weights),
                           ("factory", str(module) if module else None)):
            if isinstance(value, str) and Path(value).expanduser().is_file():
                out[f"models[{i}].{key}"] = {"path": value, "sha256": file_sha256(value)}
    return out


def manifest(rd: RunDir, settings: dict[str, Any], wall: float, **fields: Any) -> dict[str, Any]:
    """The manifest of the run in ``rd`` (opened with ``settings``): common fields, then ``fields``.

    ``wall``: seconds this invocation took; ``invocations`` counts every start, killed ones too."""
    stamp = rd.stamp
    return {
        "suite": settings, "suite_hash": stamp.get("settings_hash"), "versions": versions(),
        "git_commit": git_commit(), "started": stamp.get("started"), "finished": now(),
        "invocations": stamp.get("invocations", 1), "wall_seconds_this_invocation": round(wall, 3), **fields,
    }


def write_manifest(rd: RunDir, settings: dict[str, Any], wall: float, **fields: Any) -> dict[str, Any]:
    """Write :func:`manifest` to ``manifest.json`` in the run directory (atomic); returns it."""
    out = manifest(rd, settings, wall, **fields)
    rd.write_json(rd.path / "manifest.json", out)
    return out


def cell_seconds(parts: Path) -> dict[str, float]:
    """Seconds per cell key summed over the ranks' ``times.rank<r>.json`` files in ``parts`` (4 decimals)."""
    times: dict[str, float] = {}
    for f in sorted(Path(parts).glob(TIMES_GLOB)):
        for k, v in json.loads(f.read_text()).items():
            times[k] = times.get(k, 0.0) + v
    return {k: round(v, 4) for k, v in times.items()}


def add_weight_records(into: dict[str, list[dict[str, str]]], new: dict[str, list[dict[str, str]]]) -> None:
    """Add ``new``'s entries (model label -> files) to ``into``, each distinct entry once, in order."""
    for label, entries in new.items():
        known = into.setdefault(label, [])
        known.extend(e for e in entries if e not in known)


def weight_files(parts: Path, glob: str = WEIGHTS_GLOB) -> dict[str, list[dict[str, str]]]:
    """Model label -> the weight files (file, source, sha256) its model was made from, over every rank's
    ``weights.rank<r>.json`` in ``parts`` and every invocation; an empty list: no file (random init)."""
    out: dict[str, list[dict[str, str]]] = {}
    for f in sorted(Path(parts).glob(glob)):
        add_weight_records(out, json.loads(f.read_text()))
    return out
