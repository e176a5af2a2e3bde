"""Tiny models with known outputs for the metric tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from xbench.models.digits import DigitsCNN


class Linear(nn.Module):
    """F_k(x) = sum_i W[k, i] x_i (bias-free, so F(0) = 0): every metric has a closed form on it."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight.double().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.t()


class ClampSum(nn.Module):
    """F_0(x) = sum_i min(x_i, 1) = sum_i x_i - ReLU(x_i - 1), F_1 = -F_0: flat (zero gradient) above 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = (x - torch.relu(x - 1)).flatten(1).sum(1)
        return torch.stack([f, -f], dim=1)


@pytest.fixture
def cnn() -> nn.Module:
    """A random-init ReLU CNN with biases on 1 x 8 x 8 inputs (seeded)."""
    torch.manual_seed(0)
    return DigitsCNN(num_classes=4, size=8).eval()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """7 images (a prime: no chunk size divides it) of 1 x 8 x 8 and their targets."""
    gen = torch.Generator().manual_seed(1)
    return torch.randn(7, 1, 8, 8, generator=gen), torch.tensor([0, 1, 2, 3, 0, 1, 2])
