"""Perturbation curves sharing one masking engine: RISE deletion and insertion (Petsiuk et al. 2018),
keep/remove masks (paper A §4.2) and the area between perturbation curves (paper B).

Pixels are ranked by channel-summed attribution (descending; ties broken by pixel index, a
stable sort).  On tabular inputs [N, F] the units ranked and switched are the features (one
feature per step by default); blurred substrates are images only and are refused there before
any work.  Every (image, curve step) pair is one work item; chunks of items are built on the
device from the rank tensor and evaluated in one forward pass each (:mod:`xbench.batching`).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from ..batching import default_max_batch, for_chunks
from ..precision import forward_only
from ..substrates import Substrate, gaussian_blur, make_substrate
from .base import register_metric

Output = Literal["softmax", "logit"]


def pixel_rank(attributions: torch.Tensor) -> torch.Tensor:
    """Rank of every pixel (0 = most important) from channel-summed attributions, shape [N, H*W]."""
    s = attributions.sum(1) if attributions.dim() == 4 else attributions
    s = s.flatten(1)
    order = torch.sort(s, dim=1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(s.shape[1], device=s.device).expand_as(order))
    return rank


def unit_shape(inputs: torch.Tensor) -> tuple[int, ...]:
    """The shape of the units one input is ranked and switched over: (H, W) pixels of an image batch
    [N, C, H, W] (shared by the channels), the features of any other batch [N, *F]."""
    return tuple(inputs.shape[-2:]) if inputs.dim() == 4 else tuple(inputs.shape[1:])


def n_units(inputs: torch.Tensor) -> int:
    """Pixels per image (H x W) or features per tabular input."""
    return math.prod(unit_shape(inputs))


def as_units(flat: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """A per-unit tensor [B, units] shaped to broadcast over inputs like ``inputs``: [B, 1, H, W] or [B, *F]."""
    shape = unit_shape(inputs)
    return flat.view(flat.shape[0], 1, *shape) if inputs.dim() == 4 else flat.view(flat.shape[0], *shape)


def default_steps(inputs: torch.Tensor) -> int:
    """One image row of pixels per step (224 steps of 224 pixels at 224 x 224, as in RISE); one feature
    per step on tabular inputs."""
    return int(inputs.shape[-2]) if inputs.dim() == 4 else n_units(inputs)


def select_output(out: torch.Tensor, target: torch.Tensor, output: str,
                  labels: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row score of model outputs [B, classes]: target ``softmax`` probability, target ``logit``, or
    ``top1`` correctness (1.0 where the argmax equals ``labels``, which default to ``target``)."""
    if output == "softmax":
        return out.softmax(dim=1).gather(1, target[:, None]).squeeze(1)
    if output == "logit":
        return out.gather(1, target[:, None]).squeeze(1)
    if output == "top1":
        ref = target if labels is None else labels
        return (out.argmax(dim=1) == ref).to(out.dtype)
    raise ValueError(f"unknown output {output!r}; expected 'softmax', 'logit' or 'top1'")


def masked_scores(model, inputs: torch.Tensor, target: torch.Tensor, rank: torch.Tensor, counts: torch.Tensor,
                  substrate: torch.Tensor, *, keep_top: bool, output: str = "softmax",
                  labels: torch.Tensor | None = None, max_batch: int | None = None) -> torch.Tensor:
    """The masking engine: scores [N, T] of images whose top-ranked pixels are kept or replaced.

    ``rank`` [N, H*W] (0 = first, see :func:`pixel_rank`; ranks may repeat: a patch's pixels share its rank)
    or [N, F] for tabular inputs [N, F]; ``counts`` [T] or [N, T] feature counts (or rank thresholds).
    Point (i, t) switches the pixels with ``rank < counts[i, t]``: with ``keep_top`` they come from
    the image and the rest from ``substrate``, otherwise they come from ``substrate``.  Every
    (image, point) pair is one work item, built on the device and chunked by :func:`for_chunks`.
    """
    n = inputs.shape[0]
    counts = counts.to(inputs.device)
    counts = counts.expand(n, -1) if counts.dim() == 1 else counts
    t = counts.shape[1]
    rank = as_units(rank, inputs)
    ones = (1,) * (rank.dim() - 1)
    scores = torch.empty((n, t), dtype=inputs.dtype, device=inputs.device)

    def chunk(start: int, stop: int) -> None:
        idx = torch.arange(start, stop, device=inputs.device)
        img, k = idx // t, idx % t
        top = rank[img] < counts[img, k].view(-1, *ones)  # [B, 1, H, W] or [B, F]: the switched units
        x = torch.where(top, inputs[img], substrate[img]) if keep_top else torch.where(top, substrate[img], inputs[img])
        with forward_only():  # inference_mode when speed.inference_mode is on
            out = model(x)
        scores[img, k] = select_output(out, target[img], output, None if labels is None else labels[img])

    for_chunks(chunk, n * t, default_max_batch(inputs) if max_batch is None else max_batch)
    return scores


def perturbation_curves(model, inputs, target, attributions, *, mode: Literal["deletion", "insertion"],
                        steps: int, substrate: torch.Tensor, output: str = "softmax",
                        max_batch: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (fractions [T], scores [N, T]), fractions strictly increasing from 0 to 1.

    As in RISE, each step switches ``ceil(HW / steps)`` more pixels, and the curve stops at the
    first point with every pixel switched: point k has the top ``min(k * ceil(HW / steps), HW)``
    pixels replaced by the substrate (deletion) or copied onto it (insertion), so T =
    ceil(HW / ceil(HW / steps)) + 1, which is ``steps + 1`` when ``steps`` divides HW.  Point 0 is the
    clean (deletion) or fully substituted (insertion) image.  Scores: target softmax probability or logit.
    """
    n_pix = n_units(inputs)
    per_step = math.ceil(n_pix / steps)
    counts = torch.clamp(torch.arange(math.ceil(n_pix / per_step) + 1, device=inputs.device) * per_step, max=n_pix)
    scores = masked_scores(model, inputs, target, pixel_rank(attributions), counts, substrate,
                           keep_top=(mode == "insertion"), output=output, max_batch=max_batch)
    return counts.to(inputs.dtype) / n_pix, scores


def _curve_metric(mode, model, inputs, target, attributions, steps, substrate, output, blur_kernel,
                  blur_sigma, max_batch, seed, return_curves):
    steps = default_steps(inputs) if steps is None else steps
    sub = make_substrate(inputs, substrate, blur_kernel=blur_kernel, blur_sigma=blur_sigma, seed=seed)
    x, curves = perturbation_curves(model, inputs, target, attributions, mode=mode, steps=steps, substrate=sub,
                                    output=output, max_batch=max_batch)
    auc = torch.trapezoid(curves, x, dim=-1)  # over the actual fractions: the last step may be shorter
    return (auc, x, curves) if return_curves else auc


def deletion(model, inputs, target, attributions, *, steps: int | None = None, substrate: Substrate = "zero",
             output: Output = "softmax", blur_kernel: int = 11, blur_sigma: float = 5.0,
             max_batch: int | None = None, seed: int = 0, return_curves: bool = False):
    """RISE deletion AUC per sample, shape [N] (lower is better): the trapezoid area under the
    score curve over the fraction of pixels removed, [0, 1].  With ``return_curves`` also
    ``(fractions [T], curves [N, T])``.  ``steps`` defaults to the image height (RISE: 224 px per
    step at 224 x 224).  RISE's own AUC treats the points as equally spaced; ours integrates over
    the actual fractions, which differs only when ``steps`` does not divide HW (shorter last step)."""
    return _curve_metric("deletion", model, inputs, target, attributions, steps, substrate, output, blur_kernel,
                         blur_sigma, max_batch, seed, return_curves)


def insertion(model, inputs, target, attributions, *, steps: int | None = None,
              substrate: Substrate = "rise_blur", output: Output = "softmax", blur_kernel: int = 11,
              blur_sigma: float = 5.0, max_batch: int | None = None, seed: int = 0,
              return_curves: bool = False):
    """RISE insertion AUC per sample, shape [N] (higher is better), as :func:`deletion` but pixels are
    inserted into the substrate.  Default ``rise_blur``: RISE's blur, the kernel
    ``gaussian_filter(delta 11x11, sigma 5)`` applied with zero padding (:func:`rise_blur`);
    ``blur`` is a sampled 11-tap Gaussian with reflect padding (xbench's earlier default)."""
    return _curve_metric("insertion", model, inputs, target, attributions, steps, substrate, output, blur_kernel,
                         blur_sigma, max_batch, seed, return_curves)


_BOUNDS = {"steps": (1, None), "blur_kernel": (1, None), "blur_sigma": (0.0, None), "max_batch": (1, None)}
IMAGE_SUBSTRATES = ("blur", "rise_blur", "image_mean")


def substrate_fits(model, data_info: dict, params: dict) -> str | None:
    """Blurred and image-mean substrates are defined on images: on other data they are refused before any work."""
    sub, kind = params.get("substrate"), (data_info or {}).get("kind")
    if kind not in (None, "image") and sub in IMAGE_SUBSTRATES:
        return (f"substrate {sub!r} is defined on images and the data is {kind}; "
                "use substrate: zero or uniform")
    return None


def _resolved_steps(ctx, params) -> dict[str, int]:
    """Record the resolved number of steps, not None (one image row of pixels per step by default)."""
    return {"steps": default_steps(ctx.inputs) if params.get("steps") is None else params["steps"]}


register_metric("deletion", deletion, stat="auc", curve="curve", settings=_resolved_steps, bounds=_BOUNDS,
                inputs="any", fits=substrate_fits, data_bounds={"steps": "units"},
                description="RISE deletion: target probability as top pixels are removed; AUC (lower is better)",
                direction="lower", consumes=("attributions",), units="target probability (or logit) x fraction",
                label="target probability (softmax)", x_label="pixels removed (%)", x_scale=100)
register_metric("insertion", insertion, stat="auc", curve="curve", settings=_resolved_steps, bounds=_BOUNDS,
                inputs="any", fits=substrate_fits, data_bounds={"steps": "units"},
                description="RISE insertion: target probability as top pixels are inserted into a blurred image; "
                            "AUC (higher is better)",
                direction="higher", consumes=("attributions",), units="target probability (or logit) x fraction",
                label="target probability (softmax)", x_label="pixels inserted (%)", x_scale=100)


# --- keep / remove masks (paper A §4.2) ----------------------------------------------------------

KEEP_REMOVE_FRACTIONS = tuple(0.01 * 100 ** (i / 15) for i in range(16))
"""``geomspace(0.01, 1, 16)``: the fractions of pixels left unmasked in paper A's curves."""

KEEP_REMOVE_CURVES = ("KPM", "KNM", "KAM", "RPM", "RNM", "RAM")


def scaled_blur(size: int, kernel: int = 51, sigma: float = 41.0, reference: int = 224) -> tuple[int, float]:
    """Blur kernel (odd, pixels) and sigma (pixels) of paper A's substrate scaled from 224 px to ``size`` px."""
    scale = size / reference
    k = max(1, int(round(kernel * scale)))
    return (k if k % 2 == 1 else k + 1), sigma * scale


def keep_remove(model, inputs, target, attributions, *, fractions: list[float] | None = None,
                blur_kernel: int | None = None, blur_sigma: float | None = None,
                labels: torch.Tensor | None = None, max_batch: int | None = None,
                return_curves: bool = False):
    """Paper A's keep/remove curves, as in the authors' ``attribution_metrics.py``; returns
    ``{curve: trapezoid AUC [N]}`` for KPM, KNM, KAM, RPM, RNM, RAM (and ``(fractions [T], {curve: [N, T]})``
    with ``return_curves``).

    Attributions are averaged over channels and oriented (positive: A, negative: -A, absolute: |A|);
    only pixels with oriented value > 0 are ever left unmasked.  At fraction f, k = min(floor(f HW), n_pos)
    pixels stay: the k largest (Keep) or the k smallest positive ones (Remove: the most important are
    removed first); all others are replaced by the blurred image.  Scores: target logit (P, N) and
    top-1 correctness against ``labels`` (A; defaults to ``target``); x = the unmasked fraction f.
    ``blur_kernel``/``blur_sigma`` default to 51 / 41 at 224 px, scaled to the image size.  (The
    authors' kernel is exp(-d^2 / (4 sigma^2)), i.e. an effective sigma of 41 sqrt(2): nearly flat at
    this width either way; pass ``blur_sigma=58`` at 224 px to mirror it.)
    """
    fractions = list(KEEP_REMOVE_FRACTIONS if fractions is None else fractions)
    k_def, s_def = scaled_blur(inputs.shape[-2])
    substrate = gaussian_blur(inputs, k_def if blur_kernel is None else blur_kernel,
                              s_def if blur_sigma is None else blur_sigma)
    a = (attributions.mean(1) if attributions.dim() == 4 else attributions).flatten(1)
    n_pix = a.shape[1]
    fr = torch.tensor(fractions, dtype=torch.float64, device=inputs.device)
    base_counts = torch.floor(fr * n_pix).long()  # int(f * HW) as in the authors' code
    curves: dict[str, torch.Tensor] = {}
    for mode in ("K", "R"):
        for order, v in (("P", a), ("N", -a), ("A", a.abs())):
            pos = v > 0
            counts = torch.minimum(base_counts[None, :], pos.sum(1, keepdim=True))  # [N, T]
            # Keep: largest positive first; Remove: smallest positive first; non-positive pixels never stay.
            score = torch.where(pos, v if mode == "K" else -v, torch.full_like(v, -math.inf))
            curves[f"{mode}{order}M"] = masked_scores(
                model, inputs, target, pixel_rank(score), counts, substrate, keep_top=True,
                output="top1" if order == "A" else "logit", labels=labels, max_batch=max_batch)
    x = fr.to(inputs.dtype)
    aucs = {name: torch.trapezoid(curves[name], x, dim=1) for name in KEEP_REMOVE_CURVES}
    return (aucs, x, {name: curves[name] for name in KEEP_REMOVE_CURVES}) if return_curves else aucs


def _keep_remove_settings(ctx, params) -> dict:
    """The blur and fractions actually used (scaled to the image size) and what accuracy was taken against."""
    k_def, s_def = scaled_blur(ctx.inputs.shape[-2])
    return {"blur_kernel": k_def if params.get("blur_kernel") is None else params["blur_kernel"],
            "blur_sigma": s_def if params.get("blur_sigma") is None else params["blur_sigma"],
            "fractions": list(KEEP_REMOVE_FRACTIONS if params.get("fractions") is None else params["fractions"]),
            "accuracy_against": "target" if ctx.labels is None else "labels"}


register_metric("keep_remove", keep_remove, settings=_keep_remove_settings, inputs="image",  # a blurred substrate
                bounds={"blur_kernel": (1, None), "blur_sigma": (0.0, None), "max_batch": (1, None)},
                description="Paper A §4.2 keep/remove positive/negative/absolute masks over a blurred substrate; "
                            "trapezoid AUCs KPM, KNM, KAM, RPM, RNM, RAM",
                direction="per_stat", consumes=("attributions", "labels"),
                units="logit x fraction (P, N curves); accuracy x fraction (A curves)",
                label="target logit (P, N) / top-1 accuracy (A)", x_label="pixels kept / left unmasked (%)",
                x_scale=100,
                stat_labels={"KPM": "target logit", "KNM": "target logit", "KAM": "top-1 accuracy",
                             "RPM": "target logit", "RNM": "target logit", "RAM": "top-1 accuracy"},
                directions={"KPM": "higher", "KNM": "lower", "KAM": "higher", "RPM": "lower", "RNM": "higher",
                            "RAM": "lower"})


# --- area between perturbation curves (paper B) --------------------------------------------------

ABPC_FRACTIONS = tuple(i / 10 for i in range(1, 10))


def abpc(model, inputs, target, attributions, *, fractions: list[float] | None = None,
         substrate: Substrate = "zero", output: Output = "logit", divisor: float = 10.0, clip: bool = True,
         blur_kernel: int = 11, blur_sigma: float = 5.0, max_batch: int | None = None, seed: int = 0,
         return_curves: bool = False):
    """Paper B's area between perturbation curves per sample, shape [N] (higher is better).

    For each fraction t (default 0.1, ..., 0.9) k = round(t HW) pixels (rounded half to even, as
    Python's and NumPy's round; not floor, which removes one pixel fewer where t HW has a fraction
    >= 0.5 and moves the score by up to ~1e-3 on a 224-px image), ranked by channel-summed
    attribution, are replaced by the substrate (default zero = the zero baseline x'): the lowest k
    give f_L, the top k give f_T.  n(f) = clip((f - F(x')) / (F(x) - F(x')), 0, 1) with F the target
    logit; score = sum_t max(n(f_L) - n(f_T), 0) / ``divisor`` (10 in the paper, for 9 points).
    A sample with F(x) = F(x') gives nan.  With ``return_curves`` also
    ``(fractions [T], {"lowest_removed": n(f_L) [N, T], "top_removed": n(f_T) [N, T]})``.
    """
    fractions = list(ABPC_FRACTIONS if fractions is None else fractions)
    sub = make_substrate(inputs, substrate, blur_kernel=blur_kernel, blur_sigma=blur_sigma, seed=seed)
    n_pix = n_units(inputs)
    k = torch.round(torch.tensor(fractions, dtype=torch.float64, device=inputs.device) * n_pix).long()
    rank = pixel_rank(attributions)
    full = torch.tensor([n_pix], device=inputs.device)
    # One pass gives F(x) (nothing removed), f_T and F(x') (everything replaced by the substrate).
    top = masked_scores(model, inputs, target, rank, torch.cat([k.new_zeros(1), k, full]), sub, keep_top=False,
                        output=output, max_batch=max_batch)
    f_x, f_top, f_base = top[:, :1], top[:, 1:-1], top[:, -1:]
    # Removing the lowest k pixels = keeping the top HW - k (same stable order, so ties split consistently).
    f_low = masked_scores(model, inputs, target, rank, n_pix - k, sub, keep_top=True, output=output,
                          max_batch=max_batch)
    span = f_x - f_base
    span = torch.where(span == 0, torch.full_like(span, math.nan), span)

    def norm(f: torch.Tensor) -> torch.Tensor:
        r = (f - f_base) / span
        return r.clamp(0, 1) if clip else r

    n_low, n_top = norm(f_low), norm(f_top)
    score = (n_low - n_top).clamp_min(0).sum(1) / divisor
    x = torch.tensor(fractions, dtype=inputs.dtype, device=inputs.device)
    return (score, x, {"lowest_removed": n_low, "top_removed": n_top}) if return_curves else score


def _abpc_fractions(ctx, params) -> dict[str, list[float]]:
    return {"fractions": list(ABPC_FRACTIONS if params.get("fractions") is None else params["fractions"])}


register_metric("abpc", abpc, stat="abpc", settings=_abpc_fractions, inputs="any", fits=substrate_fits,
                bounds={"divisor": (0.0, None), "blur_kernel": (1, None), "blur_sigma": (0.0, None),
                        "max_batch": (1, None)},
                description="Paper B's area between perturbation curves (lowest vs top pixels removed), "
                            "clipped normalised logits, /10 (higher is better)",
                direction="higher", consumes=("attributions",), units="normalised logit (0 = baseline, 1 = input)",
                label="normalised logit (0 = baseline, 1 = input)", x_label="fraction t of pixels (%)", x_scale=100)
