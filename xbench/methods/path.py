"""Path-integral methods sharing one batched engine: Integrated Gradients (and, built on it, Split IG, EG, ...).

The engine flattens (image, path point) pairs into one list of work items and evaluates them in
chunks of ``max_batch`` model inputs (see :mod:`xbench.batching`), accumulating weighted
gradients per image with ``index_add_`` on the device: no Python loop over images or steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch

from ..batching import DEFAULT_MAX_BATCH, ChunkStats, for_chunks, map_chunks
from ..errors import ParamError
from ..substrates import make_baseline
from .base import FROM_BASELINE, register, target_outputs
from .quadrature import Rule, quadrature
from .split_family import PAPER_RATIOS, crosses, split_family


def accumulate_gradients(model: torch.nn.Module, target: torch.Tensor, n: int, k: int,
                         points: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                         weigh: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                         sums: torch.Tensor, max_batch: int = DEFAULT_MAX_BATCH,
                         outs: torch.Tensor | None = None) -> ChunkStats:
    """The engine: for all ``n * k`` (image, sample) pairs, g = dF_t/dx at ``points(img, step)``.

    ``points(img, step)`` builds the model inputs of a chunk ([B, *input]) from index tensors [B];
    ``weigh(img, step, g)`` returns the chunk's contribution [G, B, *input], added into ``sums``
    [G, N, *input] by image.  With ``outs`` ([N, K]) the target logits are stored too.
    Returns the chunking statistics.
    """
    device = sums.device

    def chunk(start: int, stop: int) -> None:
        idx = torch.arange(start, stop, device=device)
        img, step = idx // k, idx % k
        pts = points(img, step).detach().requires_grad_(True)
        out = model(pts).gather(1, target[img][:, None]).squeeze(1)
        (grad,) = torch.autograd.grad(out.sum(), pts)
        contrib = weigh(img, step, grad)  # computed before any side effect: an OOM retries cleanly
        sums.index_add_(1, img, contrib)
        if outs is not None:
            outs[img, step] = out.detach()

    return for_chunks(chunk, n * k, max_batch)


def straight_path(inputs: torch.Tensor, baselines: torch.Tensor, alphas: torch.Tensor):
    """Return ``(points, diff)``: ``points(img, step)`` = x'_img + a[img, step] (x_img - x'_img), diff = x - x'.

    ``alphas`` is [K] (shared by all images) or [N, K].
    """
    n, k = inputs.shape[0], alphas.shape[-1]
    alphas = alphas.to(inputs).expand(n, k)
    diff = inputs - baselines
    view = (-1,) + (1,) * (inputs.dim() - 1)

    def points(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return baselines[img] + alphas[img, step].view(view) * diff[img]

    return points, diff


def path_gradients(model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor,
                   baselines: torch.Tensor, alphas: torch.Tensor, weights: torch.Tensor,
                   max_batch: int = DEFAULT_MAX_BATCH, return_outputs: bool = False, by_slope: bool = False):
    """Weighted sums of gradients along straight paths x' + a (x - x').

    ``alphas`` has shape [K] (shared) or [N, K] (per image); ``weights`` [K], [N, K] or
    [G, N, K] for G weightings accumulated in the same pass (e.g. left and right parts of Split IG).
    ``by_slope`` also multiplies each gradient by the logit's slope along the path,
    dF/da = grad . (x - x') (Integrated Decision Gradients).
    Returns ``sums`` of shape [G, N, *input] (G = 1 unless given) and, with ``return_outputs``,
    the target logits along the path, shape [N, K].
    """
    n, k = inputs.shape[0], alphas.shape[-1]
    w = weights.to(inputs)
    if w.dim() == 1:
        w = w.expand(n, k)
    if w.dim() == 2:
        w = w.unsqueeze(0)
    g = w.shape[0]
    w = w.expand(g, n, k)
    points, diff = straight_path(inputs, baselines, alphas)
    feat = inputs.shape[1:]
    sums = torch.zeros((g, n) + tuple(feat), dtype=inputs.dtype, device=inputs.device)
    outs = torch.empty((n, k), dtype=inputs.dtype, device=inputs.device) if return_outputs else None
    view = (-1,) + (1,) * len(feat)

    def weigh(img: torch.Tensor, step: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        wk = w[:, img, step]  # [G, B]
        if by_slope:
            wk = wk * (grad * diff[img]).flatten(1).sum(1)
        return grad.unsqueeze(0) * wk.view((g,) + view)

    accumulate_gradients(model, target, n, k, points, weigh, sums, max_batch, outs)
    return (sums, outs) if return_outputs else sums


def path_outputs(model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor, baselines: torch.Tensor,
                 alphas: torch.Tensor, max_batch: int = DEFAULT_MAX_BATCH) -> torch.Tensor:
    """Target logits F_t(x' + a (x - x')) along straight paths, forward passes only; shape [N, K].

    ``alphas`` is [K] or [N, K] as in :func:`path_gradients`.
    """
    n, k = inputs.shape[0], alphas.shape[-1]
    points, _ = straight_path(inputs, baselines, alphas)

    def run(start: int, stop: int) -> torch.Tensor:
        idx = torch.arange(start, stop, device=inputs.device)
        img, step = idx // k, idx % k
        with torch.no_grad():
            return model(points(img, step)).gather(1, target[img][:, None]).squeeze(1)

    return map_chunks(run, n * k, max_batch).view(n, k)


Schedule = Literal["uniform", "quadratic", "cubic"]
SCHEDULES = ("uniform", "quadratic", "cubic")


def _power(schedule: str) -> int:
    power = {"uniform": 1, "quadratic": 2, "cubic": 3}.get(schedule)
    if power is None:
        raise ParamError(f"schedule: '{schedule}' is not a path schedule; allowed: {', '.join(SCHEDULES)}")
    return power


def path_schedule(schedule: str, n_steps: int, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-Riemann path points a_k and weights w_k = a_k - a_{k-1} (sum 1), shape [n_steps] each.

    ``uniform``: a_k = k/m (paper B).  ``quadratic`` / ``cubic``: a_k = (k/m)^2 or ^3, denser near
    a = 0, where a saturating network's logit moves (the steps a uniform grid wastes on the flat
    tail are spent on the steep start).
    """
    power = _power(schedule)
    u = torch.arange(0, int(n_steps) + 1, dtype=torch.float64) / int(n_steps)
    a = u ** power
    return a[1:].to(device, dtype), (a[1:] - a[:-1]).to(device, dtype)


def warp(alphas: torch.Tensor, weights: torch.Tensor, schedule: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A quadrature rule on [0, 1] moved by a = u^p (``schedule``'s power): points u^p, weights w p u^(p-1)."""
    power = _power(schedule)
    if power == 1:
        return alphas, weights
    u = alphas.double()
    return (u ** power).to(alphas.dtype), (weights.double() * power * u ** (power - 1)).to(weights.dtype)


@register("integrated_gradients", inputs="any", completeness=True,
          description="Integrated Gradients (Sundararajan et al. 2017), batched images x steps",
          path_start=FROM_BASELINE,
          bounds={"n_steps": (1, 100000), "max_batch": (1, None)})
def integrated_gradients(model, inputs, target, *, n_steps: int = 50, method: Rule = "gausslegendre",
                         baseline: Any = "zero", max_batch: int = DEFAULT_MAX_BATCH,
                         data_info: dict | None = None, schedule: Schedule = "uniform"):
    """IG_i = (x_i - x'_i) * sum_k w_k dF_t/dx_i(x' + a_k (x - x')); returns (attributions, info).

    ``method`` is the quadrature rule (Captum's names and step points); ``info['delta']`` is the
    completeness gap sum(IG) - (F(x) - F(x')) per sample, in logits.  ``schedule`` other than
    ``uniform`` warps the rule's points by a = u^p (p = 2 quadratic, 3 cubic) with weights
    w p u^(p-1) (change of variables): the same integral, steps packed near the baseline.
    """
    base = make_baseline(inputs, baseline, data_info=data_info)
    alphas, weights = warp(*quadrature(method, n_steps, inputs.device, inputs.dtype), schedule)
    sums = path_gradients(model, inputs, target, base, alphas, weights, max_batch)[0]
    attr = (inputs - base) * sums
    f = target_outputs(model, torch.cat([inputs, base]), target.repeat(2))  # F(x) and F(x') in one pass
    delta = attr.flatten(1).sum(1) - (f[: len(inputs)] - f[len(inputs):])
    return attr, {"delta": delta}




@register("split_ig", inputs="any", completeness=lambda p: p.get("part", "left") == "full",  # Left, Right: parts
          description="Split IG (Miglani et al. 2020): IG split where the logit reaches a ratio r of its change",
          path_start=FROM_BASELINE,
          bounds={"ratio": (0.0, 1.0), "n_steps": (1, 100000), "max_batch": (1, None)})
def split_ig(model, inputs, target, *, ratio: float = 0.9, n_steps: int = 200,
             part: Literal["left", "right", "full"] = "left", baseline: Any = "zero",
             max_batch: int = DEFAULT_MAX_BATCH, data_info: dict | None = None, share_pass: bool = True,
             schedule: Schedule = "uniform"):
    """Left (unsaturated), Right (saturated) or full IG, right Riemann sum a_k = k/m; returns (attributions, info).

    k* = the first step (0-based) whose logit crosses tau = F(x') + r (F(x) - F(x')) strictly (in the
    direction of the change); Left sums the steps before k*, Right k* and after.  When no step crosses
    (F(x) = F(x'), or ``ratio = 1`` with the logit reaching F(x) only at the end) everything is Left.
    ``info``: ``alpha_star`` = a_{k*} (uniform: (k* + 1)/m) in (0, 1], the alpha of the first crossing
    step (the Split IG notebook reports k*/m with its own indexing: ours is one step, 1/m, later),
    ``left_sum`` / ``right_sum`` (logits; about r and 1 - r of the change), ``delta`` = left_sum +
    right_sum - (F(x) - F(x')), the L2 norms ``left_norm`` / ``right_norm``, their ratio
    ``right_left_norm_ratio`` and ``left_steps`` = k*.

    ``share_pass`` (default) finds k* online during the gradient pass and shares that one pass, cached,
    between every part and ratio of the family on the same batch (:mod:`xbench.methods.split_family`):
    n_steps forward/backward + 1 forward.  ``share_pass=false`` scans the path with n_steps forwards
    first, then makes one gradient pass.  ``schedule`` places the steps (:func:`path_schedule`;
    ``uniform`` is the paper's a_k = k/m).
    """
    base = make_baseline(inputs, baseline, data_info=data_info)
    if share_pass or schedule != "uniform":
        return _split_ig_shared(model, inputs, target, base, ratio, n_steps, part, max_batch, schedule)
    alphas, weights = quadrature("riemann_right", n_steps, inputs.device, inputs.dtype)
    logits = path_outputs(model, inputs, target, base, alphas, max_batch)  # [N, m]; last column is F(x)
    f0 = target_outputs(model, base, target)
    change = logits[:, -1] - f0
    tau = f0 + ratio * change
    scale = torch.maximum(logits[:, -1].abs(), f0.abs())
    crossed = crosses(logits, tau[:, None], change[:, None], scale[:, None])
    # no crossing (F(x) = F(x'), or r = 1 when the logit never passes F(x) before the end): everything
    # is on the left, k* = m (no Right part) and alpha_star = 1
    first = crossed.to(torch.int8).argmax(1)  # index of the first True (0 when none)
    kstar = torch.where(crossed.any(1), first, torch.full_like(first, n_steps))
    steps = torch.arange(n_steps, device=inputs.device)
    is_left = (steps[None, :] < kstar[:, None]).to(inputs.dtype)
    split = torch.stack([is_left * weights, (1 - is_left) * weights])  # [2, N, m]: one pass, two sums
    sums = path_gradients(model, inputs, target, base, alphas, split, max_batch)
    diff = inputs - base
    left, right = diff * sums[0], diff * sums[1]
    info = _split_info(left, right, kstar, (kstar + 1).clamp(max=n_steps).to(inputs.dtype) / n_steps, change)
    attr = {"left": left, "right": right, "full": left + right}[part]
    return attr, info


def _split_info(left: torch.Tensor, right: torch.Tensor, kstar: torch.Tensor, alpha_star: torch.Tensor,
                change: torch.Tensor) -> dict[str, torch.Tensor]:
    """Split IG's per-sample diagnostics (see :func:`split_ig`)."""
    left_sum, right_sum = left.flatten(1).sum(1), right.flatten(1).sum(1)
    left_norm, right_norm = left.flatten(1).norm(dim=1), right.flatten(1).norm(dim=1)
    return {"alpha_star": alpha_star, "left_sum": left_sum, "right_sum": right_sum,
            "delta": left_sum + right_sum - change, "left_norm": left_norm, "right_norm": right_norm,
            "right_left_norm_ratio": right_norm / left_norm.clamp_min(torch.finfo(left.dtype).tiny),
            "left_steps": kstar.to(left.dtype)}


def _split_ig_shared(model, inputs, target, base, ratio, n_steps, part, max_batch, schedule):
    """Split IG from the family's one (cached) gradient pass; the same sums as the scan-based path."""
    alphas, weights = path_schedule(schedule, n_steps, inputs.device, inputs.dtype)
    fam = split_family(model, inputs, target, base, (ratio, *PAPER_RATIOS), alphas, weights,
                       max_batch=max_batch, schedule_key=schedule)
    diff = inputs - base
    left = diff * fam.left[float(ratio)]
    right = diff * (fam.total - fam.left[float(ratio)])
    kstar = fam.kstar[float(ratio)]
    # k* = K: no step crossed, everything is Left and alpha_star = 1 (as in the scan path)
    alpha_star = torch.where(kstar < n_steps, fam.alphas[kstar.clamp(max=n_steps - 1)], torch.ones_like(fam.f_x))
    info = _split_info(left, right, kstar, alpha_star, fam.f_x - fam.f_base)
    attr = {"left": left, "right": right, "full": left + right}[part]
    return attr, info


@register("expected_gradients", inputs="any", completeness=True,
          description="Expected Gradients (Erion et al. 2021): IG averaged over k references and random alphas",
          needs="references",
          path_start=None,  # a distribution of starts (the references), not one point
          bounds={"k": (1, 128), "max_batch": (1, None)})
def expected_gradients(model, inputs, target, *, k: int = 1, seed: int = 0, max_batch: int = DEFAULT_MAX_BATCH,
                       references: torch.Tensor | None = None):
    """EG = (1/k) sum_j (x - x'_j) * dF_t/dx(x'_j + a_j (x - x'_j)), x'_j drawn from ``references``, a_j ~ U(0, 1).

    References and alphas are drawn from ``seed`` on the CPU (so CPU and CUDA draw the same);
    the references stay where they are and each chunk's are gathered and moved to the inputs' device.
    Returns attributions with the inputs' shape; sum(EG) = F(x) - E[F(x')] in expectation.
    """
    if references is None or len(references) == 0:
        raise ParamError("expected_gradients: needs a reference set (references=<tensor of inputs>, "
                         "the suite's data gives its training split)")
    if tuple(references.shape[1:]) != tuple(inputs.shape[1:]):
        raise ParamError(f"expected_gradients: references have shape {tuple(references.shape[1:])} per item, "
                         f"inputs {tuple(inputs.shape[1:])}")
    n = inputs.shape[0]
    gen = torch.Generator().manual_seed(int(seed))
    ref_idx = torch.randint(len(references), (n * k,), generator=gen).to(references.device)
    alphas = torch.rand((n * k,), generator=gen, dtype=torch.float64).to(inputs.device, inputs.dtype)
    feat = inputs.shape[1:]
    view = (-1,) + (1,) * len(feat)
    sums = torch.zeros((1, n) + tuple(feat), dtype=inputs.dtype, device=inputs.device)
    chunk_refs: dict[str, torch.Tensor] = {}

    def points(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        flat = img * k + step
        refs = references[ref_idx[flat.to(ref_idx.device)]].to(inputs.device, inputs.dtype)
        chunk_refs["refs"] = refs  # reused by weigh() for (x - x'_j)
        return refs + alphas[flat].view(view) * (inputs[img] - refs)

    def weigh(img: torch.Tensor, step: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return ((inputs[img] - chunk_refs["refs"]) * grad / k).unsqueeze(0)

    accumulate_gradients(model, target, n, k, points, weigh, sums, max_batch)
    return sums[0]
