"""Wall-clock cost of an attribution, against the physical limit of one forward + backward pass."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from ..methods.base import input_gradient
from .base import Attributor, method_attributor, register_metric


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
           method_params: dict | None = None, repeats: int = 3, warmup: int = 1,
           attributor: Attributor | None = None) -> dict[str, float]:
    """Time ``method`` on this batch.

    Returns seconds per image of the attribution, seconds per image of one forward + backward
    to the input (the limit for single-pass methods), their ratio, and the peak CUDA memory in MiB
    during the attribution (CUDA only; absent on CPU).  ``attributor`` ``(inputs, target) ->
    attributions`` replaces ``method``/``method_params`` (the harness passes the unit's method with
    its context, e.g. Expected Gradients' references).
    """
    device = inputs.device
    attr_fn = attributor or method_attributor(model, method, method_params)
    n = inputs.shape[0]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t_attr = median_time(lambda: attr_fn(inputs, target), device, repeats, warmup)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    t_lim = median_time(lambda: input_gradient(model, inputs, target), device, repeats, warmup)
    out = {"seconds_per_image": t_attr / n, "limit_seconds_per_image": t_lim / n, "ratio_to_limit": t_attr / t_lim}
    if peak is not None:
        out["peak_memory_mib"] = peak
    return out


register_metric("timing", timing, inputs="any", first_batches=1,
                outputs={"seconds_per_image": "batch", "limit_seconds_per_image": "batch", "ratio_to_limit": "batch",
                         "peak_memory_mib": "batch"},
                bounds={"repeats": (1, None), "warmup": (0, None)},
                description="Seconds per image (median of repeats, synchronised) and ratio to one forward+backward",
                direction="lower", consumes=("method",), units="seconds per image", label="seconds per image")
