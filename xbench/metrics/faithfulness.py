"""The field's faithfulness metrics beyond pixel-level deletion: faithfulness correlation (Bhatt et al. 2020),
faithfulness estimate (Alvarez-Melis & Jaakkola 2018), monotonicity (Arya et al. 2019; Nguyen & Martínez
2020), selectivity (Montavon et al. 2018), region perturbation (Samek et al. 2017) and IROF (Rieger & Hansen
2020).  ROAD lives in :mod:`xbench.metrics.road`.

A *feature* is a pixel of an image [N, C, H, W] (attributions summed over channels, every channel of the pixel
switched together, as in :mod:`xbench.metrics.perturbation`) or a column of a table [N, F].  Cumulative curves
(monotonicity, selectivity, region perturbation, IROF) run on the masking engine
:func:`~xbench.metrics.perturbation.masked_scores`, with a patch's or superpixel's rank given to all its
pixels; one-off perturbations (correlation, estimate, Nguyen) build each (image, perturbation) item on the
device in :func:`item_scores`.  Random draws are seeded per sample (:mod:`xbench.metrics.sample_noise`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch

from ..batching import default_max_batch, for_chunks
from ..errors import ParamError
from ..precision import forward_only
from ..substrates import Substrate, make_substrate
from . import sample_noise
from .axioms import patch_grid
from .base import pearson, register_metric
from .perturbation import masked_scores, pixel_rank, select_output

Output = Literal["softmax", "logit"]


# ---- features ---------------------------------------------------------------------------------------------
def require_inputs(metric: str, inputs: torch.Tensor, image_only: bool) -> None:
    """Refuse inputs the metric is not defined on, in one line, before any work."""
    if inputs.dim() == 4 or (inputs.dim() == 2 and not image_only):
        return
    allowed = "images [N, C, H, W]" if image_only else "images [N, C, H, W] or tables [N, F]"
    raise ParamError(f"inputs: '{metric}' got inputs of shape {tuple(inputs.shape)}; allowed: {allowed}")


def feature_attributions(attributions: torch.Tensor) -> torch.Tensor:
    """Attribution per feature [N, P]: summed over channels for images (P = H*W), as is for tables (P = F)."""
    return (attributions.sum(1) if attributions.dim() == 4 else attributions).flatten(1)


def n_features(inputs: torch.Tensor) -> int:
    """Pixels of an image or columns of a table."""
    return int(inputs.shape[-2] * inputs.shape[-1]) if inputs.dim() == 4 else int(inputs.shape[1])


def feature_mask(inputs: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """A feature mask [B, P] shaped to broadcast over inputs like ``inputs`` ([B, 1, H, W] or [B, F])."""
    return removed.view((-1, 1) + tuple(inputs.shape[-2:])) if inputs.dim() == 4 else removed


def item_scores(model, inputs: torch.Tensor, target: torch.Tensor, n_items: int,
                make_input: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, output: str,
                max_batch: int | None = None) -> torch.Tensor:
    """Scores [N, n_items] of the inputs ``make_input(img [B], k [B]) -> x [B, ...]`` builds for every
    (image, item) pair, image-major, chunked by :func:`for_chunks` (one forward pass per chunk)."""
    n = inputs.shape[0]
    scores = torch.empty((n, n_items), dtype=inputs.dtype, device=inputs.device)

    def chunk(start: int, stop: int) -> None:
        idx = torch.arange(start, stop, device=inputs.device)
        img, k = idx // n_items, idx % n_items
        x = make_input(img, k)
        with forward_only():
            out = model(x)
        scores[img, k] = select_output(out, target[img], output)

    for_chunks(chunk, n * n_items, default_max_batch(inputs) if max_batch is None else max_batch)
    return scores


def clean_scores(model, inputs, target, output: str, max_batch: int | None) -> torch.Tensor:
    """Scores of the unperturbed inputs [N]."""
    return item_scores(model, inputs, target, 1, lambda img, k: inputs[img], output=output, max_batch=max_batch)[:, 0]


def group_sums(values: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Sum of ``values`` [N, P] per group id ``groups`` [N, P] (ids in [0, n_groups)), float64 [N, n_groups]."""
    out = torch.zeros((values.shape[0], n_groups), dtype=torch.float64, device=values.device)
    return out.scatter_add_(1, groups, values.double())


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation along the last dimension (ties get their average rank, as SciPy's)."""
    def ranks(v: torch.Tensor) -> torch.Tensor:
        less = (v[..., None, :] < v[..., :, None]).sum(-1)
        equal = (v[..., None, :] == v[..., :, None]).sum(-1)
        return less.double() + (equal.double() + 1) / 2

    return pearson(ranks(a), ranks(b))


def default_group(inputs: torch.Tensor) -> int:
    """Features per step by default: one image row's worth of pixels (W), or one column of a table."""
    return int(inputs.shape[-1]) if inputs.dim() == 4 else 1


def _substrate(inputs, substrate, blur_kernel, blur_sigma, seed):
    return make_substrate(inputs, substrate, blur_kernel=blur_kernel, blur_sigma=blur_sigma, seed=seed)


# ---- faithfulness correlation (Bhatt et al. 2020) ---------------------------------------------------------
def default_subset_size(inputs: torch.Tensor) -> int:
    """Features per random subset by default: one image row (224 at 224 x 224, Quantus' default), or a quarter
    of a table's columns."""
    return int(inputs.shape[-1]) if inputs.dim() == 4 else max(1, int(inputs.shape[1]) // 4)


def top_mask(values: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask [B, P] of the ``k`` largest of each row of ``values`` [B, P], ties to the lower index:
    ``pixel_rank(values) < k`` by a selection (``kthvalue``) instead of a full sort of every row."""
    p = values.shape[1]
    if k >= p:
        return torch.ones_like(values, dtype=torch.bool)
    if k <= 0:
        return torch.zeros_like(values, dtype=torch.bool)
    kth = torch.kthvalue(values, p - k + 1, dim=1, keepdim=True).values  # the k-th largest
    above = values > kth
    tied = values == kth
    room = k - above.sum(1, keepdim=True)  # how many of the tied values are in, lowest indices first
    return above | (tied & (tied.cumsum(1) <= room))


def random_subsets(keys: torch.Tensor, runs: torch.Tensor, n_feat: int, size: int) -> torch.Tensor:
    """Boolean masks [B, P] of ``size`` distinct features, drawn per (sample key, run index): the features
    with the ``size`` largest draws."""
    return top_mask(sample_noise.uniform(keys, runs, n_feat), size)


def faithfulness_correlation(model, inputs, target, attributions, *, n_subsets: int = 100,
                             subset_size: int | None = None, substrate: Substrate = "zero", output: Output = "logit",
                             blur_kernel: int = 11, blur_sigma: float = 5.0, seed: int = 0,
                             max_batch: int | None = None) -> torch.Tensor:
    """Faithfulness correlation per sample [N] (Pearson, higher is better).

    For ``n_subsets`` random subsets S of ``subset_size`` features (default :func:`default_subset_size`),
    drawn per sample, S is replaced by the substrate; the value is the Pearson correlation between
    sum_{i in S} A_i and F(x) - F(x_S) over the subsets (F: target logit by default, as Quantus).
    nan where either side is constant.
    """
    require_inputs("faithfulness_correlation", inputs, image_only=False)
    p = n_features(inputs)
    size = default_subset_size(inputs) if subset_size is None else int(subset_size)
    if not 1 <= size <= p:
        raise ParamError(f"subset_size: {size}; expected int in [1, {p}] (the features of one input)")
    sub = _substrate(inputs, substrate, blur_kernel, blur_sigma, seed)
    a = feature_attributions(attributions).double()
    keys = sample_noise.sample_keys(inputs, seed)
    m = int(n_subsets)
    sums = torch.empty((inputs.shape[0], m), dtype=torch.float64, device=inputs.device)

    def make(img, k):
        removed = random_subsets(keys[img], k, p, size)
        sums[img, k] = (a[img] * removed).sum(1)
        return torch.where(feature_mask(inputs, removed), sub[img], inputs[img])

    f = item_scores(model, inputs, target, m, make, output=output, max_batch=max_batch)
    f_x = clean_scores(model, inputs, target, output, max_batch)
    return pearson(sums, (f_x[:, None] - f).double()).to(inputs.dtype)


# ---- faithfulness estimate (Alvarez-Melis & Jaakkola 2018) ------------------------------------------------
def faithfulness_estimate(model, inputs, target, attributions, *, features_in_step: int | None = None,
                          substrate: Substrate = "zero", output: Output = "logit", blur_kernel: int = 11,
                          blur_sigma: float = 5.0, seed: int = 0, max_batch: int | None = None) -> torch.Tensor:
    """Faithfulness estimate per sample [N] (Pearson, higher is better).

    Features are ranked by attribution (descending, ties by index) and cut into consecutive groups of
    ``features_in_step`` (default :func:`default_group`; the last may be shorter).  Each group alone is
    replaced by the substrate; the value is the Pearson correlation, over the groups, between the group's
    attribution sum and F(x) - F(x without the group) (F: target logit by default, as Quantus).
    """
    require_inputs("faithfulness_estimate", inputs, image_only=False)
    p = n_features(inputs)
    step = default_group(inputs) if features_in_step is None else int(features_in_step)
    g = math.ceil(p / step)
    sub = _substrate(inputs, substrate, blur_kernel, blur_sigma, seed)
    a = feature_attributions(attributions)
    group = pixel_rank(a) // step  # [N, P]
    sums = group_sums(a, group, g)
    f = item_scores(model, inputs, target, g,
                    lambda img, k: torch.where(feature_mask(inputs, group[img] == k[:, None]), sub[img], inputs[img]),
                    output=output, max_batch=max_batch)
    f_x = clean_scores(model, inputs, target, output, max_batch)
    return pearson(sums, (f_x[:, None] - f).double()).to(inputs.dtype)


# ---- monotonicity (Arya et al. 2019) ----------------------------------------------------------------------
def _ascending_rank(attributions: torch.Tensor, absolute: bool) -> torch.Tensor:
    """Rank of every feature from the least to the most important (0 = least; ties by index)."""
    a = feature_attributions(attributions)
    return pixel_rank(-(a.abs() if absolute else a))


def monotonicity_arya(model, inputs, target, attributions, *, features_in_step: int | None = None,
                      absolute: bool = True, substrate: Substrate = "zero", output: Output = "softmax",
                      blur_kernel: int = 11, blur_sigma: float = 5.0, seed: int = 0,
                      max_batch: int | None = None, return_curves: bool = False):
    """Monotonicity (Arya et al. 2019) per sample [N]: 1.0 when the score never decreases as features are
    added, from the least to the most important, to an input that starts all substrate; else 0.0.

    Groups of ``features_in_step`` features (default :func:`default_group`) are added cumulatively, ranked
    by |A| (``absolute``, Quantus' default) or A.  Score: target softmax probability by default (Quantus).
    With ``return_curves`` also (features added [T], scores [N, T]).
    """
    require_inputs("monotonicity_arya", inputs, image_only=False)
    p = n_features(inputs)
    step = default_group(inputs) if features_in_step is None else int(features_in_step)
    counts = torch.clamp(torch.arange(1, math.ceil(p / step) + 1, device=inputs.device) * step, max=p)
    sub = _substrate(inputs, substrate, blur_kernel, blur_sigma, seed)
    curves = masked_scores(model, inputs, target, _ascending_rank(attributions, absolute), counts, sub,
                           keep_top=True, output=output, max_batch=max_batch)
    value = (curves.diff(dim=1) >= 0).all(1).to(inputs.dtype)
    return (value, counts.to(inputs.dtype), curves) if return_curves else value


# ---- monotonicity correlation (Nguyen & Martínez 2020) ----------------------------------------------------
def monotonicity_nguyen(model, inputs, target, attributions, *, features_in_step: int | None = None,
                        n_samples: int = 100, absolute: bool = True, noise_low: float | None = None,
                        noise_high: float | None = None, eps: float = 1e-5, output: Output = "softmax",
                        seed: int = 0, max_batch: int | None = None) -> torch.Tensor:
    """Monotonicity correlation (Nguyen & Martínez 2020) per sample [N] (Spearman, higher is better).

    Features are ranked by |A| (``absolute``) or A, ascending, in groups of ``features_in_step`` (default
    :func:`default_group`).  Each group alone is replaced ``n_samples`` times by uniform noise in
    [``noise_low``, ``noise_high``] (default: the sample's own min and max), drawn per sample; the group's
    variance is mean (F(x_noisy) - F(x))^2 / F(x)^2 (divided by 1 where |F(x)| < ``eps``).  The value is the
    Spearman correlation, over the groups, of the group's attribution sum with its variance.
    """
    require_inputs("monotonicity_nguyen", inputs, image_only=False)
    p = n_features(inputs)
    step = default_group(inputs) if features_in_step is None else int(features_in_step)
    g, s = math.ceil(p / step), int(n_samples)
    a = feature_attributions(attributions)
    a = a.abs() if absolute else a
    rank = _ascending_rank(attributions, absolute)
    sums = group_sums(a, rank // step, g)
    flat = inputs.flatten(1)
    low = flat.amin(1) if noise_low is None else torch.full_like(flat[:, 0], float(noise_low))
    high = flat.amax(1) if noise_high is None else torch.full_like(flat[:, 0], float(noise_high))
    span = high - low
    keys = sample_noise.sample_keys(inputs, seed)
    # Only the group's elements are drawn (a draw depends on its element index alone, so these are the
    # draws a whole noisy copy would hold there): group j is the pixels of ranks j*step ... (j+1)*step - 1.
    by_rank = torch.argsort(rank, dim=1)  # pixel of each rank
    channels = flat.shape[1] // p  # elements per feature: C for an image, 1 for a table
    offsets = torch.arange(channels, device=inputs.device)[None, :, None] * p
    within = torch.arange(min(step, p), device=inputs.device)

    def make(img, k):
        pos = ((k // s)[:, None] * step + within).clamp(max=p - 1)  # the short last group repeats its last pixel
        elems = (by_rank[img].gather(1, pos)[:, None, :] + offsets).flatten(1)
        u = sample_noise.uniform_at(keys[img], k, elems, inputs.dtype)
        x = flat[img]
        x.scatter_(1, elems, low[img][:, None] + u * span[img][:, None])
        return x.view((-1,) + tuple(inputs.shape[1:]))

    f = item_scores(model, inputs, target, g * s, make, output=output, max_batch=max_batch).double().view(-1, g, s)
    f_x = clean_scores(model, inputs, target, output, max_batch).double()
    inv = torch.where(f_x.abs() >= eps, 1.0 / f_x.abs().clamp_min(eps) ** 2, torch.ones_like(f_x))
    var = ((f - f_x[:, None, None]) ** 2).mean(2) * inv[:, None]
    return spearman(sums, var).to(inputs.dtype)


# ---- patches: selectivity (Montavon et al. 2018) and region perturbation (Samek et al. 2017) -------------
def default_patch(inputs: torch.Tensor) -> int:
    """Patch side by default: H // 16 pixels (256 patches: 14 px at 224, 2 px at 32)."""
    return max(1, int(inputs.shape[-2]) // 16)


def patches(inputs: torch.Tensor, patch_size: int | None) -> tuple[torch.Tensor, int, int]:
    """(patch id of every feature [P], patch count, patch side): square patches of an image, each column of
    a table its own patch."""
    if inputs.dim() == 2:
        return torch.arange(inputs.shape[1], device=inputs.device), int(inputs.shape[1]), 1
    ps = default_patch(inputs) if patch_size is None else int(patch_size)
    pid, n_patch = patch_grid(int(inputs.shape[-2]), int(inputs.shape[-1]), ps, inputs.device)
    return pid.flatten(), n_patch, ps


def patch_order(attributions: torch.Tensor, pid: torch.Tensor, n_patch: int, descending: bool = True):
    """(rank of every feature's patch [N, P], patch attribution sums [N, Q]): patches ranked by their sum."""
    a = feature_attributions(attributions)
    sums = group_sums(a, pid.expand_as(a), n_patch)
    rank = pixel_rank(sums if descending else -sums)  # [N, Q], 0 = first removed
    return rank[:, pid], sums


def selectivity(model, inputs, target, attributions, *, patch_size: int | None = None,
                substrate: Substrate = "zero", output: Output = "softmax", blur_kernel: int = 11,
                blur_sigma: float = 5.0, seed: int = 0, max_batch: int | None = None,
                return_curves: bool = False):
    """Selectivity (Montavon et al. 2018) per sample [N] (lower is better): the trapezoid area under the
    score as patches are removed (replaced by the substrate) from the highest attribution sum down,
    over the fraction of patches removed [0, 1] (point 0: the clean input).

    Patches: squares of ``patch_size`` px (default :func:`default_patch`; edge patches may be smaller), or
    single columns of a table.  Score: target softmax probability by default (Quantus).
    With ``return_curves`` also (fractions [Q + 1], scores [N, Q + 1]).
    """
    require_inputs("selectivity", inputs, image_only=False)
    pid, n_patch, _ = patches(inputs, patch_size)
    rank, _ = patch_order(attributions, pid, n_patch)
    sub = _substrate(inputs, substrate, blur_kernel, blur_sigma, seed)
    counts = torch.arange(n_patch + 1, device=inputs.device)
    curves = masked_scores(model, inputs, target, rank, counts, sub, keep_top=False, output=output,
                           max_batch=max_batch)
    x = counts.to(inputs.dtype) / n_patch
    auc = torch.trapezoid(curves, x, dim=1)
    return (auc, x, curves) if return_curves else auc


def region_perturbation(model, inputs, target, attributions, *, patch_size: int | None = None,
                        regions: int | None = None, substrate: Substrate = "zero", output: Output = "softmax",
                        blur_kernel: int = 11, blur_sigma: float = 5.0, seed: int = 0,
                        max_batch: int | None = None, return_curves: bool = False):
    """Region perturbation (Samek et al. 2017): ``{"morf_aopc", "lerf_aopc"}``, each [N].

    Patches of ``patch_size`` px (default :func:`default_patch`) are ranked by attribution sum and removed
    cumulatively (replaced by the substrate), most relevant first (MoRF) or least relevant first (LeRF), for
    ``regions`` steps (default: every patch).  AOPC = mean over k = 0..L of F(x) - F(x_k), with x_0 = x
    (Samek's 1/(L+1) sum); MoRF: higher is better, LeRF: lower.  F: target softmax probability by default.
    With ``return_curves`` also (regions removed [L + 1], {"morf": [N, L + 1], "lerf": ...}) of F(x) - F(x_k).
    """
    require_inputs("region_perturbation", inputs, image_only=True)
    pid, n_patch, _ = patches(inputs, patch_size)
    steps = n_patch if regions is None else min(int(regions), n_patch)
    sub = _substrate(inputs, substrate, blur_kernel, blur_sigma, seed)
    counts = torch.arange(steps + 1, device=inputs.device)
    out, curves = {}, {}
    for order, desc in (("morf", True), ("lerf", False)):
        rank, _ = patch_order(attributions, pid, n_patch, descending=desc)
        f = masked_scores(model, inputs, target, rank, counts, sub, keep_top=False, output=output,
                          max_batch=max_batch)
        curves[order] = f[:, :1] - f
        out[f"{order}_aopc"] = curves[order].double().mean(1).to(inputs.dtype)
    return (out, counts.to(inputs.dtype), curves) if return_curves else out


# ---- IROF (Rieger & Hansen 2020) --------------------------------------------------------------------------
def slic_segments(inputs: torch.Tensor, n_segments: int = 100, compactness: float = 10.0) -> torch.Tensor:
    """SLIC superpixels of every image (scikit-image, on the inputs as given), int64 [N, H*W], ids from 0.

    The one per-image step of IROF: SLIC is a CPU library call; it runs once per image, before any model call.
    """
    try:
        from skimage.segmentation import slic
    except ImportError:
        raise ParamError("irof needs scikit-image for its SLIC superpixels: pip install scikit-image") from None
    import numpy as np

    imgs = inputs.detach().double().cpu().permute(0, 2, 3, 1).numpy()
    segs = np.stack([slic(im, n_segments=int(n_segments), compactness=float(compactness), start_label=0)
                     for im in imgs])
    return torch.as_tensor(segs, device=inputs.device).long().flatten(1)


def irof(model, inputs, target, attributions, *, n_segments: int = 100, compactness: float = 10.0,
         substrate: Substrate = "image_mean", output: Output = "softmax", blur_kernel: int = 11,
         blur_sigma: float = 5.0, seed: int = 0, max_batch: int | None = None, return_curves: bool = False):
    """IROF (Rieger & Hansen 2020) per sample [N] (higher is better): the area over the curve of
    F(x_k) / F(x) as SLIC superpixels are removed (replaced by the substrate, default each image's channel
    means) from the highest mean attribution down, over the fraction of superpixels removed [0, 1].

    Superpixels: :func:`slic_segments` (``n_segments``, ``compactness``; SLIC may return fewer). Score: target
    softmax probability by default (Quantus).  With ``return_curves`` also (superpixels removed [S + 1],
    F(x_k) / F(x) [N, S + 1], nan past an image's own superpixel count).
    """
    require_inputs("irof", inputs, image_only=True)
    seg = slic_segments(inputs, n_segments, compactness)
    s_max = int(seg.max()) + 1
    a = feature_attributions(attributions)
    size = group_sums(torch.ones_like(a), seg, s_max)
    present = size > 0
    mean = torch.where(present, group_sums(a, seg, s_max) / size.clamp_min(1), torch.full_like(size, -math.inf))
    rank = pixel_rank(mean).gather(1, seg)  # a pixel's rank is its superpixel's; absent ids rank last
    n_seg = present.sum(1)  # [N]
    sub = _substrate(inputs, substrate, blur_kernel, blur_sigma, seed)
    counts = torch.arange(s_max + 1, device=inputs.device)
    f = masked_scores(model, inputs, target, rank, counts, sub, keep_top=False, output=output, max_batch=max_batch)
    ratio = (f.double() / f[:, :1].double())
    inside = counts[None, :] <= n_seg[:, None]
    ratio = torch.where(inside, ratio, torch.full_like(ratio, math.nan))
    # trapezoid over x = k / S_i, k = 0..S_i (each image its own S_i)
    mids = (ratio[:, 1:] + ratio[:, :-1]) / 2
    area = torch.where(inside[:, 1:], mids, torch.zeros_like(mids)).sum(1) / n_seg.double()
    aoc = (1 - area).to(inputs.dtype)
    return (aoc, counts.to(inputs.dtype), ratio.to(inputs.dtype)) if return_curves else aoc


# ---- registration -----------------------------------------------------------------------------------------
_COMMON = {"max_batch": (1, None), "blur_kernel": (1, None), "blur_sigma": (0.0, None)}


def _settings_group(ctx, params) -> dict:
    return {"features_in_step": default_group(ctx.inputs) if params.get("features_in_step") is None
            else params["features_in_step"]}


def _settings_subset(ctx, params) -> dict:
    return {"subset_size": default_subset_size(ctx.inputs) if params.get("subset_size") is None
            else params["subset_size"]}


def _settings_patch(ctx, params) -> dict:
    if ctx.inputs.dim() != 4:
        return {}
    _, n_patch, ps = patches(ctx.inputs, params.get("patch_size"))
    out = {"patch_size": ps, "n_patches": n_patch}
    if "regions" in params:
        out["regions"] = n_patch if params.get("regions") is None else min(int(params["regions"]), n_patch)
    return out


def _settings_nguyen(ctx, params) -> dict:
    return {**_settings_group(ctx, params),
            "noise_range": "the sample's min and max" if params.get("noise_low") is None
            and params.get("noise_high") is None else "given"}


_DOCS_STEP = "features per step (default: one image row of pixels; 1 for a table)"
_DOCS_ABS = "rank features by |A| (true, Quantus' default) or by signed A"

register_metric("faithfulness_correlation", faithfulness_correlation, stat="correlation", settings=_settings_subset,
                bounds={**_COMMON, "n_subsets": (2, 100_000), "subset_size": (1, 10_000_000)},
                description="Faithfulness correlation (Bhatt 2020): Pearson correlation of a random subset's "
                            "attribution sum with the output drop when it is removed (higher is better)",
                direction="higher", consumes=("attributions",), units="Pearson correlation",
                label="faithfulness correlation", inputs="any",
                docs={"n_subsets": "random feature subsets drawn per sample",
                      "subset_size": "features per subset (default: one image row of pixels; a quarter of a "
                                     "table's columns)",
                      "output": "F: target logit (Quantus' default here) or softmax probability"})
register_metric("faithfulness_estimate", faithfulness_estimate, stat="correlation", settings=_settings_group,
                bounds={**_COMMON, "features_in_step": (1, 10_000_000)},
                description="Faithfulness estimate (Alvarez-Melis 2018): Pearson correlation of each ranked group's "
                            "attribution sum with the output drop when that group alone is removed",
                direction="higher", consumes=("attributions",), units="Pearson correlation",
                label="faithfulness estimate", inputs="any",
                docs={"features_in_step": _DOCS_STEP,
                      "output": "F: target logit (Quantus' default here) or softmax probability"})
register_metric("monotonicity_arya", monotonicity_arya, stat="monotonic", curve="curve", settings=_settings_group,
                bounds={**_COMMON, "features_in_step": (1, 10_000_000)},
                description="Monotonicity (Arya 2019): 1 when the score never drops as features are added to the "
                            "substrate from least to most important, else 0 (higher is better)",
                direction="higher", consumes=("attributions",), units="share of samples (0/1 each)",
                label="target probability (softmax)", x_label="features added", x_scale=1, inputs="any",
                docs={"features_in_step": _DOCS_STEP, "absolute": _DOCS_ABS})
register_metric("monotonicity_nguyen", monotonicity_nguyen, stat="correlation", settings=_settings_nguyen,
                bounds={"max_batch": (1, None), "features_in_step": (1, 10_000_000), "n_samples": (1, 10_000),
                        "eps": (0.0, None)},
                description="Monotonicity correlation (Nguyen 2020): Spearman correlation of each group's "
                            "attribution with the output variance when the group is noised (higher is better)",
                direction="higher", consumes=("attributions",), units="Spearman correlation",
                label="monotonicity correlation", inputs="any",
                docs={"features_in_step": _DOCS_STEP, "absolute": _DOCS_ABS,
                      "n_samples": "uniform-noise draws per feature group",
                      "noise_low": "lower end of the uniform noise (default: the sample's minimum)",
                      "noise_high": "upper end of the uniform noise (default: the sample's maximum)",
                      "eps": "|F(x)| below this is not divided by (Quantus' guard)"})
register_metric("selectivity", selectivity, stat="auc", curve="curve", settings=_settings_patch,
                bounds={**_COMMON, "patch_size": (1, None)},
                description="Selectivity (Montavon 2018): area under the score as patches are removed from the "
                            "most relevant down (lower is better)",
                direction="lower", consumes=("attributions",), units="target probability (or logit) x fraction",
                label="target probability (softmax)", x_label="patches removed (%)", x_scale=100, inputs="any",
                docs={"patch_size": "side of the square patches in pixels (default: image height / 16); on a "
                                    "table each column is a patch"})
register_metric("region_perturbation", region_perturbation, curve="curve", settings=_settings_patch,
                outputs=("morf_aopc", "lerf_aopc"),
                bounds={**_COMMON, "patch_size": (1, None), "regions": (1, 100_000)},
                description="Region perturbation (Samek 2017): AOPC of F(x) - F(x_k) as patches are removed, most "
                            "relevant first (MoRF, higher is better) and least relevant first (LeRF, lower)",
                direction="per_stat", directions={"morf_aopc": "higher", "lerf_aopc": "lower"},
                consumes=("attributions",), units="target probability (or logit) drop",
                label="F(x) - F(x_k)", x_label="patches removed", x_scale=1, inputs="image",
                docs={"patch_size": "side of the square patches in pixels (default: image height / 16)",
                      "regions": "patches removed, in rank order (default: all)"})
register_metric("irof", irof, stat="aoc", curve="curve",
                bounds={**_COMMON, "n_segments": (1, 100_000), "compactness": (0.0, None)},
                description="IROF (Rieger 2020): area over F(x_k)/F(x) as SLIC superpixels are removed from the "
                            "highest mean attribution down (higher is better; needs scikit-image)",
                direction="higher", consumes=("attributions",), units="fraction (area over a ratio curve)",
                label="F(x_k) / F(x)", x_label="superpixels removed", x_scale=1, inputs="image",
                docs={"n_segments": "SLIC's target number of superpixels (it may return fewer)",
                      "compactness": "SLIC's colour/space balance (higher: squarer superpixels)",
                      "substrate": "what removed superpixels are replaced by (xbench.substrates; default "
                                   "image_mean: each image's channel means)"})
