"""The model registry: ``create(name, x=None, weights=None, num_classes=None, **params)``.

A factory ``fn(*, x, num_classes, weights, **params) -> nn.Module`` builds the regular model or
its bias-free X-variant (``x=True``) and loads ``weights`` (a name the factory knows, e.g.
``"trained"`` for embedded models, or a checkpoint path).  Models are returned in eval mode.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

from torch import nn

from ..registry import Registry

log = logging.getLogger(__name__)

MODELS = Registry("model", skip=0, hidden=("device", "progress"))


def create(name: str, x: bool | None = None, weights: Any = "default", num_classes: int | None = None,
           **params: Any) -> nn.Module:
    """Build the named model (eval mode). ``weights="default"`` takes the factory's default weights.

    ``x=None`` takes the factory's default (False, except for the x-named paper models).  When
    ``weights`` is a checkpoint written by :func:`xbench.models.recipes.train_model`, the ``x`` and
    model parameters it was trained with fill in whatever the caller did not give, so
    ``create(name, weights=path)`` rebuilds the trained architecture.
    """
    entry = MODELS.get(name)
    call = dict(params)
    accepts = set(inspect.signature(entry.fn).parameters)
    hidden = {k: call.pop(k) for k in ("device", "progress") if k in call}
    hidden = {k: v for k, v in hidden.items() if k in accepts}
    if isinstance(weights, Path):
        weights = str(weights)
    if isinstance(weights, str) and weights != "default" and Path(weights).expanduser().is_file():
        x, num_classes = _fill_from_checkpoint(name, entry, weights, call, x, num_classes)
    if x is not None:
        call["x"] = x
    if num_classes is not None:
        call["num_classes"] = num_classes
    if weights != "default":
        call["weights"] = weights
    resolved = entry.resolve(call, where=f"model({name})")
    model = entry.fn(**resolved, **hidden)
    return model.eval()


def _fill_from_checkpoint(name: str, entry: Any, weights: str, call: dict[str, Any], x: bool | None,
                          num_classes: int | None) -> tuple[bool | None, int | None]:
    """Copy an xbench checkpoint's model settings into ``call`` where the caller left them out."""
    from .checkpoints import checkpoint_config

    cfg = checkpoint_config(weights)
    if not cfg:
        return x, num_classes
    if cfg.get("model") not in (None, name):
        log.warning("weights '%s' were trained for model '%s', not '%s'", weights, cfg["model"], name)
        return x, num_classes
    for key, value in (cfg.get("model_params") or {}).items():
        if key in entry.params and key not in call and key not in ("x", "num_classes", "weights"):
            call[key] = value
    if x is None and "x" in cfg:
        x = bool(cfg["x"])
    if num_classes is None:
        num_classes = (cfg.get("model_params") or {}).get("num_classes")
    return x, num_classes


def list_models() -> list[str]:
    """Names of all registered models."""
    return MODELS.available()


available = list_models


def describe() -> dict[str, str]:
    """Name -> one-line description of every model."""
    return MODELS.describe()
