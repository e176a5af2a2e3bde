"""Robustness of an attribution to input noise: max- and avg-sensitivity (Yeh et al. 2019).

The attribution is recomputed for every perturbed input (so path methods recompute their paths,
Split IG its alpha*).  The n_samples perturbations of every image are flattened into one list of
work items and attributed in chunks of ``max_batch`` images, one method call per chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch

from ..batching import DEFAULT_MAX_BATCH
from ..errors import ParamError
from .base import Attributor, ChunkRNG, for_noise_items, method_attributor, register_metric
from .sample_noise import normal, sample_keys, uniform

Norm = Literal["fro", "inf"]
PerturbFunc = Callable[[torch.Tensor, float], torch.Tensor]


def _norm(x: torch.Tensor, norm: str) -> torch.Tensor:
    return torch.linalg.vector_norm(x.flatten(1), ord=2 if norm == "fro" else float("inf"), dim=1)


Noise = Literal["uniform", "gaussian"]
Score = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def perturbed_scores(attr_fn: Attributor, inputs: torch.Tensor, target: torch.Tensor, score: Score, *,
                     radius: float | torch.Tensor, n_samples: int, seed: int, max_batch: int, noise: Noise = "uniform",
                     perturb_func: PerturbFunc | None = None, dtype: torch.dtype | None = None,
                     per_sample: bool = False) -> torch.Tensor:
    """``score(img, x_perturbed, a_perturbed, j) -> [k]`` for ``n_samples`` perturbations of every image,
    shape [N, n_samples] (in ``dtype``, default the inputs').

    The one re-run-the-method-on-noisy-inputs loop of the robustness metrics: the N x n_samples (image,
    draw) items are flattened and attributed in chunks of ``max_batch`` (one method call per chunk), the
    noise drawn item-major from ``seed`` on the device, so each image's draws do not depend on the batch
    it sits in.  ``per_sample``: draw j of an image is a function of (seed, the image's values, j) only
    (:mod:`xbench.metrics.sample_noise`), the same in any batch; else one item-major stream from ``seed`` (the draws of
    the image's position in the batch, as Captum's).  ``noise``: ``uniform`` e ~ U[-radius, radius] per
    element (Captum's L-inf ball), ``gaussian`` e ~ N(0, radius^2); ``perturb_func(x_repeated, radius) ->
    x_perturbed`` replaces both (Captum's convention).  ``img`` indexes the items' images in ``inputs``,
    ``j`` their draws.  ``radius`` may be a tensor [C] of per-channel radii (:func:`channel_radius`): the
    draws are then made at radius 1 and scaled per channel.
    """
    n, s = inputs.shape[0], int(n_samples)
    out = torch.empty((n, s), dtype=dtype or inputs.dtype, device=inputs.device)
    keys = sample_keys(inputs, seed) if per_sample else None
    scale = None
    if isinstance(radius, torch.Tensor):  # per channel: unit draws times r_c (a scalar radius keeps its exact draws)
        if perturb_func is not None:
            raise ParamError("radius: per-channel radii cannot be combined with a perturb_func")
        scale = radius.to(inputs.device, inputs.dtype).view((1, -1) + (1,) * (inputs.dim() - 2))
        radius = 1.0

    def item(img: torch.Tensor, j: torch.Tensor, rng: ChunkRNG) -> None:
        x = inputs[img]
        if perturb_func is not None:
            x = perturb_func(x, radius)
            e = None
        elif keys is not None:
            d = x[0].numel()
            e = ((2 * uniform(keys[img], j, d) - 1) * radius if noise == "uniform"
                 else radius * normal(keys[img], j, d))
            e = e.to(x.dtype).view_as(x)
        elif noise == "uniform":
            e = rng.uniform(tuple(x.shape), -radius, radius, x.dtype)
        else:
            e = rng.normal(tuple(x.shape), radius, x.dtype)
        if e is not None:
            x = x + (e if scale is None else e * scale)
        a = attr_fn(x, target[img]).detach()
        out[img, j] = score(img, x, a, j).to(out.dtype)

    for_noise_items(item, n, s, seed, inputs.device, max_batch)
    return out


def sensitivity_ratios(attr_fn: Attributor, inputs: torch.Tensor, target: torch.Tensor,
                       attributions: torch.Tensor | None, *, radius: float | torch.Tensor, n_samples: int, norm: str,
                       seed: int, max_batch: int, perturb_func: PerturbFunc | None = None) -> torch.Tensor:
    """||A(x + e) - A(x)|| / ||A(x)|| for ``n_samples`` noises e per image, shape [N, n_samples].

    e ~ U[-radius, radius] per element (the L-inf ball, as Captum's default), drawn item-major on
    the device (:func:`perturbed_scores`); ``perturb_func(x_repeated, radius) -> x_perturbed`` replaces
    it (Captum's convention).  As in Captum, a zero ||A(x)|| is replaced by 1.
    """
    a0 = attr_fn(inputs, target).detach() if attributions is None else attributions
    den = _norm(a0, norm)
    den = torch.where(den == 0, torch.ones_like(den), den)
    return perturbed_scores(attr_fn, inputs, target, lambda img, x, a, j: _norm(a - a0[img], norm) / den[img],
                            radius=radius, n_samples=n_samples, seed=seed, max_batch=max_batch,
                            perturb_func=perturb_func)


RadiusUnits = Literal["input", "pixel"]
RADIUS_UNITS = ("input", "pixel")


def pixel_units_misfit(data_info: dict | None) -> str | None:
    """Why a radius in pixel units cannot be converted for this data (None when it can): it needs image data
    whose info declares the per-channel normalisation (``mean``/``std``, pixel units) applied to its inputs."""
    info = data_info or {}
    kind = info.get("kind")
    if kind not in (None, "image"):
        return f"radius_units 'pixel' needs image data with a declared normalisation and the data is {kind}; " \
               "use radius_units: input"
    if "std" not in info or "mean" not in info:
        return "radius_units 'pixel' needs the data's normalisation (data_info mean/std) and it declares none; " \
               "use radius_units: input"
    return None


def channel_radius(radius: float, units: str, data_info: dict | None, inputs: torch.Tensor) -> float | torch.Tensor:
    """The noise radius in the inputs' (normalised) units: ``radius`` itself for ``input`` units; for ``pixel``
    units (noise on [0, 1] pixels, as the Split IG notebook's images before normalisation) a float64 tensor [C]
    of radius / std_c, std_c the data's declared per-channel normalisation.  Refuses in one line where the data
    declares none or is not an image."""
    if units not in RADIUS_UNITS:
        raise ParamError(f"radius_units: {units!r} is not a unit; allowed: {', '.join(RADIUS_UNITS)}")
    if units == "input":
        return radius
    why = pixel_units_misfit(data_info)
    if why is None and (inputs.dim() < 3 or inputs.shape[1] != len(data_info["std"])):
        why = (f"radius_units 'pixel' needs [N, C, ...] inputs with one std per channel; inputs "
               f"{tuple(inputs.shape)}, std {list(data_info['std'])}")
    if why is not None:
        raise ParamError(why)
    return float(radius) / torch.as_tensor(data_info["std"], dtype=torch.float64)


def _radius_settings(ctx, params: dict[str, Any]) -> dict[str, Any]:
    """Recorded with the rows when the radius is in pixel units: its units and the per-channel radius in
    input units it became (``radius`` stays the value given)."""
    units = params.get("radius_units") or "input"
    if units == "input":
        return {}
    r = channel_radius(params.get("radius", 0.02), units, ctx.data_info, ctx.inputs)
    return {"radius_units": units, "radius_input_units": [round(float(v), 8) for v in r]}


def max_sensitivity(model, inputs, target, attributions=None, *, method: str = "saliency",
                    method_params: dict | None = None, radius: float = 0.02, n_samples: int = 10, norm: Norm = "fro",
                    seed: int = 0, max_batch: int = DEFAULT_MAX_BATCH, perturb_func: PerturbFunc | None = None,
                    attributor: Attributor | None = None, radius_units: RadiusUnits = "input",
                    data_info: dict | None = None) -> torch.Tensor:
    """Max-sensitivity per sample [N] (unitless, lower is better): max over ``n_samples`` uniform
    L-inf noises of radius ``radius`` of ||A(x + e) - A(x)|| / ||A(x)||.

    ``radius_units``: ``input`` (default) the inputs' normalised units; ``pixel`` [0, 1] pixel units,
    converted per channel through ``data_info``'s normalisation to radius / std_c (:func:`channel_radius`).
    Defaults as ``captum.metrics.sensitivity_max`` (radius 0.02, 10 samples, Frobenius norm);
    paper B's notebook adds U[-0.05, 0.05] to ImageNet-normalised images, about 0.0113 in pixel units.
    ``attributions`` (A(x)) are recomputed when None.  ``attributor``
    ``(inputs, target) -> attributions`` replaces ``method``/``method_params`` (the harness passes the
    unit's method with its context, e.g. Expected Gradients' references).
    """
    attr_fn = attributor or method_attributor(model, method, method_params)
    r = channel_radius(radius, radius_units, data_info, inputs)
    return sensitivity_ratios(attr_fn, inputs, target, attributions, radius=r, n_samples=n_samples, norm=norm,
                              seed=seed, max_batch=max_batch, perturb_func=perturb_func).amax(1)


def avg_sensitivity(model, inputs, target, attributions=None, *, method: str = "saliency",
                    method_params: dict | None = None, radius: float = 0.02, n_samples: int = 10, norm: Norm = "fro",
                    seed: int = 0, max_batch: int = DEFAULT_MAX_BATCH, perturb_func: PerturbFunc | None = None,
                    attributor: Attributor | None = None, radius_units: RadiusUnits = "input",
                    data_info: dict | None = None) -> torch.Tensor:
    """Avg-sensitivity per sample [N]: as :func:`max_sensitivity` with the mean over the noises."""
    attr_fn = attributor or method_attributor(model, method, method_params)
    r = channel_radius(radius, radius_units, data_info, inputs)
    return sensitivity_ratios(attr_fn, inputs, target, attributions, radius=r, n_samples=n_samples, norm=norm,
                              seed=seed, max_batch=max_batch, perturb_func=perturb_func).mean(1)


def _units_fit(model, data_info: dict, params: dict) -> str | None:
    """A radius in pixel units is refused before any work where the data declares no normalisation."""
    return pixel_units_misfit(data_info) if params.get("radius_units") == "pixel" else None


_BOUNDS = {"radius": (0.0, None), "n_samples": (1, None), "max_batch": (1, None)}
# radius_units is recorded only when given: rows of runs that never set it keep their recorded settings
_QUIET = ("radius_units",)

register_metric("max_sensitivity", max_sensitivity, inputs="any", fits=_units_fit, settings=_radius_settings,
                stat="sensitivity", bounds=_BOUNDS, hidden=("perturb_func",), quiet_defaults=_QUIET,
                description="Max-sensitivity (Yeh 2019): max ||A(x+e) - A(x)|| / ||A(x)|| over uniform L-inf noise "
                            "(attributions recomputed; lower is better)",
                direction="lower", consumes=("attributions", "method", "data_info"), units="unitless (norm ratio)",
                label="max-sensitivity")
register_metric("avg_sensitivity", avg_sensitivity, inputs="any", stat="sensitivity", fits=_units_fit,
                settings=_radius_settings, bounds=_BOUNDS, hidden=("perturb_func",), quiet_defaults=_QUIET,
                description="Avg-sensitivity (Yeh 2019): mean ||A(x+e) - A(x)|| / ||A(x)|| over uniform L-inf noise "
                            "(attributions recomputed; lower is better)",
                direction="lower", consumes=("attributions", "method", "data_info"), units="unitless (norm ratio)",
                label="avg-sensitivity")
