"""Fixtures for the method tests: small models, digits inputs, and a private model cache.

The digits models train once (~8 s each) into ``$XBENCH_CACHE`` (default here:
/tmp/xbench-cache-methods) so that the tests never write into the user's cache.
"""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

CACHE = os.environ.get("XBENCH_METHODS_TEST_CACHE", "/tmp/xbench-cache-methods")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a test that takes more than a few seconds")


@pytest.fixture(scope="session", autouse=True)
def _quiet_machine():
    """Private model cache and one intra-op thread.

    On a shared CPU, torch's default two OpenMP threads wait on each other under load (a tiny
    backward took 46 ms instead of 1 ms), so the tests run single-threaded.
    """
    old_env, old_threads = os.environ.get("XBENCH_CACHE"), torch.get_num_threads()
    os.environ["XBENCH_CACHE"] = CACHE
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old_threads)
    if old_env is None:
        os.environ.pop("XBENCH_CACHE", None)
    else:
        os.environ["XBENCH_CACHE"] = old_env


def small_cnn(bias: bool = True, channels: int = 3, classes: int = 3, seed: int = 0) -> nn.Module:
    """conv-ReLU-maxpool-conv-ReLU-fc on 8x8 inputs: milliseconds per pass, nonlinear enough to matter."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(channels, 6, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1, bias=bias), nn.ReLU(), nn.Flatten(),
        nn.Linear(8 * 4 * 4, classes, bias=bias),
    ).eval()


@pytest.fixture
def cnn() -> nn.Module:
    return small_cnn(bias=True)


@pytest.fixture
def xcnn() -> nn.Module:
    return small_cnn(bias=False)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Five 3x8x8 inputs (standard normal, like normalised images) and their targets."""
    gen = torch.Generator().manual_seed(1)
    return torch.randn(5, 3, 8, 8, generator=gen), torch.tensor([0, 1, 2, 0, 1])


@pytest.fixture
def references() -> torch.Tensor:
    return torch.randn(40, 3, 8, 8, generator=torch.Generator().manual_seed(2))
