"""Localisation against ground-truth masks (data with masks, e.g. ``synthetic``): mass share and pointing game."""

from __future__ import annotations

import torch

from ..errors import ParamError
from .base import register_metric


def pixel_mask(masks: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """Boolean [N, H*W] from masks shaped [N, H, W], [N, 1, H, W] or [N, C, H, W] (a pixel is in if any channel is)."""
    m = masks.bool()
    if m.dim() == 4:
        m = m.any(dim=1)
    if tuple(m.shape) != (n, h, w):
        raise ParamError(f"masks: shape {tuple(masks.shape)} does not match {n} inputs of {h}x{w} pixels")
    return m.flatten(1)


def localisation(model, inputs, target, attributions, *, masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Return ``{"mass_in_mask": [N], "pointing_game": [N]}`` from channel-summed attributions.

    ``mass_in_mask``: share of the positive attribution mass inside the mask (Arras et al.'s
    relevance mass accuracy; nan when no pixel is positive).  ``pointing_game`` (Zhang et al.
    2018, no tolerance): 1.0 when the largest pixel attribution inside the mask exceeds every
    one outside it, so a tie between inside and outside (e.g. a constant map) is a miss.
    """
    if masks is None:
        raise ParamError("localisation needs ground-truth masks (a dataset with masks, e.g. 'synthetic')")
    n = inputs.shape[0]
    h, w = inputs.shape[-2:]
    inside = pixel_mask(masks.to(inputs.device), n, h, w)
    a = (attributions.sum(1) if attributions.dim() == 4 else attributions).flatten(1)
    pos = a.clamp_min(0)
    total = pos.sum(1)
    mass = torch.where(total > 0, (pos * inside).sum(1) / total, torch.full_like(total, float("nan")))
    neg_inf = torch.full_like(a, -float("inf"))
    best_in = torch.where(inside, a, neg_inf).amax(1)
    best_out = torch.where(inside, neg_inf, a).amax(1)
    return {"mass_in_mask": mass, "pointing_game": (best_in > best_out).to(a.dtype)}


register_metric("localisation", localisation, inputs="image",
                description="Share of positive attribution mass inside the ground-truth mask and the pointing game "
                            "(higher is better; needs masks)",
                direction="higher", consumes=("attributions", "masks"), units="share (0-1) / hit (0 or 1)",
                label="share of mass / pointing hit")
