"""Data tests read only what they build in tmp_path; nothing may download or write to the user's caches."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    for var, sub in (("XBENCH_CACHE", "cache"), ("TORCH_HOME", "torch")):
        monkeypatch.setenv(var, str(tmp_path / sub))
