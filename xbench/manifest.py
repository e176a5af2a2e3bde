"""A run's ``manifest.json``: what produced its results, for ``xbench run`` and ``xbench train-prior`` alike.

The common part (resolved suite and its hash, versions, git commit, start and finish times, invocation
count, wall time) comes from the run directory's stamp and :mod:`xbench.provenance`; each pipeline adds
its own fields (device, workers, cell times, ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .provenance import git_commit, now, versions
from .rundir import RunDir

TIMES_GLOB = "times.rank*.json"


def hash_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of the file at ``path``, read in 1 MiB chunks (a model file may be gigabytes)."""
    import hashlib

    h = hashlib.sha256()
    with open(Path(path).expanduser(), "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def model_files(models: list[Any]) -> dict[str, dict[str, str]]:
    """``{"models[i].path": {"path", "sha256"}}`` for every user model file a suite names (a ``file`` model's
    archive, a ``python`` model's ``weights``): the run records what it evaluated, not only where it was."""
    out: dict[str, dict[str, str]] = {}
    for i, m in enumerate(models):
        for key, value in (("path", m.params.get("path")), ("weights", m.weights if m.name == "python" else None)):
            if isinstance(value, str) and Path(value).expanduser().is_file():
                out[f"models[{i}].{key}"] = {"path": value, "sha256": hash_file(value)}
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
