"""``digits_cnn``: a small ReLU CNN for the embedded digits data, trained on first use and cached."""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS
from .embedded import embedded_model
from .training import TrainRecipe

DIGITS_RECIPE = TrainRecipe(epochs=12, lr=3e-3, batch_size=64, seed=0)
"""Same recipe for the regular and the X-variant: both pass 95% test accuracy with it."""


class DigitsCNN(nn.Module):
    """conv3x3(w)-ReLU-pool-conv3x3(2w)-ReLU-pool-fc(4w)-ReLU-fc(classes); ``bias=False``: the X-variant.

    ``width`` w = 16 by default: ~1.5 M multiply-adds per 32x32 image, so a path method's thousands
    of passes per image stay cheap on a laptop CPU while both variants still pass 95% test accuracy.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, size: int = 32, bias: bool = True,
                 width: int = 16):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * w * (size // 4) ** 2, 4 * w, bias=bias), nn.ReLU(),
            nn.Linear(4 * w, num_classes, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@MODELS.register("digits_cnn", description="Small ReLU CNN for the embedded digits data (trained on first use, cached)",
                 input_size=32, dataset="digits")
def digits_cnn(*, x: bool = False, num_classes: int = 10, weights: str | None = "trained", size: int = 32,
               width: int = 16, device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
    """``weights``: ``"trained"`` (train on digits or load from the cache), None (random init) or a checkpoint path."""

    def build() -> nn.Module:
        torch.manual_seed(DIGITS_RECIPE.seed)
        return DigitsCNN(num_classes=num_classes, size=size, bias=not x, width=width)

    config = {"num_classes": num_classes, "size": size, "width": width, "v": 3}
    return embedded_model("digits_cnn", build, weights=weights, x=x, data="digits", data_params={"size": size},
                          recipe=DIGITS_RECIPE, config=config, device=device, progress=progress)
