"""Shared fixtures: an isolated model cache, tiny suites, and helpers to run them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


# Trained embedded models are cached across test sessions in one folder (a fresh machine trains each
# once, ~10 s): $XBENCH_TEST_CACHE, else a test folder beside the user cache (never the user's own xbench
# cache, never inside the checkout: running the tests leaves the working tree as it was).
def model_cache_for(env: dict[str, str]) -> Path:
    """Where the test session keeps trained models, given the environment ``env``."""
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(env.get("XBENCH_TEST_CACHE") or Path(base) / "xbench-tests" / "models")


SESSION_CACHE = model_cache_for(dict(os.environ))
os.environ["XBENCH_CACHE"] = str(SESSION_CACHE)
torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (deselect with -m 'not slow')")


@pytest.fixture
def tiny_suite() -> dict:
    """A small but complete suite mapping (both digits models, cheap methods and metrics)."""
    return {
        "name": "tiny",
        "seed": 0,
        "device": "cpu",
        "data": {"name": "digits", "split": "test", "n_samples": 12, "batch_size": 5},
        "models": [{"name": "digits_cnn"}, {"name": "digits_cnn", "x": True}],
        "methods": ["saliency", {"name": "integrated_gradients", "n_steps": 8}, "x_gradient", "random"],
        "metrics": ["completeness", {"name": "deletion", "steps": 8}, {"name": "insertion", "steps": 8}],
    }


@pytest.fixture
def tiny_linear() -> torch.nn.Module:
    """A bias-free linear classifier on 1x4x4 inputs: homogeneous, gradients known in closed form."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3, bias=False))
    return m.eval()
