"""The metric registry, what a metric receives from the runner, and what it returns.

Users call plain functions (``xbench.metrics.deletion(model, inputs, target, attributions, ...)``)
that return per-sample tensors of shape [N].  The runner calls the registered *cell* function
``fn(ctx, **params) -> MetricOutput`` that wraps the plain function; its parameter schema is read
from the plain function (``params_from=``), so YAML and Python accept the same settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..registry import Registry

METRICS = Registry("metric", skip=4, hidden=("return_curves", "baseline", "method", "method_params", "labels",
                                             "masks", "data_info", "references", "seed"))
register = METRICS.register


def available() -> list[str]:
    """Names of all registered metrics."""
    return METRICS.available()


def describe() -> dict[str, str]:
    """Name -> one-line description of every metric."""
    return METRICS.describe()


@dataclass
class CellContext:
    """Everything one (model, method, batch) offers a metric; built by the runner."""

    model: torch.nn.Module
    inputs: torch.Tensor
    target: torch.Tensor
    attributions: torch.Tensor
    method: str
    method_params: dict[str, Any]
    attribute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    baseline: torch.Tensor
    labels: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    method_info: dict[str, Any] = field(default_factory=dict)
    data_info: dict[str, Any] = field(default_factory=dict)
    references: torch.Tensor | None = None
    seed: int = 0


@dataclass
class MetricOutput:
    """What a metric cell returns for one batch.

    ``values``: stat name -> per-sample tensor [N].  ``curves``: stat name -> (x [T], y [N, T]).
    ``batch_values``: stat name -> one float for the whole batch (e.g. timing).  ``settings``:
    extra settings that were decided at run time (chunk size, ...), recorded with the rows.
    """

    values: dict[str, torch.Tensor] = field(default_factory=dict)
    curves: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    batch_values: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def auc_normalised(curves: torch.Tensor) -> torch.Tensor:
    """Trapezoid area under equally spaced curves [N, T] over x in [0, 1] (RISE's normalised AUC).

    (sum - first/2 - last/2) / (T - 1), shape [N].
    """
    t = curves.shape[-1]
    if t < 2:
        return curves[..., 0].clone()
    return (curves.sum(-1) - curves[..., 0] / 2 - curves[..., -1] / 2) / (t - 1)
