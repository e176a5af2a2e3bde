"""``digits_cnn``: a small ReLU CNN for the embedded digits data, trained on first use and cached."""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS
from .embedded import embedded_model
from .training import TrainRecipe

DIGITS_RECIPE = TrainRecipe(epochs=8, lr=2e-3, batch_size=64, seed=0)
"""Same recipe for the regular and the X-variant: both pass 95% test accuracy with it."""


class DigitsCNN(nn.Module):
    """conv3x3(32)-ReLU-pool-conv3x3(64)-ReLU-pool-fc(128)-ReLU-fc(classes); ``bias=False``: the X-variant."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, size: int = 32, bias: bool = True):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 128, bias=bias), nn.ReLU(),
            nn.Linear(128, num_classes, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@MODELS.register("digits_cnn", description="Small ReLU CNN for the embedded digits data (trained on first use, cached)",
                 input_size=32, dataset="digits")
def digits_cnn(*, x: bool = False, num_classes: int = 10, weights: str | None = "trained", size: int = 32,
               device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
    """``weights``: ``"trained"`` (train on digits or load from the cache), None (random init) or a checkpoint path."""

    def build() -> nn.Module:
        torch.manual_seed(DIGITS_RECIPE.seed)
        return DigitsCNN(num_classes=num_classes, size=size, bias=not x)

    config = {"num_classes": num_classes, "size": size, "v": 2}
    return embedded_model("digits_cnn", build, weights=weights, x=x, data="digits", data_params={"size": size},
                          recipe=DIGITS_RECIPE, config=config, device=device, progress=progress)
