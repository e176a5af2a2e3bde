"""Any Captum attribution class as an xbench method: ``{name: captum, class: DeepLift, params: {...}}``.

The adapter builds ``captum.attr.<class>(model, **init)`` and calls ``.attribute(inputs, target=..., **params)``
per chunk of images (:func:`xbench.batching.map_chunks`, one OOM policy), seeded without touching the global RNG.
What xbench supplies, the user does not write:

- ``layer``: a dotted module path (``features.28``), for the Layer* classes and GuidedGradCam;
- ``baselines``: a baseline name as everywhere in xbench (``zero``, ``blur``, ``mean``, ``uniform``, ...) or
  ``references`` (the suite's reference split; the \\*Shap classes draw from it as a distribution);
- ``feature_grid``: square patches of this many pixels as the ``feature_mask`` of the perturbation classes
  (Lime, KernelShap, FeatureAblation, ShapleyValueSampling, ...), the usual superpixel stand-in;
- ``internal_batch_size`` / ``perturbations_per_eval`` / ``nt_samples_batch_size`` from ``max_batch`` where the
  class has that knob and the user did not set it; the values set are recorded in the rows' method parameters
  (``set_by_xbench``).  These change how Captum batches, not what it computes, with one exception:
  ``NoiseTunnel`` draws its noise one batch of samples at a time, so with ``nt_samples_batch_size`` set its noise
  (and the map, pointwise) differs from a default Captum call with the same seed; the draws have the same
  distribution, so only the sample differs.  ``params: {nt_samples_batch_size: null}`` keeps Captum's default.

Layer attributions ([N, C', H', W']) are summed over their channels, resized to the input (bilinear, as Captum's
``LayerAttribution.interpolate``) and given to every input channel, as Grad-CAM is. Classes that do not explain the
target class of the input (Neuron*, LayerActivation), need Python callables or text (LimeBase, LLM*), or attribute a
whole data loader are refused with the reason: :func:`support` says which and why. LRP needs a Captum rule for
every leaf module (``nn.Flatten`` has none: flatten with ``torch.flatten`` in ``forward``), as in Captum itself.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Literal

import torch
from torch import nn

from ..batching import DEFAULT_MAX_BATCH
from ..errors import ParamError
from ..registry import suggest
from ..substrates import make_baseline
from .base import register
from .captum_methods import by_images, cam_layer, find_layer, seeded

# Classes refused, by the reason a user is told. Everything else that subclasses captum.attr.Attribution is accepted.
_REFUSED_PREFIX = {"Neuron": "explains one hidden neuron, not the target class of the input",
                   "LLM": "attributes text generation of a language model, not an image or tabular classifier",
                   "RemoteLLM": "attributes text generation of a remote language model"}
_REFUSED = {
    "Attribution": "an abstract base class", "GradientAttribution": "an abstract base class",
    "PerturbationAttribution": "an abstract base class", "LayerAttribution": "an abstract base class",
    "NeuronAttribution": "an abstract base class",
    "LimeBase": "needs Python callables (similarity, perturbation and interpretable-representation functions); "
                "use Lime",
    "DataLoaderAttribution": "attributes over a whole DataLoader rather than a batch of inputs",
    "LayerActivation": "returns activations, which do not depend on the target class",
    "LayerFeaturePermutation": "fails inside Captum 0.9 for any target (its wrapped forward returns one value per "
                               "sample, then selects a target column); use LayerFeatureAblation",
}
# Arguments the adapter fills in itself; a user who writes them is told so.
_OWNED_INIT = ("model", "forward_func", "layer", "attribution_method")
_OWNED_CALL = ("inputs", "target", "additional_forward_args", "return_convergence_delta", "show_progress",
               "feature_mask", "baselines")
_BATCH_KNOBS = ("internal_batch_size", "perturbations_per_eval", "nt_samples_batch_size")
_SHAP = ("DeepLiftShap", "GradientShap", "LayerDeepLiftShap", "LayerGradientShap")


def _captum_attr():
    import captum.attr

    return captum.attr


def support(name: str) -> tuple[bool, str]:
    """Whether the adapter accepts ``captum.attr.<name>``: (True, "") or (False, the reason)."""
    ca = _captum_attr()
    cls = getattr(ca, name, None)
    if not inspect.isclass(cls) or not issubclass(cls, ca.Attribution):
        return False, "not an attribution class of captum.attr"
    if name in _REFUSED:
        return False, _REFUSED[name]
    for prefix, why in _REFUSED_PREFIX.items():
        if name.startswith(prefix):
            return False, why
    if "target" not in inspect.signature(cls.attribute).parameters and name != "NoiseTunnel":
        return False, "its attribute() takes no target"
    return True, ""


def attribution_classes() -> list[str]:
    """Every public class of ``captum.attr`` that is an attribution algorithm (accepted or not), sorted."""
    ca = _captum_attr()
    return sorted(n for n in dir(ca) if not n.startswith("_") and inspect.isclass(getattr(ca, n))
                  and issubclass(getattr(ca, n), ca.Attribution))


def _class(name: str, where: str):
    ok, why = support(name)
    if not ok:
        accepted = [n for n in attribution_classes() if support(n)[0]]
        raise ParamError(f"{where}: captum.attr.{name} is not supported: {why}; accepted: {', '.join(accepted)}"
                         + suggest(name, accepted))
    return getattr(_captum_attr(), name)


def _names(fn, skip: int) -> list[str]:
    return [n for i, (n, p) in enumerate(inspect.signature(fn).parameters.items())
            if i >= skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _check_keys(given: dict, fn, skip: int, owned: tuple[str, ...], where: str) -> None:
    allowed = [n for n in _names(fn, skip) if n not in owned]
    for key in given:
        if key in owned:
            raise ParamError(f"{where}.{key}: xbench sets '{key}' itself (see the captum method's own parameters: "
                             "layer, baselines, feature_grid, max_batch)")
        if key not in allowed:
            raise ParamError(f"{where}.{key}: '{key}' is not an argument of {fn.__qualname__}; allowed: "
                             f"{', '.join(allowed) or '(none)'}" + suggest(key, allowed))


def check_params(params: dict[str, Any], where: str = "captum") -> None:
    """Validate ``cls``, ``init`` and ``params`` against Captum's own signatures (raises ParamError).

    Called when a suite is validated, so a misspelt Captum argument fails before any work.
    """
    cls = _class(params["cls"], f"{where}.class")
    init = dict(params.get("init") or {})
    call = dict(params.get("params") or {})
    if cls.__name__ == "NoiseTunnel":
        inner = init.pop("attribution", None)
        if not isinstance(inner, str):
            raise ParamError(f"{where}.init.attribution: NoiseTunnel wraps another class; give its name, e.g. "
                             "init: {attribution: IntegratedGradients}")
        inner_cls = _class(inner, f"{where}.init.attribution")
        _check_keys(init, inner_cls.__init__, 1, _OWNED_INIT, f"{where}.init")
        nt_args = _names(cls.attribute, 2)
        _check_keys({k: v for k, v in call.items() if k not in nt_args}, inner_cls.attribute, 2, _OWNED_CALL,
                    f"{where}.params")
    else:
        _check_keys(init, cls.__init__, 1, _OWNED_INIT, f"{where}.init")
        _check_keys(call, cls.attribute, 2, _OWNED_CALL, f"{where}.params")
    needs_layer = "layer" in inspect.signature(cls.__init__).parameters
    if needs_layer and params.get("layer") is None and cls.__name__ not in ("LayerGradCam", "GuidedGradCam"):
        raise ParamError(f"{where}.layer: captum.attr.{cls.__name__} attributes to a layer; name it by its module "
                         "path (e.g. layer: features.28)")


_HOOKED = ("DeepLift", "DeepLiftShap", "LRP", "GuidedBackprop", "Deconvolution", "GuidedGradCam")


def needs_hooks(params: dict[str, Any]) -> bool:
    """Whether the class (or NoiseTunnel's inner class) hooks the model's modules: TorchScript models refuse that."""
    name = params.get("cls") or params.get("class") or ""
    if name == "NoiseTunnel":
        name = str((params.get("init") or {}).get("attribution", ""))
    return name in _HOOKED or name.startswith("Layer") or name == "InternalInfluence"


_COMPLETE = ("IntegratedGradients", "DeepLift", "DeepLiftShap", "GradientShap")


def captum_completeness(params: dict[str, Any]) -> bool:
    """Whether the class claims sum(A) = F(x) - F(x') on the input (GradientShap/DeepLiftShap in expectation);
    Shapley sampling, KernelShap, Lime, FeaturePermutation, gradients and layer maps make no such claim here."""
    return (params.get("cls") or params.get("class")) in _COMPLETE


def _fits(model: nn.Module, data_info: dict[str, Any], params: dict[str, Any]) -> str | None:
    """A named ``layer`` must exist and its forward hook must fire on one dry input."""
    from .captum_methods import layer_fires

    if params.get("layer") is None:
        return None
    return layer_fires(model, params["layer"], data_info)


def _layer_module(model: nn.Module, inputs: torch.Tensor, layer: str | None, where: str) -> nn.Module:
    """The named layer, or Grad-CAM's default (:func:`cam_layer`: the rectified output of the last conv block)."""
    return find_layer(model, cam_layer(model, inputs, where) if layer is None else layer, where)[1]


def _to_input_shape(attr: torch.Tensor, inputs: torch.Tensor, mode: str) -> torch.Tensor:
    """Layer-shaped maps -> input-shaped ones (channel sum, resize, expand); input-shaped maps pass through."""
    if attr.shape == inputs.shape:
        return attr
    if attr.dim() == 4 and inputs.dim() == 4:
        cam = attr.sum(1, keepdim=True)
        if cam.shape[-2:] != inputs.shape[-2:]:
            kw = {"align_corners": False} if mode == "bilinear" else {}
            cam = torch.nn.functional.interpolate(cam, size=tuple(inputs.shape[-2:]), mode=mode, **kw)
        return cam.expand(-1, inputs.shape[1], -1, -1)
    raise ParamError(f"captum: the attribution has shape {tuple(attr.shape)} for inputs {tuple(inputs.shape)}; "
                     "only input-shaped and spatial layer ([N, C, H, W]) attributions can be compared with the others")


def feature_grid_mask(inputs: torch.Tensor, grid: int) -> torch.Tensor:
    """A feature mask [1, C, H, W] (images) or [1, F] (tabular) of square ``grid``-pixel patches shared by channels."""
    if inputs.dim() == 4:
        h, w = inputs.shape[-2:]
        rows = torch.arange(h, device=inputs.device) // grid
        cols = torch.arange(w, device=inputs.device) // grid
        ids = rows[:, None] * (-(-w // grid)) + cols[None, :]
        return ids.expand(1, inputs.shape[1], h, w).contiguous()
    return (torch.arange(inputs[0].numel(), device=inputs.device) // grid).view(1, *inputs.shape[1:])


@register("captum", inputs="any", completeness=lambda p: captum_completeness(p),
          description="Any Captum attribution class (class: DeepLift, Lime, LayerGradCam, NoiseTunnel, ...)",
          check=check_params, aliases={"class": "cls"},
          needs=("data_info", "references"), path_start=lambda x, p, info: _path_start(x, p, info),
          needs_hooks=lambda p: needs_hooks(p), fits=_fits,
          example={"cls": "IntegratedGradients", "params": {"n_steps": 8}},
          bounds={"feature_grid": (1, 4096), "max_batch": (1, None)})
def captum_attribution(model, inputs, target, *, cls: str, layer: str | None = None, init: dict | None = None,
                       params: dict | None = None, baselines: Any = None, feature_grid: int | None = None,
                       interpolate: Literal["bilinear", "nearest"] = "bilinear", seed: int = 0,
                       max_batch: int = DEFAULT_MAX_BATCH, data_info: dict | None = None,
                       references: torch.Tensor | None = None):
    """Attributions of ``captum.attr.<cls>`` shaped like ``inputs`` (layer maps resized to them).

    ``init``/``params`` go to the class's constructor/``attribute`` (validated against their signatures);
    ``layer`` is a dotted module path; ``baselines`` an xbench baseline name or ``references``;
    ``feature_grid`` the patch size of the feature mask for perturbation classes; ``max_batch`` bounds the
    model inputs per forward pass and sets Captum's batching knobs the user left unset (``info['params']
    ['set_by_xbench']``; NoiseTunnel's noise draws depend on them, see the module docstring).
    """
    check_params({"cls": cls, "layer": layer, "init": init, "params": params})
    klass = _class(cls, "captum.class")
    init = _tuples(dict(init or {}))
    call = _tuples(dict(params or {}))
    inner = klass
    if klass.__name__ == "NoiseTunnel":
        inner = _class(init.pop("attribution"), "captum.init.attribution")
        explainer = klass(_build(inner, model, inputs, layer, init))
    else:
        explainer = _build(klass, model, inputs, layer, init)
    accepted = set(inspect.signature(inner.attribute).parameters) | set(inspect.signature(klass.attribute).parameters)
    shap = inner.__name__ in _SHAP
    base = _baselines(inner, inputs, baselines, references, data_info)
    if "baselines" in accepted and base is not None:
        call["baselines"] = base
    if "feature_mask" in accepted and feature_grid is not None:
        call["feature_mask"] = feature_grid_mask(inputs, feature_grid)
    # model inputs per image and forward pass that no Captum knob splits: Shap's baselines and GradientShap's
    # samples are expanded in one forward
    per_image = 1
    if inner.__name__ in ("DeepLiftShap", "LayerDeepLiftShap") and base is not None:
        per_image = base.shape[0]
    if inner.__name__ in ("GradientShap", "LayerGradientShap"):
        per_image = int(call.get("n_samples", inspect.signature(inner.attribute).parameters["n_samples"].default))
    images = max(1, min(inputs.shape[0], max_batch // per_image))
    set_by_xbench = {}
    for knob in _BATCH_KNOBS:
        # Captum's Layer* perturbation classes mis-shape tensor targets with several perturbations per eval
        layer_perturbation = knob == "perturbations_per_eval" and inner.__name__.startswith("Layer")
        if knob in accepted and knob not in call and not layer_perturbation:
            # internal_batch_size counts expanded inputs across the call; the others count per-image copies
            value = max_batch if knob == "internal_batch_size" else max(1, max_batch // images)
            call[knob] = set_by_xbench[knob] = value

    def run(start: int, stop: int) -> torch.Tensor:
        kw = dict(call)
        if isinstance(kw.get("baselines"), torch.Tensor) and not shap:
            kw["baselines"] = kw["baselines"][start:stop]  # one baseline per image; Shap draws from all of them
        # inputs that require grad: some Layer* classes hook the layer's output, which with frozen weights only
        # requires grad when the input does
        xin = inputs[start:stop].detach().requires_grad_(True)
        out = explainer.attribute(xin, target=target[start:stop], **kw)
        out = out[0] if isinstance(out, tuple) else out
        return _to_input_shape(out.detach(), inputs[start:stop], interpolate)

    with seeded(seed, inputs.device), warnings.catch_warnings():
        # Captum's notice that it hooks non-linear modules for the call (DeepLift, LRP): expected, and undone
        warnings.filterwarnings("ignore", message=r"Setting forward, backward hooks")
        warnings.filterwarnings("ignore", message=r"You are providing multiple inputs for Lime")
        attr = by_images(run, inputs.shape[0], images)
    # the batching knobs xbench chose, recorded with the rows (NoiseTunnel's noise draws depend on its knob)
    return attr, {"settings": {"set_by_xbench": set_by_xbench}}



def _path_start(inputs: torch.Tensor, params: dict[str, Any], data_info: dict | None) -> torch.Tensor:
    """Completeness compares with F at the class's baseline: the named xbench baseline, else Captum's zero.

    With ``baselines: references`` (the Shap classes' distribution) the zero input stands in for the mean of
    F over the references, so the completeness gap of those rows is only indicative.
    """
    b = params.get("baselines")
    if b is None or b == "references":
        return torch.zeros_like(inputs)
    return make_baseline(inputs, b, data_info=data_info)


def _tuples(obj: Any) -> Any:
    """YAML lists -> tuples, recursively (Captum checks shapes such as ``sliding_window_shapes`` as tuples)."""
    if isinstance(obj, dict):
        return {k: _tuples(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return tuple(_tuples(v) for v in obj)
    return obj


def _build(klass, model: nn.Module, inputs: torch.Tensor, layer: str | None, init: dict[str, Any]):
    params = inspect.signature(klass.__init__).parameters
    if "layer" in params:
        return klass(model, _layer_module(model, inputs, layer, "captum.layer"), **init)
    return klass(model, **init)


def _baselines(klass, inputs: torch.Tensor, baselines: Any, references: torch.Tensor | None,
               data_info: dict | None) -> torch.Tensor | None:
    """The baselines tensor Captum gets: None (the class's own default), one per image, or (Shap) a distribution."""
    if baselines is None:
        if klass.__name__ not in _SHAP:
            return None
        baselines = "references" if references is not None else "zero"
    if isinstance(baselines, str) and baselines == "references":
        if references is None:
            raise ParamError("captum.baselines: 'references' needs the suite's reference split (data.references)")
        return references.to(inputs.device, inputs.dtype)
    return make_baseline(inputs, baselines, data_info=data_info)
