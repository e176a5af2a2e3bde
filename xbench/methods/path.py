"""Path-integral methods sharing one batched engine: Integrated Gradients (and, built on it, Split IG, EG, ...).

The engine flattens (image, path point) pairs into one list of work items and evaluates them in
chunks of ``max_batch`` model inputs (see :mod:`xbench.batching`), accumulating weighted
gradients per image with ``index_add_`` on the device: no Python loop over images or steps.
"""

from __future__ import annotations

from typing import Any

import torch

from ..batching import DEFAULT_MAX_BATCH, for_chunks
from .base import register, target_outputs
from .baselines import make_baseline
from .quadrature import Rule, quadrature


def path_gradients(model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor,
                   baselines: torch.Tensor, alphas: torch.Tensor, weights: torch.Tensor,
                   max_batch: int = DEFAULT_MAX_BATCH, return_outputs: bool = False):
    """Weighted sums of gradients along straight paths x' + a (x - x').

    ``alphas`` has shape [K] (shared) or [N, K] (per image); ``weights`` [K], [N, K] or
    [G, N, K] for G weightings accumulated in the same pass (e.g. left and right parts of Split IG).
    Returns ``sums`` of shape [G, N, *input] (G = 1 unless given) and, with ``return_outputs``,
    the target logits along the path, shape [N, K].
    """
    n, k = inputs.shape[0], alphas.shape[-1]
    alphas = alphas.to(inputs).expand(n, k)
    w = weights.to(inputs)
    if w.dim() == 1:
        w = w.expand(n, k)
    if w.dim() == 2:
        w = w.unsqueeze(0)
    g = w.shape[0]
    w = w.expand(g, n, k)
    diff = inputs - baselines
    feat = inputs.shape[1:]
    sums = torch.zeros((g, n) + tuple(feat), dtype=inputs.dtype, device=inputs.device)
    outs = torch.empty((n, k), dtype=inputs.dtype, device=inputs.device) if return_outputs else None
    view = (-1,) + (1,) * len(feat)

    def chunk(start: int, stop: int) -> None:
        idx = torch.arange(start, stop, device=inputs.device)
        img, step = idx // k, idx % k
        a = alphas[img, step].view(view)
        pts = (baselines[img] + a * diff[img]).requires_grad_(True)
        out = model(pts).gather(1, target[img][:, None]).squeeze(1)
        (grad,) = torch.autograd.grad(out.sum(), pts)
        for j in range(g):  # G is 1 or 2: a tiny loop over weightings, not over images
            sums[j].index_add_(0, img, grad * w[j, img, step].view(view))
        if outs is not None:
            outs[img, step] = out.detach()

    for_chunks(chunk, n * k, max_batch)
    return (sums, outs) if return_outputs else sums


@register("integrated_gradients",
          description="Integrated Gradients (Sundararajan et al. 2017), batched images x steps",
          paper="Sundararajan, Taly, Yan 2017", passes="n_steps",
          bounds={"n_steps": (1, 100000), "max_batch": (1, None)})
def integrated_gradients(model, inputs, target, *, n_steps: int = 50, method: Rule = "gausslegendre",
                         baseline: Any = "zero", max_batch: int = DEFAULT_MAX_BATCH,
                         data_info: dict | None = None):
    """IG_i = (x_i - x'_i) * sum_k w_k dF_t/dx_i(x' + a_k (x - x')); returns (attributions, info).

    ``method`` is the quadrature rule (Captum's names and step points); ``info['delta']`` is the
    completeness gap sum(IG) - (F(x) - F(x')) per sample, in logits.
    """
    base = make_baseline(inputs, baseline, data_info=data_info)
    alphas, weights = quadrature(method, n_steps, inputs.device, inputs.dtype)
    sums = path_gradients(model, inputs, target, base, alphas, weights, max_batch)[0]
    attr = (inputs - base) * sums
    delta = attr.flatten(1).sum(1) - (target_outputs(model, inputs, target) - target_outputs(model, base, target))
    return attr, {"delta": delta}


