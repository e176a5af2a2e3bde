"""Path methods whose path or sampling adapts to the model: Guided IG, Integrated Decision Gradients, Blur IG.

The natural competitors of Split IG (paper B).  Implemented from the papers' definitions:
- Guided IG (Kapishnikov et al. 2021): the path moves, at every step, the features with the
  smallest |gradient| first, staying within ``max_dist`` (in alpha) of the straight line.
- IDG (Walker et al. 2023): gradients weighted by the logit's slope dF/da along the straight
  path, with more samples where the logit changes fastest.
- Blur IG (Xu et al. 2020): the path runs from a strongly blurred image to the image through
  Gaussian blurs of decreasing sigma.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..batching import DEFAULT_MAX_BATCH, for_chunks
from ..errors import ParamError
from .base import input_gradient, register, target_outputs
from .baselines import make_baseline
from .path import accumulate_gradients, path_gradients, path_outputs
from .quadrature import Rule, quadrature

# ----------------------------------------------------------------------------------------------- Guided IG


def _guided_ig_images(model: torch.nn.Module, inputs: torch.Tensor, base: torch.Tensor, target: torch.Tensor,
                      steps: int, fraction: float, max_dist: float) -> torch.Tensor:
    """Guided IG for a batch of images (all moved together, one forward/backward per step); returns [B, *input].

    The state is each feature's position a_i in [0, 1] on its own segment x'_i -> x_i, so the
    path point is x' + a * (x - x') and "reached the upper bound" is an exact comparison.
    """
    diff = (inputs - base).flatten(1)
    absd = diff.abs()
    movable = absd > 0  # features equal to the baseline never move and get no attribution
    a = torch.zeros_like(diff)
    attr = torch.zeros_like(diff)
    l1_total = absd.sum(1)
    tol = 1e-5 * l1_total  # float32 sums over many features: relative rounding ~1e-6
    n_feat = diff.shape[1]
    kth = int(fraction * (n_feat - 1)) + 1  # NumPy's 'lower' quantile, as a 1-based k-th smallest
    max_inner = math.ceil(1.0 / max(fraction, 1e-6)) + 3  # each unfinished round saturates >= a fraction
    inf = torch.tensor(float("inf"), dtype=diff.dtype, device=diff.device)
    flat_base = base.flatten(1)
    for step in range(steps):
        grad, _ = input_gradient(model, (flat_base + a * diff).view_as(inputs), target)
        grad = grad.flatten(1)
        absg = grad.abs()
        alpha = (step + 1) / steps
        lo, hi = max(alpha - max_dist, 0.0), min(alpha + max_dist, 1.0)
        l1_target = l1_total * (1 - alpha)
        active = torch.ones_like(l1_total, dtype=torch.bool)
        for _ in range(max_inner):
            a_old = a
            a = torch.where(movable & (a < lo), torch.full_like(a, lo), a)  # features left behind catch up
            l1_now = (absd * (1 - a)).sum(1)
            active = active & ((l1_now - l1_target).abs() > tol)
            # pick the features with the smallest |gradient| among those not yet at the upper bound
            key = torch.where(movable & (a < hi), absg, inf)
            threshold = key.kthvalue(kth, dim=1).values
            sel = (key <= threshold[:, None]) & torch.isfinite(key) & active[:, None]
            l1_sel = (absd * (hi - a) * sel).sum(1)
            gamma = torch.where(l1_sel > 0, (l1_now - l1_target) / l1_sel.clamp_min(1e-30), inf).clamp_min(0)
            moved = torch.where(gamma[:, None] > 1, torch.full_like(a, hi), a + gamma.clamp(max=1)[:, None] * (hi - a))
            a = torch.where(sel, moved, a)
            attr += (a - a_old) * diff * grad
            active = active & (gamma > 1)
            if not bool(active.any()):  # one sync per inner round: the loop length is data-dependent
                break
    return attr.view_as(inputs)


@register("guided_ig", description="Guided IG (Kapishnikov et al. 2021): adaptive path, low-gradient features first",
          paper="Kapishnikov, Venugopalan, Avci, Wedin, Terry, Bolukbasi 2021", passes="n_steps",
          bounds={"n_steps": (1, 100000), "fraction": (0.0, 1.0), "max_dist": (0.0, 1.0), "max_batch": (1, None)})
def guided_ig(model, inputs, target, *, n_steps: int = 200, fraction: float = 0.25, max_dist: float = 0.02,
              baseline: Any = "zero", max_batch: int = DEFAULT_MAX_BATCH, data_info: dict | None = None):
    """Guided IG attributions and ``info['delta']`` = sum(A) - (F(x) - F(x')) per sample (logits).

    At step k (alpha = k/n) each feature's position is kept within [alpha - max_dist,
    alpha + max_dist]; the ``fraction`` of features with the smallest |gradient| move first until
    the L1 distance to x is (1 - alpha) of the total.  ``max_dist = 0`` is IG on the straight line.
    The steps are sequential; images are batched (``max_batch`` images per forward pass).
    """
    base = make_baseline(inputs, baseline, data_info=data_info)
    attr = torch.zeros_like(inputs)

    def chunk(start: int, stop: int) -> None:
        out = _guided_ig_images(model, inputs[start:stop], base[start:stop], target[start:stop],
                                n_steps, fraction, max_dist)
        attr[start:stop] = out

    for_chunks(chunk, inputs.shape[0], max_batch)
    change = target_outputs(model, inputs, target) - target_outputs(model, base, target)
    return attr, {"delta": attr.flatten(1).sum(1) - change}


# ----------------------------------------------------------------------------------------------- IDG


def slope_samples(logits: torch.Tensor, n_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """IDG's adaptive sampling: place ``n_samples`` alphas per image where the logit curve is steep.

    ``logits`` [N, K] are the target logits at K uniform points linspace(0, 1, K).  Each of the
    K - 1 segments gets samples in proportion to its min-max normalised slope (largest remainders
    take the leftovers); a segment with c samples is sampled at its left end plus multiples of
    length / c, each with weight length / c.  Returns (alphas [N, n], weights [N, n], sum 1 per row).
    """
    n, k = logits.shape
    seg = 1.0 / (k - 1)
    slopes = (logits[:, 1:] - logits[:, :-1]) / seg
    lo, hi = slopes.amin(1, keepdim=True), slopes.amax(1, keepdim=True)
    # a straight logit line (slopes equal up to float rounding, ~1e-6 relative) is sampled uniformly;
    # otherwise min-max normalisation would blow rounding noise up into a sampling pattern
    flat = (hi - lo) <= 1e-4 * slopes.abs().amax(1, keepdim=True)
    norm = torch.where(flat, torch.ones_like(slopes), (slopes - lo) / (hi - lo).clamp_min(1e-30))
    share = norm / norm.sum(1, keepdim=True) * n_samples
    counts = share.floor().long()
    left = n_samples - counts.sum(1, keepdim=True)
    # largest remainder: rank the fractional parts, the top `left` segments get one more sample
    order = torch.argsort(share - counts, dim=1, descending=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(k - 1, device=logits.device).expand(n, -1))
    counts = counts + (rank < left).long()
    ends = counts.cumsum(1)  # [N, K-1]
    sample = torch.arange(n_samples, device=logits.device).expand(n, -1).contiguous()
    which = torch.searchsorted(ends, sample, right=True)  # segment of each sample
    starts = ends - counts
    c = counts.gather(1, which).to(logits.dtype)
    offset = (sample - starts.gather(1, which)).to(logits.dtype)
    alphas = (which.to(logits.dtype) + offset / c) * seg
    return alphas, seg / c


@register("idg", description="Integrated Decision Gradients (Walker et al. 2023): slope-weighted, adaptive IG",
          paper="Walker, Jha, Chen, Ewetz 2023", passes="n_steps forward + n_steps forward/backward",
          bounds={"n_steps": (2, 100000), "max_batch": (1, None)})
def idg(model, inputs, target, *, n_steps: int = 50, baseline: Any = "zero", max_batch: int = DEFAULT_MAX_BATCH,
        data_info: dict | None = None):
    """IDG_i = (x_i - x'_i) * integral of dF/dx_i(x' + a (x - x')) * dF/da da, in logits^2.

    dF/da = grad . (x - x') is exact (from the same backward pass).  A forward pass at
    ``n_steps`` uniform points gives the logit curve; the ``n_steps`` gradient samples are then
    placed by :func:`slope_samples`.  No completeness: sum(IDG) = integral of (dF/da)^2.
    """
    base = make_baseline(inputs, baseline, data_info=data_info)
    coarse = torch.linspace(0, 1, n_steps, device=inputs.device, dtype=inputs.dtype)
    logits = path_outputs(model, inputs, target, base, coarse, max_batch)
    alphas, weights = slope_samples(logits, n_steps)
    sums = path_gradients(model, inputs, target, base, alphas, weights, max_batch, by_slope=True)[0]
    return (inputs - base) * sums


# ----------------------------------------------------------------------------------------------- Blur IG


def _dct_matrix(size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Orthonormal DCT-II matrix [size, size]: coefficients = M @ signal, signal = M.T @ coefficients."""
    n = torch.arange(size, device=device, dtype=torch.float64)
    m = torch.cos(math.pi * n[:, None] * (n[None, :] + 0.5) / size) * math.sqrt(2.0 / size)
    m[0] /= math.sqrt(2.0)
    return m.to(dtype)


class GaussianScaleSpace:
    """Gaussian blurs of a batch of images at any sigma (pixels), and their derivative d/dsigma.

    Blurring with reflecting borders is diagonal in the DCT-II basis: coefficient (u, v) is
    multiplied by exp(-sigma^2 (w_u^2 + w_v^2) / 2), w_u = pi u / H.  That gives the exact blur
    for any sigma (no kernel truncated at the image border) and an exact d/dsigma for Blur IG.
    """

    def __init__(self, images: torch.Tensor):
        h, w = images.shape[-2:]
        self.mh = _dct_matrix(h, images.device, images.dtype)
        self.mw = _dct_matrix(w, images.device, images.dtype)
        self.coef = self.mh @ images @ self.mw.T  # [N, C, H, W] DCT coefficients
        wu = math.pi * torch.arange(h, device=images.device, dtype=images.dtype) / h
        wv = math.pi * torch.arange(w, device=images.device, dtype=images.dtype) / w
        self.freq2 = wu[:, None] ** 2 + wv[None, :] ** 2  # [H, W], rad^2 / pixel^2

    def blur(self, img: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Images ``img`` (indices [B]) blurred with ``sigma`` [B]; returns [B, C, H, W]."""
        gain = torch.exp(-0.5 * sigma.view(-1, 1, 1, 1) ** 2 * self.freq2)
        return self.mh.T @ (self.coef[img] * gain) @ self.mw

    def dblur(self, img: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """d/dsigma of :meth:`blur`, per pixel; returns [B, C, H, W]."""
        s = sigma.view(-1, 1, 1, 1)
        gain = -s * self.freq2 * torch.exp(-0.5 * s**2 * self.freq2)
        return self.mh.T @ (self.coef[img] * gain) @ self.mw


@register("blur_ig", description="Blur IG (Xu et al. 2020): IG along a Gaussian scale-space path from blurred to image",
          paper="Xu, Venugopalan, Sundararajan 2020", passes="n_steps",
          bounds={"max_sigma": (0.0, None), "n_steps": (1, 100000), "max_batch": (1, None)})
def blur_ig(model, inputs, target, *, max_sigma: float = 50.0, n_steps: int = 100, method: Rule = "riemann_left",
            max_batch: int = DEFAULT_MAX_BATCH):
    """A = -integral_0^max_sigma dx(s)/ds * dF_t/dx(x(s)) ds, x(s) = x blurred with sigma s (pixels).

    Sum(A) = F(x) - F(x(max_sigma)) up to quadrature error; ``info['delta']`` is that gap (logits).
    ``method`` is the quadrature rule over sigma (left Riemann, as in the authors' code, by
    default).  Images only ([N, C, H, W]).
    """
    if inputs.dim() != 4:
        raise ParamError(f"blur_ig: needs image inputs [N, C, H, W], got shape {tuple(inputs.shape)}")
    space = GaussianScaleSpace(inputs)
    alphas, weights = quadrature(method, n_steps, inputs.device, inputs.dtype)
    sigmas, dsig = alphas * max_sigma, weights * max_sigma
    n = inputs.shape[0]
    sums = torch.zeros((1,) + tuple(inputs.shape), dtype=inputs.dtype, device=inputs.device)

    def points(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return space.blur(img, sigmas[step])

    def weigh(img: torch.Tensor, step: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return (-dsig[step].view(-1, 1, 1, 1) * space.dblur(img, sigmas[step]) * grad).unsqueeze(0)

    accumulate_gradients(model, target, n, n_steps, points, weigh, sums, max_batch)
    attr = sums[0]
    blurred = space.blur(torch.arange(n, device=inputs.device), torch.full((n,), max_sigma).to(inputs))
    change = target_outputs(model, inputs, target) - target_outputs(model, blurred, target)
    return attr, {"delta": attr.flatten(1).sum(1) - change}
