"""Models for the embedded (offline) datasets: trained on first use, cached by config hash.

Training is reproducible: on the CPU (whatever device the run uses) with one thread and deterministic
kernels (:func:`xbench.models.training.reproducible`), so the same config gives the same weights, bit for
bit, on any core count, and the cache (keyed by config, not by machine) never mixes two trainings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..cache import atomic_torch_save, cache_dir, config_key
from ..provenance import record_weights
from ..rundir import atomic_write_text
from .checkpoints import load_weights
from .training import TrainRecipe, accuracy, reproducible, train_classifier

log = logging.getLogger(__name__)

REPRODUCIBLE = "cpu1det"
"""Part of every cache key: training on the CPU, one thread, deterministic kernels (see the module docstring)."""


def cache_path(name: str, config: dict[str, Any]) -> Path:
    """Where :func:`trained_or_cached` keeps ``name`` with ``config`` (``.pt``; its sidecar is ``.json`` beside it)."""
    # "training": models cached before training was made reproducible are not picked up again
    return cache_dir() / "models" / f"{name}-{config_key({'name': name, 'training': REPRODUCIBLE, **config})}.pt"


def trained_or_cached(name: str, build: Callable[[], nn.Module], config: dict[str, Any],
                      train_fn: Callable[[nn.Module], dict]) -> nn.Module:
    """Load ``name`` with ``config`` from the cache, or build, train (``train_fn(model)``) and cache it.

    The cache file is keyed by a hash of ``config``; a sidecar JSON records config and accuracy.  ``train_fn``
    runs inside :func:`~xbench.models.training.reproducible`: one thread, deterministic kernels.
    """
    path = cache_path(name, config)
    model = build()
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        record_weights(path, "cache", path.name)
        return model.eval()
    log.info("training %s; cached at %s", name, path)
    with reproducible():
        meta = train_fn(model)
    model.cpu()
    atomic_torch_save(model.state_dict(), path)
    atomic_write_text(path.with_suffix(".json"), json.dumps({"name": name, "config": config, **meta}, indent=1,
                                                            default=str))
    record_weights(path, "trained", path.name)
    return model.eval()


def embedded_model(name: str, build: Callable[[], nn.Module], *, weights: str | None, x: bool, data: str,
                   data_params: dict[str, Any], recipe: TrainRecipe, config: dict[str, Any],
                   device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
    """The factory body shared by the embedded models.

    ``weights``: ``"trained"`` (train on ``data`` with ``recipe`` on the CPU, or load from the cache), None
    (random init, seeded) or a checkpoint path.  Returns the model on the CPU (not yet in eval mode);
    ``device`` is accepted for the factories' common signature and not used: training on a GPU would give
    other weights under the same cache key.
    """
    if weights is None:
        return build()
    if weights != "trained":
        return load_weights(build(), weights)
    from ..data import create as create_data

    def train(model: nn.Module) -> dict:
        train_ds = create_data(data, "train", **data_params).dataset
        test_ds = create_data(data, "test", **data_params).dataset
        hist = train_classifier(model, train_ds, test_ds, recipe, device="cpu", progress=progress,
                                desc=f"training {name}{' (x)' if x else ''}")
        return {"history": hist, "test_accuracy": accuracy(model, test_ds)}

    full = {"x": x, "data": data, "data_params": data_params, "recipe": recipe.__dict__, **config}
    return trained_or_cached(name, build, full, train)
