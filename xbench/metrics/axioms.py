"""Axioms of attribution: completeness and Sensitivity(a) (Sundararajan et al. 2017), Sensitivity-n
(Ancona et al. 2018), and paper A's distance to a 128-step IG reference."""

from __future__ import annotations

import math
import weakref

import torch

from ..batching import DEFAULT_MAX_BATCH, for_chunks, record, replay
from ..methods.base import attribute, target_outputs
from .base import Attributor, ChunkRNG, method_attributor, pearson, register_metric
from .perturbation import as_units, n_units, pixel_rank


def completeness_gaps(model, inputs, target, attributions, baseline: torch.Tensor | None = None,
                      eps: float = 1e-12, path_end: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(relative, absolute) completeness gaps per sample, both [N]: one forward pass for F(end) and F(x').

    ``path_end`` is where the method's path ends when it is not the input (a method's declaration, e.g.
    Refined Left IG's x' + a* (x - x')): the gap is then |sum A - (F(end) - F(x'))| / |F(end) - F(x')|."""
    base = torch.zeros_like(inputs) if baseline is None else baseline
    end = inputs if path_end is None else path_end
    f = target_outputs(model, torch.cat([end, base]), target.repeat(2))
    delta_f = f[: len(inputs)] - f[len(inputs):]
    gap = (attributions.flatten(1).sum(1) - delta_f).abs()
    rel = gap / delta_f.abs().clamp_min(eps) if eps > 0 else gap / delta_f.abs()
    return rel, gap


def completeness(model, inputs, target, attributions, *, baseline: torch.Tensor | None = None,
                 eps: float = 1e-12) -> torch.Tensor:
    """|sum(A) - (F(x) - F(x'))| / |F(x) - F(x')| per sample (unitless), F = target logit.

    ``baseline`` defaults to zeros (the baseline of IG, X-Gradient and Input x Gradient).  A sample
    with F(x) = F(x') gives inf (or nan when the sum is 0 too) and is flagged by the summary.
    """
    return completeness_gaps(model, inputs, target, attributions, baseline, eps)[0]


register_metric("completeness", completeness_gaps, inputs="any", outputs=("relative_gap", "absolute_gap"),
                description="Completeness gap |sum A - (F(x) - F(x'))| / |F(x) - F(x')| per sample (0 is exact)",
                direction="lower", consumes=("attributions", "path_start", "path_end"),
                units="relative_gap: unitless; absolute_gap: logits", label="completeness gap")


# --- Sensitivity(a) (Sundararajan et al. 2017) ---------------------------------------------------

def patch_grid(h: int, w: int, patch_size: int, device: torch.device) -> tuple[torch.Tensor, int]:
    """Patch index of every pixel, shape [H, W], for square patches of ``patch_size`` px, and the patch count."""
    cols = math.ceil(w / patch_size)
    rows = math.ceil(h / patch_size)
    r = torch.arange(h, device=device) // patch_size
    c = torch.arange(w, device=device) // patch_size
    return r[:, None] * cols + c[None, :], rows * cols


def sensitivity_axiom_stats(model, inputs, target, attributions=None, *, method: str = "saliency",
                            method_params: dict | None = None, baseline: torch.Tensor | None = None,
                            patch_size: int | None = None, n_patches: int | None = 8, rtol: float = 1e-6,
                            output_tol: float = 1e-6, seed: int = 0, max_batch: int = DEFAULT_MAX_BATCH,
                            attributor: Attributor | None = None) -> dict:
    """Sensitivity(a) with its details: ``share`` [N] (see :func:`sensitivity_axiom`), ``cases`` [N] (the
    one-patch inputs whose output changed: the share's denominator) and the ``patch_size`` used (px).

    ``attributor`` ``(inputs, target) -> attributions`` replaces ``method``/``method_params`` (the harness
    passes the unit's method with its context)."""
    attr_fn = attributor or method_attributor(model, method, method_params)
    base = torch.zeros_like(inputs) if baseline is None else baseline.to(inputs).expand_as(inputs)
    n = inputs.shape[0]
    if inputs.dim() == 4:
        h, w = inputs.shape[-2:]
        ps = max(1, h // 8) if patch_size is None else int(patch_size)
        pid, n_total = patch_grid(h, w, ps, inputs.device)
    else:  # tabular: a "patch" is a run of ``patch_size`` consecutive features (default one feature)
        ps = 1 if patch_size is None else int(patch_size)
        pid = torch.arange(inputs[0].numel(), device=inputs.device).view(inputs.shape[1:]) // ps
        n_total = int(pid.max()) + 1
    m = n_total if n_patches is None else min(int(n_patches), n_total)
    chosen = ChunkRNG(seed, inputs.device).rand((n, n_total)).argsort(dim=1)[:, :m]  # m distinct patches per image
    f_base = target_outputs(model, base, target)
    valid = torch.zeros((n, m), dtype=torch.bool, device=inputs.device)
    hit = torch.zeros_like(valid)

    def chunk(start: int, stop: int) -> None:
        idx = torch.arange(start, stop, device=inputs.device)
        img, j = idx // m, idx % m
        inside = pid[None] == chosen[img, j].view(-1, *(1,) * pid.dim())
        inside = inside.unsqueeze(1) if inputs.dim() == 4 else inside  # [B, 1, H, W] or [B, *F]
        x = torch.where(inside, inputs[img], base[img])  # differs from x' in one patch only
        f = target_outputs(model, x, target[img])
        a = attr_fn(x, target[img]).detach().abs()
        peak_in = (a * inside).flatten(1).amax(1)
        peak = a.flatten(1).amax(1)
        valid[img, j] = (f - f_base[img]).abs() > output_tol
        hit[img, j] = (peak_in > 0) & (peak_in > rtol * peak)

    for_chunks(chunk, n * m, max_batch)
    cases = valid.sum(1)
    share = (valid & hit).sum(1).to(inputs.dtype) / cases.to(inputs.dtype)  # nan where no case
    return {"share": share, "cases": cases.to(inputs.dtype), "patch_size": ps}


def sensitivity_axiom(model, inputs, target, attributions=None, *, method: str = "saliency",
                      method_params: dict | None = None, baseline: torch.Tensor | None = None,
                      patch_size: int | None = None, n_patches: int | None = 8, rtol: float = 1e-6,
                      output_tol: float = 1e-6, seed: int = 0, max_batch: int = DEFAULT_MAX_BATCH) -> torch.Tensor:
    """Sensitivity(a): share of one-patch inputs whose patch gets non-zero attribution, per sample [N].

    For ``n_patches`` random square patches (``patch_size`` px, default H // 8; None = all patches;
    on tabular inputs runs of ``patch_size`` features, default 1)
    the input x_p equals the baseline x' (default zeros) except on the patch.  Where
    |F(x_p) - F(x')| > ``output_tol`` (target logit), the method's attribution *of x_p* must be
    non-zero on the patch: max |A| there > 0 and > ``rtol`` * max |A| over the image.  1 = the axiom
    always holds; nan = no patch changed the output.  ``attributions`` is unused (x_p is new input).
    """
    return sensitivity_axiom_stats(model, inputs, target, method=method, method_params=method_params,
                                   baseline=baseline, patch_size=patch_size, n_patches=n_patches, rtol=rtol,
                                   output_tol=output_tol, seed=seed, max_batch=max_batch)["share"]


register_metric("sensitivity_axiom", sensitivity_axiom_stats, inputs="any", data_bounds={"patch_size": "side"},
                outputs={"share": "sample", "cases": "sample", "patch_size": "setting"},
                bounds={"patch_size": (1, None), "n_patches": (1, None), "rtol": (0.0, None),
                        "output_tol": (0.0, None), "max_batch": (1, None)},
                description="Sensitivity(a): share of one-patch inputs (else baseline) with changed output whose "
                            "patch gets non-zero attribution (1 = always)",
                direction="higher", consumes=("method", "path_start"), units="share of patches (0-1)",
                label="share of patches")


# --- Sensitivity-n (Ancona et al. 2018) ----------------------------------------------------------

def default_ns(n_features: int) -> list[int]:
    """Subset sizes 1, 4, 16, ... up to 80% of the features (Ancona et al. plot n on a log scale)."""
    out, n = [], 1
    while n <= 0.8 * n_features:
        out.append(n)
        n *= 4
    return out or [1]


def sensitivity_n(model, inputs, target, attributions, *, ns: list[int] | None = None, n_subsets: int = 100,
                  baseline: torch.Tensor | None = None, seed: int = 0, max_batch: int = DEFAULT_MAX_BATCH,
                  return_curves: bool = False):
    """Sensitivity-n: Pearson correlation per sample and subset size, shape [N, len(ns)].

    Features are pixels (attributions summed over channels), or a tabular input's features.  For each
    n, ``n_subsets`` random subsets S of n features are set to the baseline (default zeros); the correlation is taken
    between sum_{i in S} A_i and F(x) - F(x with S removed) (target logit) over the subsets.
    nan where either side is constant (e.g. all-zero attributions).  ``ns`` defaults to
    :func:`default_ns`.  With ``return_curves`` also ``ns`` as a tensor [K] and the same [N, K] values.
    """
    n = inputs.shape[0]
    n_pix = n_units(inputs)
    ns = default_ns(n_pix) if ns is None else [int(v) for v in ns]
    if any(v < 1 or v > n_pix for v in ns):
        raise ValueError(f"ns: subset sizes must be in [1, {n_pix}], got {ns}")
    base = torch.zeros_like(inputs) if baseline is None else baseline.to(inputs).expand_as(inputs)
    a_pix = (attributions.sum(1) if attributions.dim() == 4 else attributions).flatten(1)
    sizes = torch.tensor(ns, device=inputs.device)
    k, m = len(ns), int(n_subsets)
    f_x = target_outputs(model, inputs, target)
    sums = torch.empty((n, k, m), dtype=inputs.dtype, device=inputs.device)
    drops = torch.empty_like(sums)
    rng = ChunkRNG(seed, inputs.device)

    def chunk(start: int, stop: int) -> None:
        idx = torch.arange(start, stop, device=inputs.device)
        img, rest = idx // (k * m), idx % (k * m)
        ki, j = rest // m, rest % m
        with rng.chunk():
            removed = pixel_rank(rng.rand((len(idx), n_pix), inputs.dtype)) < sizes[ki][:, None]  # [B, HW]
            x = torch.where(as_units(removed, inputs), base[img], inputs[img])
            f = target_outputs(model, x, target[img])
        sums[img, ki, j] = (a_pix[img] * removed).sum(1)
        drops[img, ki, j] = f_x[img] - f

    for_chunks(chunk, n * k * m, max_batch)
    corr = pearson(sums, drops)
    return (corr, sizes, corr) if return_curves else corr


def _resolved_ns(ctx, params) -> dict[str, list[int]]:
    """The subset sizes used (``ns``, default :func:`default_ns` of the batch's pixel count), recorded."""
    ns = params.get("ns")
    return {"ns": list(ns) if ns is not None else default_ns(n_units(ctx.inputs))}


register_metric("sensitivity_n", sensitivity_n, curve="correlation", x_stat="n={x}", settings=_resolved_ns,
                inputs="any", data_bounds={"ns": "units"},
                bounds={"n_subsets": (2, None), "max_batch": (1, None)},
                description="Sensitivity-n (Ancona 2018): correlation of subset attribution sums with the output "
                            "drop when the subset is set to the baseline, per n (1 = perfect)",
                direction="higher", consumes=("attributions", "path_start"), units="Pearson correlation",
                label="Pearson correlation", x_label="subset size n (pixels)", x_scale=1)


# --- IG distance (paper A §4.1) --------------------------------------------------------------------

_IG_REF: dict = {}  # the last reference IG: every method of a batch is compared with the same one


def reference_ig(model, inputs, target, n_steps: int, max_batch: int) -> torch.Tensor:
    """IG with ``n_steps`` Gauss-Legendre points and the zero baseline, reused while the model, the
    batch tensor (same storage, unmodified) and the target are the same: the runner feeds one
    batch to every method, so the 128-step reference is computed once per batch, not per method."""
    key = (inputs.data_ptr(), inputs._version, tuple(inputs.shape), inputs.device, target.data_ptr(),
           target._version, n_steps)
    cached_model = _IG_REF["model"]() if "model" in _IG_REF else None  # a weak reference: never keeps a model alive
    if _IG_REF.get("key") != key or cached_model is not model:
        _IG_REF.clear()
        with record() as events:
            ref = attribute(model, inputs, target, "integrated_gradients", n_steps=n_steps, method="gausslegendre",
                            baseline="zero", max_batch=max_batch)
        _IG_REF.update(key=key, ref=ref, model=weakref.ref(model), events=list(events))
    replay(_IG_REF["events"])  # a warm cache records the chunks that computed it, as a cold one does
    return _IG_REF["ref"]


def ig_distance_stats(model, inputs, target, attributions, *, n_steps: int = 128, eps: float = 1e-7,
                      max_batch: int = DEFAULT_MAX_BATCH) -> dict:
    """``distance`` [N] (see :func:`ig_distance`) and the X-DNN authors' per-batch figure
    ``batch_ratio_of_means``: mean|A - IG_ref| / (mean|IG_ref| + eps) over the whole batch (a float)."""
    ref = reference_ig(model, inputs, target, n_steps, max_batch)
    diff = (attributions - ref).abs()
    return {"distance": diff.flatten(1).mean(1) / (ref.abs().flatten(1).mean(1) + eps),
            "batch_ratio_of_means": float(diff.mean() / (ref.abs().mean() + eps))}


def ig_distance(model, inputs, target, attributions, *, n_steps: int = 128, eps: float = 1e-7,
                max_batch: int = DEFAULT_MAX_BATCH) -> torch.Tensor:
    """mean|A - IG_ref| / (mean|IG_ref| + eps) per sample [N] (unitless; means over all input elements).

    IG_ref: Integrated Gradients, ``n_steps`` Gauss-Legendre points, zero baseline (paper A §4.1),
    explaining ``target`` (the X-DNN authors explain the true label: ``data.target: label``).  The
    authors average a ratio of means per batch instead: :func:`ig_distance_stats` returns that too
    (the per-batch stat ``batch_ratio_of_means`` of a run).
    """
    return ig_distance_stats(model, inputs, target, attributions, n_steps=n_steps, eps=eps,
                             max_batch=max_batch)["distance"]


register_metric("ig_distance", ig_distance_stats, inputs="any",
                outputs={"distance": "sample", "batch_ratio_of_means": "batch"},
                bounds={"n_steps": (1, None), "eps": (0.0, None), "max_batch": (1, None)},
                description="Paper A §4.1: mean|A - IG_128 Gauss-Legendre| / mean|IG| (0 = equals IG)",
                direction="lower", consumes=("attributions",), units="unitless (mean |A - IG| / mean |IG|)",
                label="distance to IG-128")
