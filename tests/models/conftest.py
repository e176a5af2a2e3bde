"""Model tests never touch the user's caches or the network: private XBENCH_CACHE and TORCH_HOME, offline."""

from __future__ import annotations

import pytest
import torch


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a test that takes more than a few seconds")


@pytest.fixture(autouse=True)
def _private_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("XBENCH_CACHE", str(tmp_path / "xbench-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("XBENCH_OFFLINE", "1")  # a missing torchvision weight must fail, never download


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # On a shared CPU torch's OpenMP threads wait on each other; one thread is faster and steadier.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
