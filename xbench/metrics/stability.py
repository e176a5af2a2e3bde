"""Stability of an attribution under input noise, relative to how much the input, output or representation
moved: relative input / output / representation stability (RIS, ROS, RRS; Agarwal et al. 2022) and the
local Lipschitz estimate (Alvarez-Melis & Jaakkola 2018).

Each re-runs the method on ``n_samples`` noisy copies of every input through the robustness metrics' one
loop (:func:`xbench.metrics.robustness.perturbed_scores`: images x draws flattened, chunked; noise seeded per
sample, :mod:`xbench.metrics.sample_noise`, so a sample's value does not depend on its batch) and reports the max
over the draws, per sample, in float64:

- RIS(x) = max_x' ||(A(x) - A(x')) / A(x)|| / max(||(x - x') / x||, eps_min)
- ROS(x) = max_x' ||(A(x) - A(x')) / A(x)|| / max(||h(x) - h(x')||, eps_min), h the logits
- RRS(x) = max_x' ||(A(x) - A(x')) / A(x)|| / max(||(L(x) - L(x')) / L(x)||, eps_min), L a hidden layer
- Lipschitz(x) = max_x' ||A(x) - A(x')|| / ||x - x'||

Divisions are elementwise, a zero entry of the divisor replaced by ``eps_min`` (as Agarwal et al. and
Quantus); norms are L2 over every element.  With ``same_prediction`` (the default for RIS/ROS/RRS, as the
paper's definition: x' in the neighbourhood *with the same predicted class*), draws that change the
model's argmax are left out of the max, and a sample whose every draw does so is nan.  Quantus 0.6
instead returns nan for a sample as soon as one draw changes the prediction; its default noise is
U[0.02, 0.2] added to every element (one-sided), ours U[-radius, radius] — both tested in
``tests/conformance``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Literal

import torch
from torch import nn

from ..batching import DEFAULT_MAX_BATCH, map_chunks
from ..errors import ParamError
from ..registry import suggest
from .base import Attributor, method_attributor, register_metric
from .robustness import Noise, perturbed_scores

Relative = Literal["input", "output", "representation"]


def _l2(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x.flatten(1).double(), dim=1)


def _relative(change: torch.Tensor, ref: torch.Tensor, eps_min: float) -> torch.Tensor:
    """(ref - other) / ref elementwise in float64 with a zero ``ref`` entry replaced by ``eps_min``."""
    ref = ref.double()
    return change.double() / torch.where(ref == 0, torch.full_like(ref, eps_min), ref)


# ---- the hidden representation RRS divides by --------------------------------------------------------

def representation_layer(model: nn.Module, layer: str | None) -> tuple[str, str]:
    """(module name, ``"input"`` | ``"output"``): where RRS reads L(x).  ``layer`` None: the input of the
    model's last ``nn.Linear`` (the penultimate features); a name: that module's output.  Raises ParamError
    in one line for a model whose modules cannot be hooked (TorchScript) or that has no such module."""
    if isinstance(model, torch.jit.ScriptModule):
        raise ParamError("relative_representation_stability: model is TorchScript; it needs forward hooks on the "
                         "model's modules (give a plain nn.Module)")
    names = dict(model.named_modules())
    if layer is not None:
        if layer not in names or layer == "":
            raise ParamError(f"layer: '{layer}' is not a module of the model; allowed: names from "
                             f"model.named_modules(), e.g. {', '.join(list(n for n in names if n)[:6])}"
                             + suggest(layer, [n for n in names if n]))
        return layer, "output"
    linear = [n for n, m in names.items() if isinstance(m, nn.Linear)]
    if not linear:
        raise ParamError("layer: the model has no nn.Linear whose input is the default representation; allowed: "
                         "give layer: a module name from model.named_modules()")
    return linear[-1], "input"


@contextlib.contextmanager
def captured(model: nn.Module, where: tuple[str, str]) -> Iterator[list[torch.Tensor]]:
    """Within the block, every forward pass of ``model`` appends the hooked tensor (flattened per sample)."""
    name, side = where
    seen: list[torch.Tensor] = []
    module = dict(model.named_modules())[name]
    if side == "input":
        handle = module.register_forward_pre_hook(lambda m, args: seen.append(args[0].flatten(1)))
    else:
        handle = module.register_forward_hook(lambda m, args, out: seen.append(out.flatten(1)))
    try:
        yield seen
    finally:
        handle.remove()


def _fits_representation(model: nn.Module, data_info: dict, params: dict) -> str | None:
    """Preflight: why RRS cannot read a representation of ``model`` (None when it can)."""
    try:
        representation_layer(model, params.get("layer"))
    except ParamError as err:
        return str(err)
    return None


# ---- the metrics ----------------------------------------------------------------------------------

def relative_stability(model, inputs, target, attributions, relative: Relative, *, attr_fn: Attributor,
                       radius: float, n_samples: int, noise: Noise, same_prediction: bool, eps_min: float,
                       seed: int, max_batch: int, layer: str | None = None,
                       perturb_func: Callable | None = None) -> torch.Tensor:
    """RIS / ROS / RRS per draw, shape [N, n_samples] (float64; nan where ``same_prediction`` leaves a draw out)."""
    where = representation_layer(model, layer) if relative == "representation" else None
    a0 = attr_fn(inputs, target).detach() if attributions is None else attributions.detach()

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, representation or None) of ``x``, one pass."""
        with torch.no_grad(), (captured(model, where) if where else contextlib.nullcontext([])) as seen:
            out = model(x)
        return out, (seen[-1] if seen else None)

    need_forward = same_prediction or relative != "input"
    ref_out = ref_rep = ref_pred = None
    if need_forward:  # logits (and the representation) of the clean inputs, one pass per chunk
        width: dict[str, int] = {}

        def clean(start: int, stop: int) -> torch.Tensor:
            out, rep = forward(inputs[start:stop])
            width["logits"] = out.shape[1]
            return out if rep is None else torch.cat([out, rep.to(out.dtype)], 1)

        both = map_chunks(clean, inputs.shape[0], max_batch)
        ref_out = both[:, : width["logits"]]
        ref_rep = both[:, width["logits"]:] if where else None
        ref_pred = ref_out.argmax(1)

    def score(img: torch.Tensor, x: torch.Tensor, a: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        out, rep = forward(x) if need_forward else (None, None)
        num = _l2(_relative(a0[img] - a, a0[img], eps_min))
        if relative == "input":
            den = _l2(_relative(inputs[img] - x, inputs[img], eps_min))
        elif relative == "output":
            den = _l2(ref_out[img] - out)
        else:
            den = _l2(_relative(ref_rep[img] - rep, ref_rep[img], eps_min))
        value = num / den.clamp_min(eps_min)
        if same_prediction:
            value = torch.where(out.argmax(1) == ref_pred[img], value, torch.full_like(value, float("nan")))
        return value

    return perturbed_scores(attr_fn, inputs, target, score, radius=radius, n_samples=n_samples, seed=seed,
                            max_batch=max_batch, noise=noise, perturb_func=perturb_func, dtype=torch.float64,
                            per_sample=True)


def _max_over_draws(values: torch.Tensor) -> torch.Tensor:
    """nan-max over the draws [N, S] -> [N]; nan where every draw is nan."""
    filled = torch.where(values.isnan(), torch.full_like(values, -torch.inf), values).amax(1)
    return torch.where(torch.isinf(filled) & (filled < 0), torch.full_like(filled, float("nan")), filled)


def _stability(relative: Relative, model, inputs, target, attributions, method: str, method_params: dict | None,
               attributor: Attributor | None, **settings) -> torch.Tensor:
    """RIS / ROS / RRS per sample [N]: the max over the draws of :func:`relative_stability` (nan-aware)."""
    attr_fn = attributor or method_attributor(model, method, method_params)
    return _max_over_draws(relative_stability(model, inputs, target, attributions, relative, attr_fn=attr_fn,
                                              **settings))


def relative_input_stability(model, inputs, target, attributions=None, *, method: str = "saliency",
                             method_params: dict | None = None, radius: float = 0.05, n_samples: int = 10,
                             noise: Noise = "uniform", same_prediction: bool = True, eps_min: float = 1e-6,
                             seed: int = 0, max_batch: int = DEFAULT_MAX_BATCH, perturb_func: Callable | None = None,
                             attributor: Attributor | None = None) -> torch.Tensor:
    """RIS per sample [N] (unitless ratio of relative changes; lower = more stable): max over ``n_samples``
    noisy x' of ||(A(x) - A(x')) / A(x)|| / max(||(x - x') / x||, eps_min)."""
    return _stability("input", **locals())


def relative_output_stability(model, inputs, target, attributions=None, *, method: str = "saliency",
                              method_params: dict | None = None, radius: float = 0.05, n_samples: int = 10,
                              noise: Noise = "uniform", same_prediction: bool = True, eps_min: float = 1e-6,
                              seed: int = 0, max_batch: int = DEFAULT_MAX_BATCH, perturb_func: Callable | None = None,
                              attributor: Attributor | None = None) -> torch.Tensor:
    """ROS per sample [N] (relative attribution change per logit unit; lower = more stable): max over noisy
    x' of ||(A(x) - A(x')) / A(x)|| / max(||h(x) - h(x')||, eps_min), h the model's logits."""
    return _stability("output", **locals())


def relative_representation_stability(model, inputs, target, attributions=None, *, method: str = "saliency",
                                      method_params: dict | None = None, layer: str | None = None,
                                      radius: float = 0.05, n_samples: int = 10, noise: Noise = "uniform",
                                      same_prediction: bool = True, eps_min: float = 1e-6, seed: int = 0,
                                      max_batch: int = DEFAULT_MAX_BATCH, perturb_func: Callable | None = None,
                                      attributor: Attributor | None = None) -> torch.Tensor:
    """RRS per sample [N] (unitless; lower = more stable): max over noisy x' of ||(A(x) - A(x')) / A(x)|| /
    max(||(L(x) - L(x')) / L(x)||, eps_min), L the hidden representation named by ``layer`` (default: the
    input of the last ``nn.Linear``)."""
    return _stability("representation", **locals())


def local_lipschitz_estimate(model, inputs, target, attributions=None, *, method: str = "saliency",
                             method_params: dict | None = None, radius: float = 0.1, n_samples: int = 10,
                             noise: Noise = "gaussian", same_prediction: bool = False, seed: int = 0,
                             max_batch: int = DEFAULT_MAX_BATCH, perturb_func: Callable | None = None,
                             attributor: Attributor | None = None) -> torch.Tensor:
    """Local Lipschitz estimate per sample [N] (attribution units per input unit; lower = more stable): max
    over ``n_samples`` noisy x' of ||A(x) - A(x')||_2 / ||x - x'||_2 (Alvarez-Melis & Jaakkola 2018, by
    sampling; defaults Gaussian noise of std 0.1, as Quantus).  ``same_prediction`` leaves out draws that
    change the argmax (off by default, as Quantus)."""
    attr_fn = attributor or method_attributor(model, method, method_params)
    a0 = attr_fn(inputs, target).detach() if attributions is None else attributions.detach()
    ref_pred = None
    if same_prediction:
        with torch.no_grad():
            ref_pred = map_chunks(lambda a, b: model(inputs[a:b]).argmax(1), inputs.shape[0], max_batch)

    def score(img: torch.Tensor, x: torch.Tensor, a: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        value = _l2(a0[img] - a) / _l2(inputs[img] - x)
        if ref_pred is not None:
            with torch.no_grad():
                same = model(x).argmax(1) == ref_pred[img]
            value = torch.where(same, value, torch.full_like(value, float("nan")))
        return value

    return _max_over_draws(perturbed_scores(attr_fn, inputs, target, score, radius=radius, n_samples=n_samples,
                                            seed=seed, max_batch=max_batch, noise=noise, perturb_func=perturb_func,
                                            dtype=torch.float64, per_sample=True))


_BOUNDS = {"radius": (0.0, None), "n_samples": (1, None), "max_batch": (1, None), "eps_min": (0.0, None)}
_DOCS = {
    "radius": "noise scale in normalised input units: the half-width of U[-radius, radius] (noise 'uniform') or "
              "the standard deviation (noise 'gaussian')",
    "noise": "the perturbation added to every input element: 'uniform' U[-radius, radius] or 'gaussian' "
             "N(0, radius^2), drawn per sample from the seed",
    "same_prediction": "leave out draws that change the model's predicted class (a sample whose every draw does "
                       "is nan)",
    "eps_min": "replaces a zero entry of an elementwise divisor, and is the least denominator norm",
    "method_params": "parameters of the method re-run on the noisy inputs (the suite passes the unit's own)",
}
_META = {"consumes": ("attributions", "method"), "inputs": "any", "direction": "lower",
         "hidden": ("perturb_func",), "bounds": _BOUNDS}
_PAPER = "Agarwal, Johnson, Pawelczyk, Krishna, Saxena, Zitnik, Lakkaraju 2022"

register_metric("relative_input_stability", relative_input_stability, **_META, paper=_PAPER,
                description="Relative input stability (Agarwal et al. 2022): max relative attribution change over "
                            "relative input change, noisy inputs with the same prediction (lower is better)",
                units="unitless (ratio of relative changes)", label="RIS",
                docs={k: v for k, v in _DOCS.items() if k != "method_params"})
register_metric("relative_output_stability", relative_output_stability, **_META, paper=_PAPER,
                description="Relative output stability (Agarwal et al. 2022): max relative attribution change over "
                            "the logits' change, noisy inputs with the same prediction (lower is better)",
                units="relative change per logit unit", label="ROS",
                docs={k: v for k, v in _DOCS.items() if k != "method_params"})
register_metric("relative_representation_stability", relative_representation_stability, **_META, paper=_PAPER,
                fits=_fits_representation,
                description="Relative representation stability (Agarwal et al. 2022): max relative attribution "
                            "change over the relative change of a hidden layer (default: the input of the last "
                            "Linear) (lower is better)",
                units="unitless (ratio of relative changes)", label="RRS",
                settings=lambda ctx, params: {"representation": "{1} of {0}".format(
                    *representation_layer(ctx.model, params.get("layer")))},
                docs={**{k: v for k, v in _DOCS.items() if k != "method_params"},
                      "layer": "module (a name from model.named_modules()) whose output is the representation; "
                               "null: the input of the model's last nn.Linear (the penultimate features)"})
register_metric("local_lipschitz_estimate", local_lipschitz_estimate,
                **{**_META, "bounds": {k: v for k, v in _BOUNDS.items() if k != "eps_min"}},
                paper="Alvarez-Melis, Jaakkola 2018",
                description="Local Lipschitz estimate (Alvarez-Melis & Jaakkola 2018): max ||A(x) - A(x')|| / "
                            "||x - x'|| over Gaussian-noisy x' (lower is better)",
                units="attribution units per input unit", label="local Lipschitz estimate",
                docs={k: v for k, v in _DOCS.items() if k not in ("method_params", "eps_min")})
