"""Paper B's saturation picture: the target logit along IG's straight path, normalised, per sample.

Forward passes only (under ``torch.inference_mode``): F(x' + a (x - x')) for ``n_points`` evenly
spaced a in [0, 1], as the curve n(a) = (F(a) - F(x')) / (F(x) - F(x')) (0 at the baseline, 1 at the
input).  Per-sample values: where the curve first reaches 0.5 and ``ratio`` (a*, as Split IG's threshold
on this grid), and the share of the path after a* (the saturated region).
"""

from __future__ import annotations

import torch

from ..batching import DEFAULT_MAX_BATCH, map_chunks
from .base import register_metric


def logit_path(model, inputs, target, attributions=None, *, n_points: int = 101, ratio: float = 0.9,
               baseline: torch.Tensor | None = None, max_batch: int = DEFAULT_MAX_BATCH):
    """(alphas [P], normalised logits [N, P], raw logits [N, P]) along x' + a (x - x') (x' = ``baseline``,
    zeros by default); a sample with F(x) = F(x') gives nan in the normalised curve."""
    base = torch.zeros_like(inputs) if baseline is None else baseline.to(inputs)
    a = torch.linspace(0.0, 1.0, int(n_points), dtype=inputs.dtype, device=inputs.device)
    n, p = inputs.shape[0], a.numel()
    view = (-1,) + (1,) * (inputs.dim() - 1)

    def run(start: int, stop: int) -> torch.Tensor:
        idx = torch.arange(start, stop, device=inputs.device)
        img, k = idx // p, idx % p
        with torch.inference_mode():  # forward only: no autograd bookkeeping at all
            pts = base[img] + a[k].view(view) * (inputs[img] - base[img])
            return model(pts).gather(1, target[img][:, None]).squeeze(1).clone()

    raw = map_chunks(run, n * p, max_batch).view(n, p)
    change = raw[:, -1] - raw[:, 0]
    norm = (raw - raw[:, :1]) / torch.where(change == 0, torch.full_like(change, float("nan")), change)[:, None]
    return a, norm, raw


def _first_reach(a: torch.Tensor, curve: torch.Tensor, level: float) -> torch.Tensor:
    """Smallest a at which ``curve`` [N, P] exceeds ``level`` (1 when it never does), shape [N]."""
    hit = curve > level
    first = hit.to(torch.int8).argmax(1)
    return torch.where(hit.any(1), a[first], torch.ones_like(a[first]))


def logit_path_stats(model, inputs, target, attributions=None, *, n_points: int = 101, ratio: float = 0.9,
                     baseline: torch.Tensor | None = None, max_batch: int = DEFAULT_MAX_BATCH,
                     return_curves: bool = False):
    """Per sample [N]: ``alpha_half`` and ``alpha_ratio`` (the first alpha where the normalised logit exceeds
    0.5 and ``ratio``; 1 when it never does) and ``logit_change`` F(x) - F(x') (logits); with
    ``return_curves`` also the alphas [P] and the normalised curve [N, P] (see :func:`logit_path`)."""
    a, norm, raw = logit_path(model, inputs, target, n_points=n_points, ratio=ratio, baseline=baseline,
                              max_batch=max_batch)
    r = float(ratio)
    values = {"alpha_half": _first_reach(a, norm, 0.5), "alpha_ratio": _first_reach(a, norm, r),
              "logit_change": raw[:, -1] - raw[:, 0], "ratio": r}
    return (values, a, norm) if return_curves else values


# consumes nothing: the path always starts at zeros, whatever the unit's method (paper B's picture)
register_metric("logit_path", logit_path_stats, inputs="any", curve="normalised_logit",
                outputs={"ratio": "setting"}, consumes=(),
                direction="none", units="alpha in [0, 1]; logits", label="normalised target logit",
                x_label="alpha along the path",
                stat_labels={"alpha_half": "alpha where the logit reaches half its change",
                             "alpha_ratio": "alpha where it reaches r of its change", "logit_change": "F(x) - F(x')"},
                bounds={"n_points": (2, 100000), "ratio": (0.0, 1.0), "max_batch": (1, None)},
                description="Paper B: normalised target logit along the straight path from the zero baseline "
                            "(a where it reaches 0.5 and r; forward passes only)")
