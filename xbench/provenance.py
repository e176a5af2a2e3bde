"""Provenance of a result: seeds that are the same in every process, package versions, device, git commit.

Used by the runner, the priors pipeline and the benchmarks alike, so none of them imports another's
orchestration code to stamp its results.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
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
