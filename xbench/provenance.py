"""Provenance of a result: seeds that are the same in every process, package versions, device, git commit.

Used by the runner, the priors pipeline and the benchmarks alike, so none of them imports another's
orchestration code to stamp its results.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from . import __version__


def stable_seed(*parts: Any) -> int:
    """A 31-bit seed from any values, the same in every process (unlike ``hash``)."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def git_commit() -> str | None:
    """The commit of the xbench checkout (40 hex digits), or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except Exception:  # noqa: BLE001 - no git, no commit: the manifest says null
        return None


def versions() -> dict[str, str]:
    """Versions of Python and the packages whose behaviour a result depends on."""
    out = {"python": platform.python_version(), "xbench": __version__, "torch": torch.__version__}
    for mod in ("torchvision", "captum", "numpy", "pandas"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            out[mod] = "missing"
    return out


def device_name(device: torch.device) -> str:
    """A human-readable name of ``device``: the GPU model, or the CPU with its core and thread counts."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return (f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads)")


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of the file's bytes (64 hex digits), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def files_sha256(paths: list[str | Path]) -> dict[str, str]:
    """``{path as given: SHA-256}`` of each file (see :func:`file_sha256`)."""
    return {str(p): file_sha256(p) for p in paths}


_WEIGHTS: ContextVar[list[dict[str, str]] | None] = ContextVar("xbench_weight_files", default=None)


def record_weights(path: str | Path, source: str, name: str | None = None) -> None:
    """Note that a model's weights came from the file ``path`` (hashed now), inside :func:`recording_weights`.

    ``source``: how (``trained`` and cached by this call, ``cache``, ``checkpoint``, ``torch hub``,
    ``model file``); ``name``: the file as the record shows it (default ``path`` as given; a cache file is
    shown by its name, its folder differs per machine).  Outside a recording it does nothing.
    """
    log = _WEIGHTS.get()
    if log is not None:
        entry = {"file": name or str(path), "source": source, "sha256": file_sha256(path)}
        if entry not in log:
            log.append(entry)


@contextmanager
def recording_weights() -> Iterator[list[dict[str, str]]]:
    """Collects the :func:`record_weights` calls made inside into the list it yields (file, source, sha256)."""
    log: list[dict[str, str]] = []
    token = _WEIGHTS.set(log)
    try:
        yield log
    finally:
        _WEIGHTS.reset(token)
