"""A small finished run shared by the page tests (both digits models, a random baseline so it has a verdict)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xbench.runner import run_suite
from xbench.suite import parse_suite

SMALL_SUITE = {
    "name": "page_run",
    "seed": 0,
    "device": "cpu",
    "data": {"name": "digits", "split": "test", "n_samples": 8, "batch_size": 4},
    "models": [{"name": "digits_cnn"}, {"name": "digits_cnn", "x": True}],
    "methods": ["saliency", {"name": "integrated_gradients", "n_steps": 4}, "random"],
    "metrics": [{"name": "deletion", "steps": 8}, {"name": "insertion", "steps": 8}],
}


@pytest.fixture(scope="session")
def page_run(tmp_path_factory) -> Path:
    """A run directory written by ``xbench run`` (its report included: index.md, index.html, plots/maps)."""
    out = tmp_path_factory.mktemp("page") / "page_run"
    run_suite(parse_suite(SMALL_SUITE), out, progress=False, echo=None)
    return out
