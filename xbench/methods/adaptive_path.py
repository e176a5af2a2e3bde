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
from typing import Any, Literal

import torch

from ..batching import DEFAULT_MAX_BATCH, for_chunks
from ..errors import ParamError
from ..substrates import make_baseline
from .base import FROM_BASELINE, input_gradient, register, target_outputs
from .path import accumulate_gradients, path_gradients, path_outputs
from .quadrature import Rule, quadrature

# ----------------------------------------------------------------------------------------------- Guided IG


# PAIR's ``saliency`` GuidedIG ends a step's inner rounds when math.isclose(l1_target, l1_current,
# rel_tol=1e-9, abs_tol=1e-9): the same relative bound here, so the two take the same rounds
GUIDED_IG_REL_TOL = 1e-9


def path_dtype(inputs: torch.Tensor) -> torch.dtype:
    """The dtype Guided IG keeps its path in: float64 (as PAIR does) unless the device has none (MPS)."""
    return inputs.dtype if inputs.device.type == "mps" else torch.float64


def guided_ig_tolerance(l1_target: torch.Tensor, l1_now: torch.Tensor, l1_total: torch.Tensor, n_feat: int,
                        dtype: torch.dtype) -> torch.Tensor:
    """How close (in L1, the input's units) the path must come to a step's L1 target to end the step; per image.

    PAIR's rule, math.isclose(rel_tol=1e-9, abs_tol=1e-9), relative to the larger of the two
    distances (not to the total distance, which is ~1e5 times larger on a 224-px image).  The
    relative part is raised to the rounding of an L1 sum of ``n_feat`` terms in ``dtype``
    (eps * sqrt(n_feat): 4.6e-5 for float32 at 224 x 224 x 3, below 1e-9 for any float64 input), so
    a gap that is only rounding noise never starts another round.  The absolute part, which only
    matters at the last step (target 0), is 1e-9 of the mean |x - x'| per feature instead of PAIR's
    1e-9 in the input's units, so that the rule does not depend on the input's scale.
    """
    rel = max(GUIDED_IG_REL_TOL, torch.finfo(dtype).eps * math.sqrt(n_feat))
    return torch.maximum(rel * torch.maximum(l1_target, l1_now), GUIDED_IG_REL_TOL * l1_total / n_feat)


def _guided_ig_images(model: torch.nn.Module, inputs: torch.Tensor, base: torch.Tensor, target: torch.Tensor,
                      steps: int, fraction: float, max_dist: float) -> torch.Tensor:
    """Guided IG for a batch of images (all moved together, one forward/backward per step); returns [B, *input]
    in :func:`path_dtype` (float64 except on MPS).

    The state is each feature's position a_i in [0, 1] on its own segment x'_i -> x_i, so the
    path point is x' + a * (x - x') and "reached the upper bound" is an exact comparison.  The path
    and the attributions are kept in float64 whatever the model's dtype, as PAIR keeps them: each
    step's choice of features then depends on the model's gradients only, not on float32 rounding
    of L1 sums over all features.
    """
    dtype = path_dtype(inputs)
    diff = (inputs.to(dtype) - base.to(dtype)).flatten(1)
    absd = diff.abs()
    movable = absd > 0  # features equal to the baseline never move and get no attribution
    a = torch.zeros_like(diff)
    attr = torch.zeros_like(diff)
    l1_total = absd.sum(1)
    n_feat = diff.shape[1]
    kth = int(fraction * (n_feat - 1)) + 1  # NumPy's 'lower' quantile, as a 1-based k-th smallest
    max_inner = math.ceil(1.0 / max(fraction, 1e-6)) + 3  # each unfinished round saturates >= a fraction
    inf = torch.tensor(float("inf"), dtype=dtype, device=diff.device)
    flat_base = base.to(dtype).flatten(1)
    for step in range(steps):
        grad, _ = input_gradient(model, (flat_base + a * diff).view_as(inputs).to(inputs.dtype), target)
        grad = grad.flatten(1).to(dtype)
        absg = grad.abs()
        alpha = (step + 1) / steps
        lo, hi = max(alpha - max_dist, 0.0), min(alpha + max_dist, 1.0)
        l1_target = l1_total * (1 - alpha)
        active = torch.ones_like(l1_total, dtype=torch.bool)
        for _ in range(max_inner):
            a_old = a
            a = torch.where(movable & (a < lo), torch.full_like(a, lo), a)  # features left behind catch up
            l1_now = (absd * (1 - a)).sum(1)
            tol = guided_ig_tolerance(l1_target, l1_now, l1_total, n_feat, dtype)
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
    return attr.view(inputs.shape)


@register("guided_ig", inputs="any", completeness=True,
          description="Guided IG (Kapishnikov et al. 2021): adaptive path, low-gradient features first",
          path_start=FROM_BASELINE,
          bounds={"n_steps": (1, 100000), "fraction": (0.0, 1.0), "max_dist": (0.0, 1.0), "max_batch": (1, None)})
def guided_ig(model, inputs, target, *, n_steps: int = 200, fraction: float = 0.25, max_dist: float = 0.02,
              baseline: Any = "zero", max_batch: int = DEFAULT_MAX_BATCH, data_info: dict | None = None):
    """Guided IG attributions and ``info['delta']`` = sum(A) - (F(x) - F(x')) per sample (logits).

    At step k (alpha = k/n) each feature's position is kept within [alpha - max_dist,
    alpha + max_dist]; the ``fraction`` of features with the smallest |gradient| move first until
    the L1 distance to x is (1 - alpha) of the total.  ``max_dist = 0`` is IG on the straight line.
    The steps are sequential; images are batched (``max_batch`` images per forward pass).
    A step ends when the L1 distance is within :func:`guided_ig_tolerance` of its target (PAIR's
    rule: 1e-9 relative); the path is kept in float64 for any model dtype (as PAIR does), so a
    float32 model gives PAIR's path for that model.  Guided IG orders features by |gradient|: a
    model's float32 and float64 gradients can order them differently, so its float32 and float64
    maps may differ by far more than rounding.
    """
    base = make_baseline(inputs, baseline, data_info=data_info)
    attr = torch.zeros(inputs.shape, dtype=path_dtype(inputs), device=inputs.device)

    def chunk(start: int, stop: int) -> None:
        out = _guided_ig_images(model, inputs[start:stop], base[start:stop], target[start:stop],
                                n_steps, fraction, max_dist)
        attr[start:stop] = out

    for_chunks(chunk, inputs.shape[0], max_batch)
    change = target_outputs(model, inputs, target) - target_outputs(model, base, target)
    return attr.to(inputs.dtype), {"delta": (attr.flatten(1).sum(1) - change).to(inputs.dtype)}


# ----------------------------------------------------------------------------------------------- IDG


def slope_samples(logits: torch.Tensor, n_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """IDG's adaptive sampling: place ``n_samples`` alphas per image where the logit curve is steep.

    ``logits`` [N, K] are the target logits at K uniform points linspace(0, 1, K).  Each of the
    K - 1 segments gets samples in proportion to its share of |slope| (largest remainders take the
    leftovers), so a flat segment may get none.  The samples still cover all of [0, 1]: a sampled
    segment's *cell* runs from its left end to the next sampled segment (the first cell starts at
    0, the last ends at 1), and a cell with c samples is sampled at the midpoints of c equal
    sub-intervals, each with weight cell length / c.  Returns (alphas [N, n], weights [N, n]); the
    weights of every row sum to 1, so a constant integrand is integrated exactly.
    """
    n, k = logits.shape
    segs = k - 1
    seg = 1.0 / segs
    slopes = ((logits[:, 1:] - logits[:, :-1]) / seg).abs()
    total = slopes.sum(1, keepdim=True)
    # a logit curve with no change is sampled uniformly (every segment the same share)
    # every segment gets one sample when there are enough (defensive sampling: a segment whose slope is
    # small at the coarse points is still evaluated); the rest go by the share of |slope|
    floor = 1 if n_samples >= segs else 0
    extra = n_samples - floor * segs
    share = torch.where(total > 0, slopes / total.clamp_min(1e-30), torch.full_like(slopes, 1.0 / segs)) * extra
    counts = share.floor().long() + floor
    share = share + floor
    left = n_samples - counts.sum(1, keepdim=True)
    # largest remainder: rank the fractional parts, the top `left` segments get one more sample
    order = torch.argsort(share - counts, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(segs, device=logits.device).expand(n, -1))
    counts = counts + (rank < left).long()
    # cells: sampled segment s covers [s, next sampled segment) (in segment units); the first starts at 0
    idx = torch.arange(segs, device=logits.device).expand(n, -1)
    sampled_idx = torch.where(counts > 0, idx, torch.full_like(idx, segs))
    nxt = torch.cat([sampled_idx[:, 1:], torch.full_like(sampled_idx[:, :1], segs)], 1)
    nxt = nxt.flip(1).cummin(1).values.flip(1)  # index of the next sampled segment after s (segs when none)
    first = sampled_idx.amin(1, keepdim=True)
    cell_lo = torch.where(idx == first, torch.zeros_like(idx), idx).to(logits.dtype) * seg
    cell_hi = nxt.to(logits.dtype) * seg
    ends = counts.cumsum(1)  # [N, K-1]
    sample = torch.arange(n_samples, device=logits.device).expand(n, -1).contiguous()
    which = torch.searchsorted(ends, sample, right=True)  # segment of each sample
    starts = ends - counts
    c = counts.gather(1, which).to(logits.dtype)
    offset = (sample - starts.gather(1, which)).to(logits.dtype)
    lo, width = cell_lo.gather(1, which), (cell_hi - cell_lo).gather(1, which)
    return lo + (offset + 0.5) / c * width, width / c


@register("idg", inputs="any", completeness=False,
          description="Integrated Decision Gradients (Walker et al. 2023): slope-weighted, adaptive IG",
          path_start=FROM_BASELINE,
          bounds={"n_steps": (2, 100000), "max_batch": (1, None)})
def idg(model, inputs, target, *, n_steps: int = 50, baseline: Any = "zero", max_batch: int = DEFAULT_MAX_BATCH,
        data_info: dict | None = None):
    """IDG_i = (x_i - x'_i) * integral of dF/dx_i(x' + a (x - x')) * dF/da da, in logits^2.

    dF/da = grad . (x - x') is exact (from the same backward pass).  A forward pass at
    ``n_steps // 2 + 1`` uniform points gives the logit curve; the ``n_steps`` gradient samples
    are then placed by :func:`slope_samples` (one per coarse segment, the rest where |dF/da| is
    largest; weights cover [0, 1] and sum to 1).  No completeness: sum(IDG) = integral of (dF/da)^2.
    """
    base = make_baseline(inputs, baseline, data_info=data_info)
    coarse = torch.linspace(0, 1, n_steps // 2 + 1, device=inputs.device, dtype=inputs.dtype)
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


def truncated_gaussian_matrices(sigmas: torch.Tensor, size: int, truncate: float = 4.0
                                ) -> tuple[torch.Tensor, torch.Tensor]:
    """1-D Gaussian blur with zero padding as matrices, and their derivative d/dsigma; each [K, size, size].

    The kernel is SciPy's ``gaussian_filter1d`` kernel (``mode='constant'``, the one PAIR's Blur IG
    uses): exp(-k^2 / (2 sigma^2)) for |k| <= r = int(truncate sigma + 0.5), normalised over those
    taps; taps that fall outside the image are dropped (zero padding), so borders darken.  Row i of
    the matrix holds the kernel centred on pixel i.  ``sigma = 0`` is the identity.  The derivative
    is exact for the kernel's radius at that sigma (the radius is piecewise constant in sigma).
    Computed in float64, returned in ``sigmas``' dtype.
    """
    sig = sigmas.detach().to(torch.float64)
    radius = torch.floor(truncate * sig + 0.5)
    d = (torch.arange(size, device=sig.device)[None, :] - torch.arange(size, device=sig.device)[:, None])
    r_max = max(int(radius.max().item()) if len(sig) else 0, size)
    k = torch.arange(-r_max, r_max + 1, device=sig.device, dtype=torch.float64)
    s = sig.clamp_min(1e-12)[:, None]
    w = torch.exp(-(k[None] ** 2) / (2 * s**2)) * (k[None].abs() <= radius[:, None])
    w = w / w.sum(1, keepdim=True)
    second = (w * k[None] ** 2).sum(1)  # sum_k w_k k^2, for d/dsigma of the normalisation
    g = w[:, d + r_max]  # [K, size, size]
    dg = g * (d[None].to(torch.float64) ** 2 - second[:, None, None]) / s[:, :, None] ** 3
    zero = sig == 0
    g = torch.where(zero[:, None, None], torch.eye(size, dtype=torch.float64, device=sig.device), g)
    dg = torch.where(zero[:, None, None], torch.zeros_like(dg), dg)
    return g.to(sigmas.dtype), dg.to(sigmas.dtype)


class ZeroPaddedScaleSpace:
    """Blurs of a batch of images at a fixed list of sigmas with zero padding (PAIR's Blur IG), and d/dsigma.

    ``blur(img, step)`` / ``dblur(img, step)`` take index tensors [B] into the images and into
    ``sigmas``; each is two batched matrix products with :func:`truncated_gaussian_matrices`.
    """

    def __init__(self, images: torch.Tensor, sigmas: torch.Tensor):
        h, w = images.shape[-2:]
        self.images = images
        self.gh, self.dgh = truncated_gaussian_matrices(sigmas.to(images), h)
        self.gw, self.dgw = truncated_gaussian_matrices(sigmas.to(images), w)

    def blur(self, img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """Images ``img`` blurred with ``sigmas[step]``; returns [B, C, H, W]."""
        return self.gh[step].unsqueeze(1) @ self.images[img] @ self.gw[step].unsqueeze(1).transpose(-1, -2)

    def dblur(self, img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """d/dsigma of :meth:`blur` (product rule over the two separable passes); returns [B, C, H, W]."""
        return self.blur_and_dblur(img, step)[1]

    def blur_and_dblur(self, img: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(:meth:`blur`, :meth:`dblur`) in five matrix products instead of six: the vertical pass G_h x
        serves the blur and the second term of the product rule.  Bit-identical to the two methods."""
        x = self.images[img]
        gh, gw = self.gh[step].unsqueeze(1), self.gw[step].unsqueeze(1).transpose(-1, -2)
        dgh, dgw = self.dgh[step].unsqueeze(1), self.dgw[step].unsqueeze(1).transpose(-1, -2)
        hx = gh @ x
        return hx @ gw, dgh @ x @ gw + hx @ dgw


Border = Literal["zero", "reflect"]


def blurred_start(inputs: torch.Tensor, max_sigma: float, border: str = "zero") -> torch.Tensor:
    """Blur IG's path start: ``inputs`` blurred with sigma ``max_sigma`` (pixels) and the given border."""
    n = inputs.shape[0]
    idx = torch.arange(n, device=inputs.device)
    if border == "zero":
        space = ZeroPaddedScaleSpace(inputs, torch.tensor([float(max_sigma)], device=inputs.device))
        return space.blur(idx, torch.zeros(n, dtype=torch.long, device=inputs.device))
    return GaussianScaleSpace(inputs).blur(idx, torch.full((n,), float(max_sigma)).to(inputs))


def _blur_ig_start(inputs: torch.Tensor, params: dict, data_info: dict | None = None) -> torch.Tensor:
    if inputs.dim() != 4:  # blur_ig refuses such inputs itself; the start is undefined
        raise ParamError(f"blur_ig: needs image inputs [N, C, H, W], got shape {tuple(inputs.shape)}")
    return blurred_start(inputs, params.get("max_sigma", 50.0), params.get("border", "zero"))


@register("blur_ig", inputs="image", completeness=True,
          description="Blur IG (Xu et al. 2020): IG along a Gaussian scale-space path from blurred to image",
          path_start=_blur_ig_start,
          bounds={"max_sigma": (0.0, None), "n_steps": (1, 100000), "max_batch": (1, None)})
def blur_ig(model, inputs, target, *, max_sigma: float = 50.0, n_steps: int = 100, method: Rule = "riemann_left",
            border: Border = "zero", max_batch: int = DEFAULT_MAX_BATCH):
    """A = -integral_0^max_sigma dx(s)/ds * dF_t/dx(x(s)) ds, x(s) = x blurred with sigma s (pixels).

    ``border``: ``zero`` (default; the authors' code, PAIR's ``saliency.BlurIG``: SciPy's Gaussian
    filter in constant mode, kernel truncated at 4 sigma, so the path starts near 0 for large
    sigma) or ``reflect`` (an exact Gaussian with half-sample reflecting borders in the DCT basis,
    whose path starts near each channel's mean).  The derivative dx/ds is exact (PAIR takes a
    forward difference with step 0.01).  Sum(A) = F(x) - F(x(max_sigma)) up to quadrature error;
    ``info['delta']`` is that gap (logits).  ``method`` is the quadrature rule over sigma (left
    Riemann, as in the authors' code, by default).  Images only ([N, C, H, W]).
    """
    if inputs.dim() != 4:
        raise ParamError(f"blur_ig: needs image inputs [N, C, H, W], got shape {tuple(inputs.shape)}")
    alphas, weights = quadrature(method, n_steps, inputs.device, inputs.dtype)
    sigmas, dsig = alphas * max_sigma, weights * max_sigma
    n = inputs.shape[0]
    sums = torch.zeros((1,) + tuple(inputs.shape), dtype=inputs.dtype, device=inputs.device)
    if border == "zero":
        zspace = ZeroPaddedScaleSpace(inputs, sigmas)
        pending: dict[str, torch.Tensor] = {}

        def blur(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
            # the chunk's derivative comes from the same products; weigh() below takes it
            b, pending["dblur"] = zspace.blur_and_dblur(img, step)
            return b

        def dblur(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
            return pending.pop("dblur")
    else:
        space = GaussianScaleSpace(inputs)

        def blur(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
            return space.blur(img, sigmas[step])

        def dblur(img: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
            return space.dblur(img, sigmas[step])

    def weigh(img: torch.Tensor, step: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return (-dsig[step].view(-1, 1, 1, 1) * dblur(img, step) * grad).unsqueeze(0)

    accumulate_gradients(model, target, n, n_steps, blur, weigh, sums, max_batch)
    attr = sums[0]
    start = blurred_start(inputs, max_sigma, border)
    change = target_outputs(model, inputs, target) - target_outputs(model, start, target)
    return attr, {"delta": attr.flatten(1).sum(1) - change}
