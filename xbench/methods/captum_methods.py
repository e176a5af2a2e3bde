"""Captum-backed methods: SmoothGrad, GradientSHAP, Occlusion, Grad-CAM, Guided Backprop.

Captum does the arithmetic; these wrappers make chunking, seeding and devices uniform:
every call is split over images with :func:`xbench.batching.map_chunks` (one OOM policy), and
``max_batch`` (model inputs per forward pass) is mapped onto Captum's own batching knob where it
has one (``nt_samples_batch_size``, ``perturbations_per_eval``).  Captum runs on the inputs'
device; the model must already be there.  Random draws are seeded without touching the global
RNG state (torch and NumPy states are restored afterwards).
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..batching import DEFAULT_MAX_BATCH, map_chunks
from ..errors import ParamError
from ..registry import suggest
from ..substrates import make_baseline
from .base import FROM_BASELINE, register

REFERENCE_POOL = 128
"""GradientSHAP draws its baselines from a seeded pool of at most this many references, moved to the device once."""


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch (CPU and ``device``) and NumPy for the block, restoring the previous states afterwards."""
    devices = [device] if device.type == "cuda" else []
    np_state = np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        np.random.seed(int(seed) % 2**32)
        try:
            yield
        finally:
            np.random.set_state(np_state)


def by_images(fn: Callable[[int, int], torch.Tensor], n: int, images_per_call: int) -> torch.Tensor:
    """Run ``fn(start, stop)`` over image ranges of ``images_per_call`` and concatenate (OOM halves the range).

    Captum's notices about setting ``requires_grad`` and hooking ReLUs are expected here and silenced;
    the result is detached from any graph Captum built.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Input Tensor \d+ did not already require gradients")
        warnings.filterwarnings("ignore", message=r"Setting backward hooks on ReLU activations")
        return map_chunks(fn, n, max(1, images_per_call)).detach()


@register("smoothgrad", inputs="any", completeness=False,
          description="SmoothGrad (Smilkov et al. 2017): gradients averaged over noisy copies (Captum)",
          path_start=None,
          bounds={"n_samples": (1, 100000), "stdev": (0.0, None), "max_batch": (1, None)})
def smoothgrad(model, inputs, target, *, n_samples: int = 50, stdev: float = 0.5,
               kind: Literal["smoothgrad", "smoothgrad_sq", "vargrad"] = "smoothgrad", abs: bool = False,
               seed: int = 0, max_batch: int = DEFAULT_MAX_BATCH):
    """Mean (``smoothgrad``), mean square or variance of dF_t/dx over x + N(0, stdev^2) noise.

    ``stdev`` is in normalised input units: 0.5 is about 12% of the ~4-sigma range of
    standardised data, inside SmoothGrad's recommended 10-20% of the input range.
    The noise stream depends on how the batch is chunked, so ``max_batch`` changes the draw
    (not the distribution).  Returns attributions shaped like ``inputs``.
    """
    per_call = max(1, min(n_samples, max_batch))  # noise samples per forward, for one image
    images = max(1, max_batch // per_call)
    from captum.attr import NoiseTunnel, Saliency  # imported on use: captum costs ~0.7 s at start-up

    nt = NoiseTunnel(Saliency(model))

    def run(start: int, stop: int) -> torch.Tensor:
        return nt.attribute(inputs[start:stop], nt_type=kind, nt_samples=n_samples, stdevs=float(stdev),
                            nt_samples_batch_size=per_call, target=target[start:stop], abs=abs)

    with seeded(seed, inputs.device):
        return by_images(run, inputs.shape[0], images)


@register("gradient_shap", inputs="any", completeness=True,
          description="GradientSHAP (Lundberg & Lee 2017; Captum): EG with input noise",
          path_start=None,  # a distribution of starts
          bounds={"n_samples": (1, 100000), "stdev": (0.0, None), "max_batch": (1, None)})
def gradient_shap(model, inputs, target, *, n_samples: int = 20, stdev: float = 0.0, seed: int = 0,
                  max_batch: int = DEFAULT_MAX_BATCH, references: torch.Tensor | None = None):
    """E[(x - x') * dF_t/dx(x' + a (x + eps - x'))], x' from the references (or the zero baseline), a ~ U(0, 1).

    Baselines come from a seeded pool of at most :data:`REFERENCE_POOL` references when the
    harness gives ``references``, else the zero baseline (then this is random-alpha IG).
    Each forward pass holds (images per call) x ``n_samples`` inputs.
    """
    gen = torch.Generator().manual_seed(int(seed))
    if references is not None and len(references) > 0:
        pick = torch.randperm(len(references), generator=gen)[:REFERENCE_POOL].to(references.device)
        pool = references[pick].to(inputs.device, inputs.dtype)
    else:
        pool = torch.zeros_like(inputs[:1])
    from captum.attr import GradientShap

    explainer = GradientShap(model)

    def run(start: int, stop: int) -> torch.Tensor:
        return explainer.attribute(inputs[start:stop], baselines=pool, n_samples=n_samples, stdevs=float(stdev),
                                   target=target[start:stop])

    with seeded(seed, inputs.device):
        return by_images(run, inputs.shape[0], max_batch // n_samples)


def _occlusion_check(params: dict[str, Any], where: str) -> None:
    """Captum's Occlusion asserts stride <= window mid-run: refused here, when the settings are validated."""
    if params["stride"] > params["window"]:
        raise ParamError(f"{where}.stride: {params['stride']} is larger than window {params['window']}; "
                         "expected stride <= window (windows would skip inputs)")


@register("occlusion", inputs="any", completeness=False, data_bounds={"window": "side", "stride": "side"},
          description="Occlusion (Zeiler & Fergus 2014; Captum): output drop when a window is replaced",
          path_start=FROM_BASELINE, check=_occlusion_check,
          bounds={"window": (1, None), "stride": (1, None), "max_batch": (1, None)})
def occlusion(model, inputs, target, *, window: int = 8, stride: int = 4, baseline: Any = "zero",
              max_batch: int = DEFAULT_MAX_BATCH, data_info: dict | None = None):
    """Mean of F_t(x) - F_t(x with a window x window patch, all channels, set to the baseline) over the patches.

    Units: logits.  For [N, D] (tabular) inputs the window slides over features.
    """
    if inputs.dim() < 2:
        raise ParamError("occlusion: inputs need a batch dimension")
    spatial = inputs.shape[2:]
    if spatial:
        shape = (inputs.shape[1],) + tuple(min(window, s) for s in spatial)
        strides = (inputs.shape[1],) + tuple(min(stride, s) for s in spatial)
    else:
        shape, strides = (min(window, inputs.shape[1]),), (min(stride, inputs.shape[1]),)
    base = make_baseline(inputs, baseline, data_info=data_info)
    images = min(inputs.shape[0], max_batch)
    per_eval = max(1, max_batch // images)  # perturbations per forward: images x per_eval inputs
    from captum.attr import Occlusion

    explainer = Occlusion(model)

    def run(start: int, stop: int) -> torch.Tensor:
        return explainer.attribute(inputs[start:stop], sliding_window_shapes=shape, strides=strides,
                                   baselines=base[start:stop], target=target[start:stop],
                                   perturbations_per_eval=per_eval)

    return by_images(run, inputs.shape[0], images)


def find_layer(model: nn.Module, name: str | None, where: str = "layer") -> tuple[str, nn.Module]:
    """Return ``(dotted name, module)``: the named submodule, or the last ``nn.Conv2d`` when ``name`` is None."""
    if name is None:
        convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ParamError(f"{where}: the model has no Conv2d layer; name one (layer: <dotted module name>)")
        return convs[-1]
    names = [n for n, _ in model.named_modules() if n]
    if name not in names:
        raise ParamError(f"{where}: '{name}' is not a submodule of the model" + suggest(name, names))
    return name, model.get_submodule(name)


def probe_input(model: nn.Module, data_info: dict[str, Any]) -> torch.Tensor:
    """One zero input [1, *input_shape] on the model's device and in its dtype (meta for a shapes-only model)."""
    p = next(iter(model.parameters()), None)
    device, dtype = (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)
    return torch.zeros((1, *data_info["input_shape"]), device=device, dtype=dtype)


def layer_fires(model: nn.Module, layer: str | None, data_info: dict[str, Any], where: str = "layer") -> str | None:
    """Why ``layer`` cannot be hooked on ``model`` (None when its forward hook fires on one dry input).

    ``layer=None`` is Grad-CAM's default (:func:`cam_layer`).  A layer that exists but never runs as a
    module (a ``torch.export`` program's graph nodes, a TorchScript submodule) fails here, before any work."""
    try:
        x = probe_input(model, data_info)
        name = cam_layer(model, x, where) if layer is None else layer
        _, module = find_layer(model, name, where)
        fired: list[bool] = []
        handle = module.register_forward_hook(lambda *_: fired.append(True))
        try:
            with torch.no_grad():
                model(x)
        finally:
            handle.remove()
    except ParamError as err:
        return str(err).removeprefix(f"{where}: ")
    except Exception as err:  # noqa: BLE001 - TorchScript refuses hooks, an exported graph has no such module
        return f"cannot hook layer '{layer}': {type(err).__name__}: {str(err).strip().splitlines()[0][:160]}"
    if not fired:
        return (f"layer '{name}' does not run as a module in the forward pass, so its hook never fires (a "
                "torch.export or TorchScript model has no hookable submodules); use the eager model")
    return None


def _grad_cam_fits(model: nn.Module, data_info: dict[str, Any], params: dict[str, Any]) -> str | None:
    return layer_fires(model, params.get("layer"), data_info)


_CAM_LAYERS: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()


def cam_layer(model: nn.Module, inputs: torch.Tensor, where: str = "layer") -> str:
    """Grad-CAM's default layer: the rectified output of the last conv block, as the authors and
    ``pytorch-grad-cam`` use it (e.g. ``features.4``, the ReLU after the last conv, or ``layer4`` of a ResNet).

    One forward pass on one input records the modules in the order they finish; after the last
    ``nn.Conv2d``, the last module to finish before the feature map changes shape (pooling,
    flattening) is taken.  When no module follows the conv (a functional ReLU), the conv itself.
    Cached per model, its parameters and the input shape.
    """
    conv_name, _ = find_layer(model, None, where)
    key = (tuple(inputs.shape[1:]), tuple(id(p) for p in model.parameters()))
    cache = _CAM_LAYERS.setdefault(model, {})
    if key in cache:
        return cache[key]
    done: list[tuple[str, tuple]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: done.append(
        (n, tuple(out.shape) if isinstance(out, torch.Tensor) else ())))
        for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            model(inputs[:1])
    finally:
        for h in hooks:
            h.remove()
    last = max(i for i, (n, _) in enumerate(done) if n == conv_name)
    shape, chosen = done[last][1], conv_name
    for n, sh in done[last + 1:]:
        if sh != shape:
            break
        chosen = n
    cache[key] = chosen
    return chosen


@register("grad_cam", inputs="image", completeness=False,
          description="Grad-CAM (Selvaraju et al. 2017; Captum), upsampled to the input and over channels",
          path_start=None, needs_hooks=True, bounds={"max_batch": (1, None)},
          fits=_grad_cam_fits)
def grad_cam(model, inputs, target, *, layer: str | None = None, relu: bool = True,
             max_batch: int = DEFAULT_MAX_BATCH):
    """ReLU(sum_c mean(dF_t/dA_c) A_c) at ``layer``, bilinearly upsampled to H x W; returns (attributions, info).

    ``layer`` defaults to the rectified output of the last conv block (:func:`cam_layer`; the
    Grad-CAM authors' and ``pytorch-grad-cam``'s choice); ``info['params']['layer']`` names the
    layer used.  The map is the same for every input channel (expanded, not divided), in the
    units of A times logits per unit of A, without ``pytorch-grad-cam``'s min-max normalisation.
    Images only ([N, C, H, W]).
    """
    if inputs.dim() != 4:
        raise ParamError(f"grad_cam: needs image inputs [N, C, H, W], got shape {tuple(inputs.shape)}")
    name = cam_layer(model, inputs, "grad_cam.layer") if layer is None else layer
    _, module = find_layer(model, name, "grad_cam.layer")
    from captum.attr import LayerAttribution, LayerGradCam

    explainer = LayerGradCam(model, module)

    def run(start: int, stop: int) -> torch.Tensor:
        cam = explainer.attribute(inputs[start:stop], target=target[start:stop], relu_attributions=relu)
        cam = LayerAttribution.interpolate(cam, tuple(inputs.shape[2:]), interpolate_mode="bilinear")
        return cam.expand(-1, inputs.shape[1], -1, -1)

    return by_images(run, inputs.shape[0], max_batch), {"settings": {"layer": name}}


@register("guided_backprop", inputs="any", completeness=False,
          description="Guided Backpropagation (Springenberg et al. 2015; Captum)", path_start=None, needs_hooks=True,
          bounds={"max_batch": (1, None)})
def guided_backprop(model, inputs, target, *, max_batch: int = DEFAULT_MAX_BATCH):
    """Gradient with ReLU backward passes that only let positive gradients through (needs nn.ReLU modules)."""
    from captum.attr import GuidedBackprop

    explainer = GuidedBackprop(model)

    def run(start: int, stop: int) -> torch.Tensor:
        return explainer.attribute(inputs[start:stop], target=target[start:stop])

    return by_images(run, inputs.shape[0], max_batch)
