"""Wall-clock cost of an attribution, against the physical limit of one forward + backward pass."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from ..methods.base import attribute, input_gradient
from .base import CellContext, MetricOutput, register


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup`` runs, synchronised."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timing(model, inputs, target, attributions=None, *, method: str = "saliency",
           method_params: dict | None = None, repeats: int = 3, warmup: int = 1) -> dict[str, float]:
    """Time ``method`` on this batch.

    Returns seconds per image of the attribution, seconds per image of one forward + backward
    to the input (the limit for single-pass methods), their ratio, and the peak CUDA memory in MiB
    during the attribution (CUDA only; absent on CPU).
    """
    device = inputs.device
    params = dict(method_params or {})
    n = inputs.shape[0]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t_attr = median_time(lambda: attribute(model, inputs, target, method, **params), device, repeats, warmup)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    t_lim = median_time(lambda: input_gradient(model, inputs, target), device, repeats, warmup)
    out = {"seconds_per_image": t_attr / n, "limit_seconds_per_image": t_lim / n, "ratio_to_limit": t_attr / t_lim}
    if peak is not None:
        out["peak_memory_mib"] = peak
    return out


def _timing_params(model, inputs, target, attributions=None, *, repeats: int = 3, warmup: int = 1,
                   batches: int | None = 1) -> None:
    """Suite parameters of ``timing``: those of :func:`timing` plus ``batches``, the number of leading
    batches timed per cell (None: every batch).  Speed is a property of the method and the batch
    shape, not of each sample, so one timed batch is enough and keeps timing off the critical path."""


@register("timing", params_from=_timing_params, bounds={"repeats": (1, None), "warmup": (0, None),
                                                        "batches": (1, None)},
          description="Seconds per image (median of repeats, synchronised) and ratio to one forward+backward",
          direction="lower", consumes=("method", "references", "data_info"), units="seconds per image",
          label="seconds per image")
def _timing_cell(ctx: CellContext, batches: int | None = 1, **params) -> MetricOutput:
    if batches is not None and ctx.batch >= batches:
        return MetricOutput()
    params_m = {k: v for k, v in ctx.method_params.items()}
    extra = {}
    if ctx.references is not None:
        extra["references"] = ctx.references
    if ctx.data_info:
        extra["data_info"] = ctx.data_info
    res = timing(ctx.model, ctx.inputs, ctx.target, method=ctx.method, method_params={**params_m, **extra}, **params)
    return MetricOutput(batch_values=res)
