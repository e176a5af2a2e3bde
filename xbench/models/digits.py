"""``digits_cnn``: a small ReLU CNN for the embedded digits data, trained on first use and cached."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..cache import atomic_torch_save, cache_dir, config_key
from .base import MODELS
from .training import TrainRecipe, accuracy, train_classifier

log = logging.getLogger(__name__)

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


def trained_or_cached(name: str, build, config: dict[str, Any], train_fn, device: str | torch.device = "cpu",
                      progress: bool = False) -> nn.Module:
    """Load ``name`` with ``config`` from the cache, or build, train (``train_fn(model)``) and cache it.

    The cache file is keyed by a hash of ``config``; a sidecar JSON records config and accuracy.
    """
    key = config_key({"name": name, **config})
    path = cache_dir() / "models" / f"{name}-{key}.pt"
    model = build()
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return model.eval()
    log.info("training %s (config %s); cached at %s", name, key, path)
    meta = train_fn(model)
    model.cpu()
    atomic_torch_save(model.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps({"name": name, "config": config, **meta}, indent=1, default=str))
    return model.eval()


def load_weights(model: nn.Module, weights: str | Path) -> nn.Module:
    """Load a state dict or a checkpoint dict (``state_dict`` / ``model`` key, ``module.`` prefix stripped)."""
    from .checkpoints import load_state_dict_file

    model.load_state_dict(load_state_dict_file(weights))
    return model


@MODELS.register("digits_cnn", description="Small ReLU CNN for the embedded digits data (trained on first use, cached)",
                 input_size=32, dataset="digits")
def digits_cnn(*, x: bool = False, num_classes: int = 10, weights: str | None = "trained", size: int = 32,
               device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
    """``weights``: ``"trained"`` (train on digits or load from the cache), None (random init) or a checkpoint path."""

    def build() -> nn.Module:
        torch.manual_seed(DIGITS_RECIPE.seed)
        return DigitsCNN(num_classes=num_classes, size=size, bias=not x)

    if weights is None:
        return build()
    if weights != "trained":
        return load_weights(build(), weights)
    from ..data import create as create_data

    def train(model: nn.Module) -> dict:
        train_ds = create_data("digits", "train", size=size).dataset
        test_ds = create_data("digits", "test", size=size).dataset
        hist = train_classifier(model, train_ds, test_ds, DIGITS_RECIPE, device=device, progress=progress,
                                desc=f"training digits_cnn{' (x)' if x else ''}")
        return {"history": hist, "test_accuracy": accuracy(model, test_ds, device=device)}

    config = {"x": x, "num_classes": num_classes, "size": size, "recipe": DIGITS_RECIPE.__dict__, "v": 1}
    return trained_or_cached("digits_cnn", build, config, train, device=device, progress=progress)
