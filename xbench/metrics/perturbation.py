"""Perturbation curves: RISE deletion and insertion (Petsiuk et al. 2018), sharing one masking engine.

Pixels are ranked by channel-summed attribution (descending; ties broken by pixel index, a
stable sort).  Every (image, curve step) pair is one work item; chunks of items are built on the
device from the rank tensor and evaluated in one forward pass each (:mod:`xbench.batching`).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from ..batching import DEFAULT_MAX_BATCH, for_chunks
from ..methods.baselines import gaussian_blur
from .base import CellContext, MetricOutput, auc_normalised, register

Substrate = Literal["zero", "blur", "mean", "uniform"]
Output = Literal["softmax", "logit"]


def pixel_rank(attributions: torch.Tensor) -> torch.Tensor:
    """Rank of every pixel (0 = most important) from channel-summed attributions, shape [N, H*W]."""
    s = attributions.sum(1) if attributions.dim() == 4 else attributions
    s = s.flatten(1)
    order = torch.sort(s, dim=1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(s.shape[1], device=s.device).expand_as(order))
    return rank


def make_substrate(inputs: torch.Tensor, substrate: str, *, blur_kernel: int, blur_sigma: float,
                   seed: int = 0) -> torch.Tensor:
    """The values that replace (deletion) or start (insertion) the image, same shape as ``inputs``."""
    if substrate == "zero":
        return torch.zeros_like(inputs)
    if substrate == "blur":
        return gaussian_blur(inputs, blur_kernel, blur_sigma)
    if substrate == "mean":
        return inputs.mean(dim=(-2, -1), keepdim=True).expand_as(inputs).clone()
    if substrate == "uniform":
        gen = torch.Generator(device=inputs.device).manual_seed(int(seed))
        lo, hi = inputs.amin().item(), inputs.amax().item()
        return torch.rand(inputs.shape, generator=gen, device=inputs.device, dtype=inputs.dtype) * (hi - lo) + lo
    raise ValueError(f"unknown substrate {substrate!r}")


def default_steps(inputs: torch.Tensor) -> int:
    """One image row of pixels per step: 224 steps of 224 pixels at 224 x 224, as in RISE."""
    return int(inputs.shape[-2])


def perturbation_curves(model, inputs, target, attributions, *, mode: Literal["deletion", "insertion"],
                        steps: int, substrate: torch.Tensor, output: str = "softmax",
                        max_batch: int = DEFAULT_MAX_BATCH) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (fractions [steps + 1], scores [N, steps + 1]).

    Point k has the top ``min(k * ceil(HW / steps), HW)`` pixels replaced by the substrate
    (deletion) or copied onto it (insertion); point 0 is the clean (deletion) or fully
    substituted (insertion) image.  Scores are the target's softmax probability or logit.
    """
    n = inputs.shape[0]
    h, w = inputs.shape[-2:]
    n_pix = h * w
    per_step = math.ceil(n_pix / steps)
    counts = torch.clamp(torch.arange(steps + 1, device=inputs.device) * per_step, max=n_pix)
    rank = pixel_rank(attributions).view(n, 1, h, w)
    t1 = steps + 1
    scores = torch.empty((n, t1), dtype=inputs.dtype, device=inputs.device)

    def chunk(start: int, stop: int) -> None:
        idx = torch.arange(start, stop, device=inputs.device)
        img, k = idx // t1, idx % t1
        top = rank[img] < counts[k].view(-1, 1, 1, 1)  # [B, 1, H, W]: pixels already switched
        if mode == "deletion":
            x = torch.where(top, substrate[img], inputs[img])
        else:
            x = torch.where(top, inputs[img], substrate[img])
        with torch.no_grad():
            out = model(x)
            if output == "softmax":
                out = out.softmax(dim=1)
            scores[img, k] = out.gather(1, target[img][:, None]).squeeze(1)

    for_chunks(chunk, n * t1, max_batch)
    return counts.to(inputs.dtype) / n_pix, scores


def _curve_metric(mode, model, inputs, target, attributions, steps, substrate, output, blur_kernel,
                  blur_sigma, max_batch, seed, return_curves):
    steps = default_steps(inputs) if steps is None else steps
    sub = make_substrate(inputs, substrate, blur_kernel=blur_kernel, blur_sigma=blur_sigma, seed=seed)
    x, curves = perturbation_curves(model, inputs, target, attributions, mode=mode, steps=steps, substrate=sub,
                                    output=output, max_batch=max_batch)
    auc = auc_normalised(curves)
    return (auc, x, curves) if return_curves else auc


def deletion(model, inputs, target, attributions, *, steps: int | None = None, substrate: Substrate = "zero",
             output: Output = "softmax", blur_kernel: int = 11, blur_sigma: float = 5.0,
             max_batch: int = DEFAULT_MAX_BATCH, seed: int = 0, return_curves: bool = False):
    """RISE deletion AUC per sample, shape [N] (lower is better); with ``return_curves`` also
    ``(fractions [T], curves [N, T])``.  ``steps`` defaults to the image height (RISE: 224)."""
    return _curve_metric("deletion", model, inputs, target, attributions, steps, substrate, output, blur_kernel,
                         blur_sigma, max_batch, seed, return_curves)


def insertion(model, inputs, target, attributions, *, steps: int | None = None, substrate: Substrate = "blur",
              output: Output = "softmax", blur_kernel: int = 11, blur_sigma: float = 5.0,
              max_batch: int = DEFAULT_MAX_BATCH, seed: int = 0, return_curves: bool = False):
    """RISE insertion AUC per sample, shape [N] (higher is better), starting from the substrate
    (RISE: the image blurred with kernel 11, sigma 5)."""
    return _curve_metric("insertion", model, inputs, target, attributions, steps, substrate, output, blur_kernel,
                         blur_sigma, max_batch, seed, return_curves)


_BOUNDS = {"steps": (1, None), "blur_kernel": (1, None), "blur_sigma": (0.0, None), "max_batch": (1, None)}


def _cell(fn):
    def cell(ctx: CellContext, **params) -> MetricOutput:
        params = dict(params)
        if params.get("steps") is None:
            params["steps"] = default_steps(ctx.inputs)  # record the resolved value, not None
        auc, x, curves = fn(ctx.model, ctx.inputs, ctx.target, ctx.attributions, return_curves=True, **params)
        return MetricOutput(values={"auc": auc}, curves={"curve": (x, curves)},
                            settings={"steps": params["steps"]})
    return cell


register("deletion", params_from=deletion, bounds=_BOUNDS,
         description="RISE deletion: target probability as top pixels are removed; AUC (lower is better)",
         direction="lower")(_cell(deletion))
register("insertion", params_from=insertion, bounds=_BOUNDS,
         description="RISE insertion: target probability as top pixels are inserted into a blurred image; "
                     "AUC (higher is better)",
         direction="higher")(_cell(insertion))
