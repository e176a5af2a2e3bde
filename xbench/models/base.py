"""The model registry: ``create(name, x=False, weights=None, num_classes=None, **params)``.

A factory ``fn(*, x, num_classes, weights, **params) -> nn.Module`` builds the regular model or
its bias-free X-variant (``x=True``) and loads ``weights`` (a name the factory knows, e.g.
``"trained"`` for embedded models, or a checkpoint path).  Models are returned in eval mode.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from ..registry import Registry

MODELS = Registry("model", skip=0, hidden=("device", "progress"))


def create(name: str, x: bool = False, weights: Any = "default", num_classes: int | None = None,
           **params: Any) -> nn.Module:
    """Build the named model (eval mode). ``weights="default"`` takes the factory's default weights."""
    entry = MODELS.get(name)
    call = dict(params)
    accepts = set(inspect.signature(entry.fn).parameters)
    hidden = {k: call.pop(k) for k in ("device", "progress") if k in call}
    hidden = {k: v for k, v in hidden.items() if k in accepts}
    call["x"] = x
    if num_classes is not None:
        call["num_classes"] = num_classes
    if weights != "default":
        call["weights"] = weights
    resolved = entry.resolve(call, where=f"model({name})")
    model = entry.fn(**resolved, **hidden)
    return model.eval()


def list_models() -> list[str]:
    """Names of all registered models."""
    return MODELS.available()


available = list_models


def describe() -> dict[str, str]:
    """Name -> one-line description of every model."""
    return MODELS.describe()
