"""Baselines x' for path methods and the completeness axiom, all built on the inputs' device.

Inputs live in normalised space (x - mean) / std, so ``zero`` is the mean colour, while
``black`` is pixel value 0 mapped through the normalisation.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ParamError

BASELINES = ("zero", "black", "blur", "uniform", "mean")


def gaussian_blur(x: torch.Tensor, kernel: int, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of an [N, C, H, W] batch with reflect padding (kernel clipped to the image)."""
    h, w = x.shape[-2:]
    k = int(kernel)
    k = min(k, 2 * (min(h, w) // 2) - 1 if min(h, w) > 1 else 1)  # reflect padding needs pad < size
    k = max(1, k if k % 2 == 1 else k - 1)
    if k == 1:
        return x.clone()
    r = torch.arange(k, device=x.device, dtype=x.dtype) - (k - 1) / 2
    g = torch.exp(-(r**2) / (2 * float(sigma) ** 2))
    g = g / g.sum()
    c = x.shape[1]
    pad = k // 2
    y = F.pad(x, (pad, pad, 0, 0), mode="reflect")
    y = F.conv2d(y, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    y = F.pad(y, (0, 0, pad, pad), mode="reflect")
    return F.conv2d(y, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def make_baseline(inputs: torch.Tensor, baseline: Any = "zero", *, data_info: dict | None = None,
                  seed: int = 0, blur_kernel: int = 11, blur_sigma: float = 5.0) -> torch.Tensor:
    """Return a baseline tensor with the shape, dtype and device of ``inputs``.

    ``baseline`` is a name from :data:`BASELINES`, a number, or a tensor broadcastable to the
    inputs.  ``black`` and ``mean`` need ``data_info`` with the normalisation ``mean``/``std``
    (per channel, pixel units) and, for ``mean``, the dataset mean image ``dataset_mean``.
    """
    if isinstance(baseline, torch.Tensor):
        return baseline.to(inputs).expand_as(inputs).clone()
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(inputs, float(baseline))
    if baseline == "zero":
        return torch.zeros_like(inputs)
    if baseline == "blur":
        return gaussian_blur(inputs, blur_kernel, blur_sigma)
    if baseline == "uniform":
        gen = torch.Generator(device=inputs.device).manual_seed(int(seed))
        lo, hi = inputs.amin().item(), inputs.amax().item()
        return torch.rand(inputs.shape, generator=gen, device=inputs.device, dtype=inputs.dtype) * (hi - lo) + lo
    if baseline in ("black", "mean"):
        if not data_info or "mean" not in data_info or "std" not in data_info:
            raise ParamError(f"baseline: '{baseline}' needs the dataset's normalisation (data_info with mean/std)")
        shape = (1, -1) + (1,) * (inputs.dim() - 2)
        mean = torch.as_tensor(data_info["mean"], dtype=inputs.dtype, device=inputs.device).view(shape)
        std = torch.as_tensor(data_info["std"], dtype=inputs.dtype, device=inputs.device).view(shape)
        if baseline == "black":
            return ((0.0 - mean) / std).expand_as(inputs).clone()
        if "dataset_mean" not in data_info:
            raise ParamError("baseline: 'mean' needs data_info['dataset_mean'] (the mean normalised input)")
        dmean = torch.as_tensor(data_info["dataset_mean"], dtype=inputs.dtype, device=inputs.device)
        return dmean.expand_as(inputs).clone()
    raise ParamError(f"baseline: {baseline!r} is not a baseline; allowed: {', '.join(BASELINES)}, a number or a tensor")
