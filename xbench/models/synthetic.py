"""``synthetic_cnn``: a small all-convolutional ReLU network for the ``synthetic`` data, trained and cached.

Global max pooling makes it look for the pattern anywhere in the image, which is what the data
ask for; every layer is homogeneous, so ``x=True`` only drops the biases.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS
from .embedded import embedded_model
from .training import TrainRecipe

SYNTHETIC_RECIPE = TrainRecipe(epochs=3, lr=3e-3, batch_size=64, seed=0)
"""Same recipe for regular and X (both pass 95% test accuracy; see tests/models/test_embedded.py)."""


class SyntheticCNN(nn.Module):
    """conv3x3(c)-ReLU-pool-conv3x3(2c)-ReLU-conv3x3(2c)-ReLU-globalmax-fc(classes); ``bias=False``: X."""

    def __init__(self, num_classes: int = 4, in_channels: int = 3, width: int = 16, bias: bool = True):
        super().__init__()
        c = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c, 2 * c, 3, padding=1, bias=bias), nn.ReLU(),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1, bias=bias), nn.ReLU(),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        )
        self.classifier = nn.Linear(2 * c, num_classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@MODELS.register("synthetic_cnn", description="Small ReLU CNN for the synthetic pattern data (trained on first use, "
                 "cached)", input_size=32, dataset="synthetic", bounds={"width": (1, None)})
def synthetic_cnn(*, x: bool = False, num_classes: int = 4, weights: str | None = "trained", size: int = 32,
                  width: int = 16, device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
    """``weights``: ``"trained"`` (train on ``synthetic`` at ``size`` px or load from the cache), None
    (random init) or a checkpoint path.  The network takes any input size; it is trained at ``size``."""

    def build() -> nn.Module:
        torch.manual_seed(SYNTHETIC_RECIPE.seed)
        return SyntheticCNN(num_classes=num_classes, width=width, bias=not x)

    config = {"num_classes": num_classes, "size": size, "width": width, "v": 1}
    return embedded_model("synthetic_cnn", build, weights=weights, x=x, data="synthetic",
                          data_params={"size": size, "num_classes": num_classes}, recipe=SYNTHETIC_RECIPE,
                          config=config, device=device, progress=progress).to(device)
