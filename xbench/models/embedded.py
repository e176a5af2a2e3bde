"""Models for the embedded (offline) datasets: trained on first use, cached by config hash."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..cache import atomic_torch_save, cache_dir, config_key
from ..rundir import atomic_write_text
from .checkpoints import load_weights
from .training import TrainRecipe, accuracy, train_classifier

log = logging.getLogger(__name__)


def trained_or_cached(name: str, build: Callable[[], nn.Module], config: dict[str, Any],
                      train_fn: Callable[[nn.Module], dict], device: str | torch.device = "cpu",
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
    atomic_write_text(path.with_suffix(".json"), json.dumps({"name": name, "config": config, **meta}, indent=1,
                                                            default=str))
    return model.eval()


def embedded_model(name: str, build: Callable[[], nn.Module], *, weights: str | None, x: bool, data: str,
                   data_params: dict[str, Any], recipe: TrainRecipe, config: dict[str, Any],
                   device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
    """The factory body shared by the embedded models.

    ``weights``: ``"trained"`` (train on ``data`` with ``recipe`` or load from the cache), None
    (random init, seeded) or a checkpoint path.  Returns the model (not yet in eval mode).
    """
    if weights is None:
        return build()
    if weights != "trained":
        return load_weights(build(), weights)
    from ..data import create as create_data

    def train(model: nn.Module) -> dict:
        train_ds = create_data(data, "train", **data_params).dataset
        test_ds = create_data(data, "test", **data_params).dataset
        hist = train_classifier(model, train_ds, test_ds, recipe, device=device, progress=progress,
                                desc=f"training {name}{' (x)' if x else ''}")
        return {"history": hist, "test_accuracy": accuracy(model, test_ds, device=device)}

    full = {"x": x, "data": data, "data_params": data_params, "recipe": recipe.__dict__, **config}
    return trained_or_cached(name, build, full, train, device=device, progress=progress)
