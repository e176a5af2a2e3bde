"""Where xbench keeps trained models: ``$XBENCH_CACHE`` or the user cache dir, keyed by config hash."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .rundir import atomic_torch_save  # noqa: F401 - re-exported: one atomic writer


def cache_dir() -> Path:
    """The cache root: ``$XBENCH_CACHE``, else ``$XDG_CACHE_HOME/xbench``, else ``~/.cache/xbench``."""
    env = os.environ.get("XBENCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xbench"


def config_key(config: dict[str, Any]) -> str:
    """A short stable hash of a JSON-able config (sorted keys), 16 hex digits."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
