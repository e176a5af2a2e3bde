"""Refined Left IG (beyond paper B): Split IG's Left part re-integrated on its own interval with its own steps.

Split IG's Left sums the first k* gradients of the uniform path: a right Riemann sum of IG from x' to
x' + a* (x - x') with a* = k*/m, on however few steps the logit took to reach the ratio r of its change
(1-2 steps for a fast-saturating photo at m = 32).  Refined Left IG keeps that a* (found by the Split IG
family's one pass, shared and cached with every ``split_ig`` of the same batch and step count) and
integrates the same interval again with ``refine_steps`` points of its own quadrature rule: a second pass
of ``refine_steps`` gradients per image.  Being IG on [x', x' + a* (x - x')], it is complete there:
sum(A) = F(x' + a* (x - x')) - F(x'), which the method declares as its path end so that the completeness
metric judges it on that interval.
"""

from __future__ import annotations

from typing import Any

import torch

from ..batching import DEFAULT_MAX_BATCH
from ..substrates import make_baseline
from .base import FROM_BASELINE, register, target_outputs
from .path import Schedule, path_gradients, path_schedule
from .quadrature import Rule, quadrature
from .split_family import PAPER_RATIOS, split_family


def _end(inputs: torch.Tensor, start: torch.Tensor, info: dict[str, Any]) -> torch.Tensor:
    """x' + a* (x - x') per sample: where Refined Left IG's path ends."""
    a = info["alpha_end"].to(inputs).view((-1,) + (1,) * (inputs.dim() - 1))
    return start + a * (inputs - start)


@register("refined_left_ig", inputs="any", completeness=True, path_start=FROM_BASELINE, path_end=_end,
          description="Refined Left IG: Split IG's Left interval [0, a*] found on the uniform path, "
                      "then integrated with its own refine_steps (a second pass)",
          bounds={"ratio": (0.0, 1.0), "n_steps": (1, 100000), "refine_steps": (1, 100000), "max_batch": (1, None)},
          docs={"n_steps": "steps of the first pass, the Split IG path on which a* is found",
                "refine_steps": "gradient evaluations of the second pass, on [0, a*] only",
                "method": "quadrature rule of the second pass on [0, a*]",
                "ratio": "the split point: a* is where the logit has first reached this share of its change",
                "schedule": "where the first pass's points go (uniform: the paper's a_k = k/m)"})
def refined_left_ig(model, inputs, target, *, ratio: float = 0.9, n_steps: int = 200, refine_steps: int = 32,
                    method: Rule = "gausslegendre", baseline: Any = "zero", schedule: Schedule = "uniform",
                    max_batch: int = DEFAULT_MAX_BATCH, data_info: dict | None = None):
    """IG from x' to x' + a* (x - x') with ``refine_steps`` points of ``method``; returns (attributions, info).

    a* = k*/m on the uniform path (generally a_{k*-1}, 0 when the first point crosses, 1 when none does): the
    end of the interval Split IG's Left (``split_ig`` with the same ``ratio``, ``n_steps``, ``schedule``)
    integrates, k* its first step whose logit crosses F(x') + r (F(x) - F(x')).  The second pass:
    A = (x - x') * sum_j a* w_j dF/dx(x' + a* u_j (x - x')), (u_j, w_j) the rule on [0, 1].
    ``info`` (per sample): ``alpha_end`` = a*, ``left_steps`` = k* (the gradients Split IG's Left rests on),
    ``gradient_passes`` = n_steps + refine_steps (forward+backward evaluations per image; the first pass is
    shared with the split_ig methods of the same batch), ``end_change`` = F(end) - F(x') (logits),
    ``delta`` = sum(A) - end_change and ``subgrid_delta`` the same gap of Split IG's Left on [0, a*].
    """
    base = make_baseline(inputs, baseline, data_info=data_info)
    alphas, weights = path_schedule(schedule, n_steps, inputs.device, inputs.dtype)
    fam = split_family(model, inputs, target, base, (ratio, *PAPER_RATIOS), alphas, weights,
                       max_batch=max_batch, schedule_key=schedule)
    kstar = fam.kstar[float(ratio)]
    # the last point before the crossing; k* = 0: the first point crosses, an empty interval
    a_end = torch.where(kstar > 0, fam.alphas[(kstar - 1).clamp(min=0)], torch.zeros_like(fam.f_x))
    u, w = quadrature(method, refine_steps, inputs.device, inputs.dtype)
    sums = path_gradients(model, inputs, target, base, a_end[:, None] * u[None, :], a_end[:, None] * w[None, :],
                          max_batch)[0]
    diff = inputs - base
    attr = diff * sums
    info = {"alpha_end": a_end}
    f_end = target_outputs(model, _end(inputs, base, info), target)
    end_change = f_end - fam.f_base
    left = (diff * fam.left[float(ratio)]).flatten(1).sum(1)
    info.update({"left_steps": kstar.to(inputs.dtype),
                 "gradient_passes": torch.full_like(a_end, float(n_steps + refine_steps)),
                 "end_change": end_change, "delta": attr.flatten(1).sum(1) - end_change,
                 "subgrid_delta": left - end_change})
    return attr, info
