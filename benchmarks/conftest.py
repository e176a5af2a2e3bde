"""Benchmarks run only under ``pytest --benchmark-only``; a plain ``pytest`` lists them as skipped."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    if config.getoption("benchmark_only", default=False):
        return
    skip = pytest.mark.skip(reason="timing benchmark: run with pytest --benchmark-only")
    for item in items:
        if "benchmarks" in item.path.parts:
            item.add_marker(skip)
