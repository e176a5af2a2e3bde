"""Axioms of attribution (Sundararajan et al. 2017): completeness."""

from __future__ import annotations

import torch

from ..methods.base import target_outputs
from .base import CellContext, MetricOutput, register


def completeness(model, inputs, target, attributions, *, baseline: torch.Tensor | None = None,
                 eps: float = 1e-12) -> torch.Tensor:
    """|sum(A) - (F(x) - F(x'))| / |F(x) - F(x')| per sample (unitless), F = target logit.

    ``baseline`` defaults to zeros (the baseline of IG, X-Gradient and Input x Gradient).  A sample
    with F(x) = F(x') gives inf (or nan when the sum is 0 too) and is flagged by the summary.
    """
    base = torch.zeros_like(inputs) if baseline is None else baseline
    delta_f = target_outputs(model, inputs, target) - target_outputs(model, base, target)
    gap = (attributions.flatten(1).sum(1) - delta_f).abs()
    return gap / delta_f.abs().clamp_min(eps) if eps > 0 else gap / delta_f.abs()


@register("completeness", params_from=completeness,
          description="Completeness gap |sum A - (F(x) - F(x'))| / |F(x) - F(x')| per sample (0 is exact)")
def _completeness_cell(ctx: CellContext, **params) -> MetricOutput:
    rel = completeness(ctx.model, ctx.inputs, ctx.target, ctx.attributions, baseline=ctx.baseline, **params)
    absolute = (ctx.attributions.flatten(1).sum(1)
                - (target_outputs(ctx.model, ctx.inputs, ctx.target)
                   - target_outputs(ctx.model, ctx.baseline, ctx.target))).abs()
    return MetricOutput(values={"relative_gap": rel, "absolute_gap": absolute})
