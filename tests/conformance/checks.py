"""Conformance checks: each xbench method and metric next to its reference implementation, same inputs.

Every check returns a :class:`Result` with the measured max abs difference, the tolerance it must
stay under and why that tolerance (float32 rounding, a reference's finite difference, ...), and
the convention differences a user should know.  ``test_conformance.py`` asserts each one;
``benchmarks/conformance.py`` writes the table ``results/conformance.md`` from the same checks.

References that are packages (Captum, Quantus, PAIR's ``saliency``, ``pytorch-grad-cam``) are
called directly; those that are not (RISE's evaluation, the X-DNN authors' keep/remove script,
the Split IG notebook) are re-implemented here from their published definitions as plain loops,
independently of xbench's batched engine.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import xbench
from xbench.methods.base import target_outputs

# float32 sums of up to a few hundred terms in two different orders (our chunked batches vs the reference's):
# rounding differs by ~1e-7 relative per term, a few 1e-6 of the largest value at worst; 1e-4 of the largest
# reference value leaves more than an order of magnitude for other BLAS kernels
F32 = None  # resolved per check: 1e-4 * the largest |reference value|
F32_WHY = "float32, same arithmetic in another order: 1e-4 of the largest reference value"


@dataclass
class Result:
    """One row of the conformance table."""

    subject: str  # the xbench method/metric (and setting)
    reference: str  # what it is compared with
    diff: float  # max abs difference, in the units of the compared values
    scale: float  # max |reference value|, to read ``diff`` against
    tol: float  # the bound the test asserts
    why: str  # why that tolerance
    conventions: str = ""  # convention differences (tie order, channel aggregation, AUC rule, ...)


CHECKS: dict[str, Callable[[], Result]] = {}
COVERS: dict[str, str] = {}  # check name -> the registered method or metric it checks


def check(name: str, covers: str) -> Callable:
    def deco(fn: Callable[[], Result]) -> Callable[[], Result]:
        CHECKS[name] = fn
        COVERS[name] = covers
        return fn

    return deco


def covered() -> set[str]:
    """Registered names with at least one conformance check."""
    return set(COVERS.values())


NO_REFERENCE = {
    "logit_path": "no package computes it: F along x' + a (x - x') is checked point by point against direct forward "
                  "passes in tests/metrics/test_logit_path.py and end to end in tests/suite/test_photos_suites.py",
    "saliency": "the plain input gradient (autograd); Captum's Saliency is the same call",
    "input_x_gradient": "x * gradient (autograd); equals IG on X-models, checked through x_gradient",
    "random": "the floor: seeded uniform noise, no reference",
    "expected_gradients": "no package implements it; unbiasedness (completeness in expectation) in tests/methods",
    "idg": "the authors' code is not a package; converges to the dense IDG integral (tests/methods)",
    "abpc": "paper B's definition, hand-computed cases in tests/metrics/test_hand_computed.py; k = round(t HW) "
            "pixels as the Split IG notebook (half to even), tested there",
    "sensitivity_axiom": "Sundararajan et al.'s axiom, hand-computed cases in tests/metrics",
    "sensitivity_n": "Ancona et al.'s definition, hand-computed cases in tests/metrics",
    "timing": "wall-clock time, no reference",
    "accuracy": "top-k accuracy, hand-computed cases in tests/models",
    "contrast": "paper A §4.4 accuracy under contrast, hand-computed cases in tests/models",
    "roar": "no package retrains (Quantus has no ROAR): masking, ranking, the random control and the AUC are "
            "hand-checked in tests/metrics/test_roar.py, the retraining is xbench's own deterministic trainer",
    "data_randomisation": "Adebayo et al.'s test trains a model on permuted labels; no package ships it: the "
                          "similarities are mprt's (checked against Quantus), the permuted-label model in "
                          "tests/metrics/test_randomisation.py",
}
"""Registered names without a conformance check here, and where they are verified instead."""


def cnn(channels: int = 3, classes: int = 3, bias: bool = True, pool: bool = True, seed: int = 0,
        dtype: torch.dtype = torch.float32) -> nn.Module:
    """conv-ReLU-(maxpool)-conv-ReLU-fc on 8 x 8 inputs, seeded; ReLU modules (Guided Backprop hooks them)."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv2d(channels, 6, 3, padding=1, bias=bias), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2))
    side = 4 if pool else 8
    layers += [nn.Conv2d(6, 8, 3, padding=1, bias=bias), nn.ReLU(), nn.Flatten(),
               nn.Linear(8 * side * side, classes, bias=bias)]
    return nn.Sequential(*layers).eval().to(dtype)


def inputs(n: int = 5, channels: int = 3, seed: int = 1, dtype: torch.dtype = torch.float32):
    """n standard-normal 8 x 8 images (like normalised data) and targets 0, 1, 2, 0, ..."""
    x = torch.randn(n, channels, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    return x, torch.arange(n) % 3


def result(subject: str, reference: str, ours, theirs, tol: float | None, why: str, conventions: str = "") -> Result:
    """Compare ``ours`` with ``theirs`` (same shape); ``tol`` None is :data:`F32`'s relative bound."""
    ours = torch.as_tensor(np.asarray(ours) if not isinstance(ours, torch.Tensor) else ours).double()
    theirs = torch.as_tensor(np.asarray(theirs) if not isinstance(theirs, torch.Tensor) else theirs).double()
    if ours.shape != theirs.shape:
        raise AssertionError(f"{subject}: shapes differ, ours {tuple(ours.shape)} vs {tuple(theirs.shape)}")
    scale = float(theirs.abs().max())
    if tol is None:
        tol = 1e-4 * scale
    return Result(subject, reference, float((ours - theirs).abs().max()), scale, tol, why, conventions)


# ------------------------------------------------------------------------------------------------ Captum


def _captum_ig(rule: str) -> Result:
    from captum.attr import IntegratedGradients

    net, (x, t) = cnn(), inputs()
    base = 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    ours = xbench.attribute(net, x, t, "integrated_gradients", n_steps=16, method=rule, baseline=base)
    ref = IntegratedGradients(net).attribute(x, baselines=base, target=t, n_steps=16, method=rule)
    conv = ""
    if rule == "riemann_trapezoid":
        # Captum's trapezoid weights (1/n)[.5, 1, ..., 1, .5] sum to (n-1)/n; ours 1/(n-1)[.5, 1, ..., .5] sum to 1
        ref = ref * 16 / 15
        conv = "Captum's trapezoid weights sum to (n-1)/n: compared as Captum x n/(n-1)"
    return result(f"integrated_gradients ({rule}, 16 steps)", "Captum IntegratedGradients", ours, ref, F32, F32_WHY,
                  conv)


for _rule in ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"):
    check(f"ig_{_rule}", "integrated_gradients")(lambda r=_rule: _captum_ig(r))


@check("x_gradient", "x_gradient")
def _x_gradient() -> Result:
    from captum.attr import IntegratedGradients

    net, (x, t) = cnn(bias=False), inputs()
    ours = xbench.attribute(net, x, t, "x_gradient")
    ref = IntegratedGradients(net).attribute(x, target=t, n_steps=32, method="gausslegendre")
    # on a bias-free ReLU net grad F(a x) = grad F(x): IG's integrand is constant, any rule is exact
    return result("x_gradient (bias-free model)", "Captum IntegratedGradients, zero baseline", ours, ref, F32,
                  F32_WHY + "; IG's integrand is constant on a homogeneous net")


@check("smoothgrad", "smoothgrad")
def _smoothgrad() -> Result:
    from captum.attr import NoiseTunnel, Saliency

    net, (x, t) = cnn(), inputs()
    ours = xbench.attribute(net, x, t, "smoothgrad", n_samples=8, stdev=0.3, seed=4)
    torch.manual_seed(4)  # xbench seeds torch with ``seed`` around Captum's draw
    ref = NoiseTunnel(Saliency(net)).attribute(x, nt_type="smoothgrad", nt_samples=8, stdevs=0.3, target=t,
                                               nt_samples_batch_size=8, abs=False)
    return result("smoothgrad (8 samples, stdev 0.3)", "Captum NoiseTunnel(Saliency), same seed", ours, ref, F32,
                  F32_WHY, "same noise stream only for the same chunking (max_batch) and seed")


@check("gradient_shap", "gradient_shap")
def _gradient_shap() -> Result:
    from captum.attr import GradientShap

    net, (x, t) = cnn(), inputs()
    refs = torch.randn(12, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    ours = xbench.attribute(net, x, t, "gradient_shap", n_samples=6, seed=2, references=refs)
    gen = torch.Generator().manual_seed(2)  # the pool xbench draws: a seeded permutation of the references
    pool = refs[torch.randperm(12, generator=gen)[:128]]
    torch.manual_seed(2)
    np.random.seed(2)  # Captum picks each sample's baseline with NumPy
    ref = GradientShap(net).attribute(x, baselines=pool, n_samples=6, stdevs=0.0, target=t)
    return result("gradient_shap (6 samples)", "Captum GradientShap, same baselines and seed", ours, ref, F32, F32_WHY,
                  "baselines drawn from a seeded pool of at most 128 references")


@check("occlusion", "occlusion")
def _occlusion() -> Result:
    from captum.attr import Occlusion

    net, (x, t) = cnn(), inputs()
    ours = xbench.attribute(net, x, t, "occlusion", window=4, stride=2, max_batch=4)
    ref = Occlusion(net).attribute(x, sliding_window_shapes=(3, 4, 4), strides=(3, 2, 2), baselines=0.0, target=t)
    return result("occlusion (window 4, stride 2)", "Captum Occlusion", ours, ref, F32, F32_WHY,
                  "a window covers all channels")


@check("guided_backprop", "guided_backprop")
def _guided_backprop() -> Result:
    from captum.attr import GuidedBackprop

    net, (x, t) = cnn(), inputs()
    ours = xbench.attribute(net, x, t, "guided_backprop", max_batch=3)
    ref = GuidedBackprop(net).attribute(x.clone(), target=t)
    return result("guided_backprop", "Captum GuidedBackprop", ours, ref, F32, F32_WHY)


@check("captum_adapter_deeplift", "captum")
def _captum_adapter_deeplift() -> Result:
    from captum.attr import DeepLift

    net, (x, t) = cnn(), inputs()
    ours = xbench.attribute(net, x, t, "captum", cls="DeepLift", max_batch=2)
    ref = DeepLift(net).attribute(x.clone(), target=t)
    return result("captum (class: DeepLift)", "Captum DeepLift called directly", ours, ref, F32, F32_WHY,
                  "the adapter chunks over images and returns input-shaped maps; Captum's arithmetic is unchanged")


@check("captum_adapter_layer_grad_cam", "captum")
def _captum_adapter_layer_grad_cam() -> Result:
    from captum.attr import LayerAttribution, LayerGradCam

    net, (x, t) = cnn(), inputs()
    ours = xbench.attribute(net, x, t, "captum", cls="LayerGradCam", layer="4", max_batch=2)
    cam = LayerGradCam(net, net[4]).attribute(x.clone(), target=t)
    ref = LayerAttribution.interpolate(cam, (8, 8), interpolate_mode="bilinear").expand_as(x)
    return result("captum (class: LayerGradCam, layer 4)", "Captum LayerGradCam + interpolate", ours, ref, F32,
                  F32_WHY, "layer maps are summed over channels, resized bilinearly and given to every input channel")


def _captum_explainer(net: nn.Module, method: str) -> Callable:
    def explain(inp, target):
        with torch.enable_grad():
            x = inp[0] if isinstance(inp, tuple) else inp
            a = xbench.attribute(net, x, target, method)
            return (a,) if isinstance(inp, tuple) else a

    return explain


def _same_uniform_noise(seed: int) -> Callable:
    """The draw xbench makes for max/avg-sensitivity: one item-major uniform stream from ``seed``."""
    from xbench.metrics.base import ChunkRNG

    return lambda v, r: v + ChunkRNG(seed, v.device).uniform(tuple(v.shape), -r, r, v.dtype)


@check("max_sensitivity", "max_sensitivity")
def _max_sensitivity() -> Result:
    from captum.metrics import sensitivity_max

    net, (x, t) = cnn(), inputs()
    ref = sensitivity_max(_captum_explainer(net, "saliency"), x, perturb_func=_same_uniform_noise(3),
                          perturb_radius=0.05, n_perturb_samples=10, target=t)
    ours = xbench.metrics.max_sensitivity(net, x, t, method="saliency", radius=0.05, n_samples=10, seed=3, max_batch=4)
    return result("max_sensitivity (saliency, radius 0.05)", "Captum sensitivity_max, same noise", ours, ref, F32,
                  F32_WHY, "noise U[-r, r] per element (Captum's default); ||A(x)|| = 0 replaced by 1 as in Captum")


@check("infidelity", "infidelity")
def _infidelity() -> Result:
    from captum.metrics import infidelity

    from xbench.metrics.base import ChunkRNG

    net, (x, t) = cnn(), inputs()
    a = xbench.attribute(net, x, t, "saliency")

    def gaussian(v):
        pert = ChunkRNG(5, v.device).normal(tuple(v.shape), 0.1, v.dtype)
        return pert, v - pert

    ref = infidelity(net, gaussian, x, a, target=t, n_perturb_samples=10, normalize=True)
    ours = xbench.metrics.infidelity(net, x, t, a, seed=5, max_batch=3)
    # the squared errors are of order F^2 (~1): relative 1e-4 of the values covers float32 cancellations
    return result("infidelity (normalize=True, noise 0.1)", "Captum infidelity, same perturbations", ours, ref,
                  1e-3 * float(ref.abs().max()), "float32; (beta I.A - dF)^2 cancels digits: 1e-3 of the largest value",
                  "target logit as F; beta by Captum's optimal scaling")


# ------------------------------------------------------------------------------------------------ Quantus


@check("deletion_pixel_flipping", "deletion")
def _pixel_flipping() -> Result:
    import quantus

    net, (x, t) = cnn(channels=1, classes=4), inputs(channels=1)
    a = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))  # continuous: no ties
    _, _, ours = xbench.metrics.deletion(net, x, t, a, steps=16, substrate="zero", output="softmax",
                                         return_curves=True)
    metric = quantus.PixelFlipping(features_in_step=4, perturb_baseline=0.0, abs=False, normalise=False,
                                   disable_warnings=True, display_progressbar=False)
    theirs = metric(model=net, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(), softmax=True, device="cpu",
                    channel_first=True)
    return result("deletion curve (zero substrate, 16 steps, 1 channel)", "Quantus PixelFlipping (4 px per step)",
                  ours[:, 1:], np.asarray(theirs), F32, F32_WHY,
                  "Quantus' curve starts after the first step (ours has the clean image as point 0); ties: ours by "
                  "pixel index (stable), Quantus' argsort leaves them open; ours sums channels")


@check("completeness_quantus", "completeness")
def _completeness() -> Result:
    import quantus

    net, (x, t) = cnn(), inputs()
    a = xbench.attribute(net, x, t, "integrated_gradients", n_steps=8)
    seen: list[np.ndarray] = []

    def record(delta):  # Quantus compares sum(A) == output_func(F(x) - F(x')) exactly; keep its F(x) - F(x')
        seen.append(np.asarray(delta))
        return delta

    quantus.Completeness(perturb_baseline=0.0, abs=False, normalise=False, output_func=record,
                         disable_warnings=True, display_progressbar=False)(
        model=net, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(), softmax=False, device="cpu",
        channel_first=True)
    theirs = np.abs(a.flatten(1).sum(1).numpy() - seen[0])
    _, ours = xbench.metrics.axioms.completeness_gaps(net, x, t, a)
    return result("completeness (absolute gap, zero baseline)", "Quantus Completeness (its F(x) - F(x'))", ours,
                  theirs, F32, F32_WHY,
                  "Quantus returns sum(A) == F(x) - F(x') (a boolean); xbench the relative and absolute gap")


def _quantus_sensitivity(kind: str) -> Result:
    import quantus

    net, (x, t) = cnn(), inputs()
    n, s, radius, seed = len(x), 6, 0.05, 7
    noise = _same_uniform_noise(seed)(torch.zeros((n * s,) + tuple(x.shape[1:])), radius).view(n, s, -1).numpy()
    step = {"i": 0}

    def perturb(arr, indices, **kwargs):  # Quantus perturbs the whole batch once per sample j
        out = arr + noise[:, step["i"]]
        step["i"] += 1
        return out

    def explain(model, inputs, targets, **kwargs):
        x_t = torch.as_tensor(inputs, dtype=torch.float32)
        return xbench.attribute(net, x_t, torch.as_tensor(targets), "saliency").numpy()

    cls = quantus.MaxSensitivity if kind == "max" else quantus.AvgSensitivity
    metric = cls(nr_samples=s, perturb_func=perturb, abs=False, normalise=False, disable_warnings=True,
                 display_progressbar=False, return_nan_when_prediction_changes=False)
    a = xbench.attribute(net, x, t, "saliency")
    theirs = metric(model=net, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(), explain_func=explain,
                    device="cpu", channel_first=True, softmax=False)
    fn = xbench.metrics.max_sensitivity if kind == "max" else xbench.metrics.avg_sensitivity
    ours = fn(net, x, t, a, method="saliency", radius=radius, n_samples=s, seed=seed)
    return result(f"{kind}_sensitivity (saliency, radius 0.05)", f"Quantus {cls.__name__}, same noise", ours,
                  np.asarray(theirs), F32, F32_WHY,
                  "Quantus defaults differ: normalised attributions, noise lower_bound 0.2, nan when the "
                  "prediction changes; compared with those switched off")


check("max_sensitivity_quantus", "max_sensitivity")(lambda: _quantus_sensitivity("max"))
check("avg_sensitivity_quantus", "avg_sensitivity")(lambda: _quantus_sensitivity("avg"))


def _masks(n: int) -> np.ndarray:
    m = np.zeros((n, 1, 8, 8), dtype=bool)
    for i in range(n):
        m[i, 0, i % 4: i % 4 + 3, 2:6] = True
    return m


@check("pointing_game", "localisation")
def _pointing_game() -> Result:
    import quantus

    net, (x, t) = cnn(channels=1), inputs(channels=1)
    a = torch.randn(x.shape, generator=torch.Generator().manual_seed(8))
    s = _masks(len(x))
    theirs = quantus.PointingGame(abs=False, normalise=False, disable_warnings=True, display_progressbar=False)(
        model=net, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(), s_batch=s.astype(float), device="cpu",
        channel_first=True)
    ours = xbench.metrics.localisation(net, x, t, a, masks=torch.as_tensor(s))["pointing_game"]
    return result("localisation.pointing_game", "Quantus PointingGame", ours, np.asarray(theirs, dtype=float), 0.0,
                  "a hit is a boolean: exact", "ties between inside and outside: a miss here, a hit in Quantus")


@check("relevance_mass", "localisation")
def _relevance_mass() -> Result:
    import quantus

    net, (x, t) = cnn(channels=1), inputs(channels=1)
    a = torch.rand(x.shape, generator=torch.Generator().manual_seed(9))  # nonnegative: positive mass = all mass
    s = _masks(len(x))
    theirs = quantus.RelevanceMassAccuracy(abs=False, normalise=False, disable_warnings=True,
                                           display_progressbar=False)(
        model=net, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(), s_batch=s.astype(float), device="cpu",
        channel_first=True)
    ours = xbench.metrics.localisation(net, x, t, a, masks=torch.as_tensor(s))["mass_in_mask"]
    return result("localisation.mass_in_mask", "Quantus RelevanceMassAccuracy", ours, np.asarray(theirs), F32,
                  F32_WHY, "xbench counts positive attribution mass only (Quantus: the signed sum)")


# ------------------------------------------------------------------------------------------------ PAIR saliency


@contextlib.contextmanager
def numpy_quantile_shim() -> Iterator[None]:
    """PAIR's Guided IG calls ``np.quantile(..., interpolation=)``, removed in NumPy 2: map it to ``method=``."""
    original = np.quantile

    def quantile(a, q, *args, interpolation=None, **kwargs):
        if interpolation is not None:
            kwargs["method"] = interpolation
        return original(a, q, *args, **kwargs)

    np.quantile = quantile
    try:
        yield
    finally:
        np.quantile = original


def _pair_gradients(net: nn.Module, target: int) -> Callable:
    """PAIR's ``call_model_function``: gradients of the target logit for an [B, H, W, C] batch."""
    from saliency.core.base import INPUT_OUTPUT_GRADIENTS

    def call(x_batch, call_model_args=None, expected_keys=None):
        x_t = torch.as_tensor(np.asarray(x_batch)).permute(0, 3, 1, 2).to(torch.float64).contiguous()
        grad, _ = xbench.methods.base.input_gradient(net, x_t, torch.full((len(x_t),), target))
        return {INPUT_OUTPUT_GRADIENTS: grad.permute(0, 2, 3, 1).numpy()}

    return call


@check("guided_ig", "guided_ig")
def _guided_ig() -> Result:
    import saliency.core as pair

    net, (x, t) = cnn(dtype=torch.float64), inputs(n=3, dtype=torch.float64)
    ours = xbench.attribute(net, x, t, "guided_ig", n_steps=32, fraction=0.25, max_dist=0.1)
    theirs = []
    with numpy_quantile_shim():
        for i in range(len(x)):
            img = x[i].permute(1, 2, 0).numpy()
            m = pair.GuidedIG().GetMask(img, _pair_gradients(net, int(t[i])), x_baseline=np.zeros_like(img),
                                        x_steps=32, fraction=0.25, max_dist=0.1)
            theirs.append(torch.as_tensor(m).permute(2, 0, 1))
    return result("guided_ig (32 steps, fraction 0.25, max_dist 0.1)", "PAIR saliency GuidedIG (float64)", ours,
                  torch.stack(theirs), 1e-9 * float(ours.abs().max()),
                  "float64, the same selection and steps: 1e-9 of the largest value",
                  "PAIR moves one image at a time; xbench moves the batch together (same path per image)")


@check("blur_ig", "blur_ig")
def _blur_ig() -> Result:
    import saliency.core as pair

    net, (x, t) = cnn(dtype=torch.float64), inputs(n=3, dtype=torch.float64)
    ours = xbench.attribute(net, x, t, "blur_ig", max_sigma=6.0, n_steps=20)  # border zero, left Riemann
    theirs = []
    for i in range(len(x)):
        img = x[i].permute(1, 2, 0).numpy()
        m = pair.BlurIG().GetMask(img, _pair_gradients(net, int(t[i])), max_sigma=6.0, steps=20, grad_step=1e-7)
        theirs.append(torch.as_tensor(m).permute(2, 0, 1))
    theirs = torch.stack(theirs)
    # PAIR's dx/dsigma is a forward difference with step h: its error is O(h) (measured 2.7 h of the map's max,
    # linear from h = 1e-2 down to 1e-7); float64 rounding of the difference quotient is ~1e-16 / h = 1e-9
    return result("blur_ig (sigma 6, 20 steps, border zero)", "PAIR saliency BlurIG (float64, grad_step 1e-7)",
                  ours, theirs, 1e-5 * float(theirs.abs().max()),
                  "PAIR differentiates by a forward difference (step h = 1e-7 here): O(h) of the map, 1e-5 of it",
                  "at PAIR's default grad_step 0.01 the maps differ by 2.8% of the max (its difference quotient); "
                  "xbench's dx/dsigma is exact; both pad with zeros and truncate the kernel at 4 sigma")


# ------------------------------------------------------------------------------------------------ pytorch-grad-cam


def grad_cam_raw(net: nn.Module, layer_name: str, x: torch.Tensor, t: torch.Tensor) -> np.ndarray:
    """pytorch-grad-cam's GradCAM map [N, H', W'] at ``layer_name``, before its min-max scaling and resizing."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    layer = net.get_submodule(layer_name)
    cam = GradCAM(model=net, target_layers=[layer])
    try:
        out = cam.activations_and_grads(x)
        net.zero_grad()
        targets = [ClassifierOutputTarget(int(c)) for c in t]
        sum(tg(o) for tg, o in zip(targets, out)).backward()
        acts = cam.activations_and_grads.activations[0].numpy()
        grads = cam.activations_and_grads.gradients[0].numpy()
        return cam.get_cam_image(x, layer, targets, acts, grads, False)
    finally:
        cam.activations_and_grads.release()


@check("grad_cam", "grad_cam")
def _grad_cam() -> Result:
    net, (x, t) = cnn(pool=False), inputs()  # full-resolution feature map: no upsampling on either side
    ours, info = xbench.attribute(net, x, t, "grad_cam", return_info=True)
    raw = grad_cam_raw(net, info["params"]["layer"], x, t)
    theirs = np.maximum(raw, 0)[:, None].repeat(3, 1)
    return result(f"grad_cam (default layer '{info['params']['layer']}')",
                  "pytorch-grad-cam GradCAM, before its min-max normalisation", ours, theirs, F32, F32_WHY,
                  "pytorch-grad-cam min-max normalises each map and resizes with OpenCV; xbench keeps the units "
                  "(bilinear upsampling) and repeats the map over channels")


# ------------------------------------------------------------------------------------------------ hand references


def _rise_reference(net, x, t, sal, mode: str, step: int) -> tuple[np.ndarray, np.ndarray]:
    """RISE's CausalMetric (Petsiuk et al. 2018) from its definition, one image at a time; returns (curves, aucs).

    ``step`` pixels per step, n = ceil(HW / step) steps, n + 1 points; the start is the image
    (deletion) or its blur (insertion: kernel ``gaussian_filter(delta 11 x 11, 5)``, zero padding);
    pixels move from ``finish`` in descending saliency; AUC = (sum - first/2 - last/2) / n.
    """
    from scipy.ndimage import gaussian_filter

    delta = np.zeros((11, 11))
    delta[5, 5] = 1
    kern = torch.as_tensor(gaussian_filter(delta, 5), dtype=x.dtype)
    c, hw = x.shape[1], x.shape[2] * x.shape[3]
    n_steps = (hw + step - 1) // step
    curves, aucs = [], []
    for i in range(len(x)):
        img = x[i: i + 1]
        blurred = torch.nn.functional.conv2d(img, kern.expand(c, 1, 11, 11), padding=5, groups=c)
        start, finish = (img.clone(), torch.zeros_like(img)) if mode == "del" else (blurred, img.clone())
        order = np.argsort(-sal[i].sum(0).reshape(-1).numpy(), kind="stable")
        scores = []
        for k in range(n_steps + 1):
            with torch.no_grad():
                scores.append(float(net(start).softmax(1)[0, t[i]]))
            coords = order[step * k: step * (k + 1)]
            start.view(1, c, hw)[0, :, coords] = finish.view(1, c, hw)[0, :, coords]
        arr = np.asarray(scores)
        curves.append(arr)
        aucs.append((arr.sum() - arr[0] / 2 - arr[-1] / 2) / (len(arr) - 1))
    return np.stack(curves), np.asarray(aucs)


def _rise(mode: str, steps: int) -> Result:
    net, (x, t) = cnn(), inputs()
    sal = torch.randn(x.shape, generator=torch.Generator().manual_seed(6))
    fn = xbench.metrics.deletion if mode == "del" else xbench.metrics.insertion
    auc, fr, curves = fn(net, x, t, sal, steps=steps, return_curves=True)
    step = math.ceil(64 / steps)
    ref_curves, ref_auc = _rise_reference(net, x, t, sal, mode, step)
    res = result(f"{'deletion' if mode == 'del' else 'insertion'} ({steps} steps of {step} px on 8 x 8)",
                 "RISE CausalMetric (hand re-implementation)", curves, ref_curves, F32, F32_WHY)
    auc_gap = float(np.abs(auc.numpy() - ref_auc).max())
    same_rule = 64 % steps == 0
    res.conventions = ("same curve points and AUC" + (f" (AUC diff {auc_gap:.1e})" if same_rule else "") +
                       ("" if same_rule else f"; the last step is shorter: RISE's AUC treats points as equally "
                        f"spaced, xbench integrates over the actual fractions (AUC diff {auc_gap:.3f})")
                       + ("; substrate: RISE's blur (xbench's rise_blur default)" if mode == "ins" else
                          "; substrate: zeros"))
    if same_rule:  # both AUC rules coincide: the AUCs must agree too
        res.diff = max(res.diff, auc_gap)
    return res


check("rise_deletion", "deletion")(lambda: _rise("del", 16))
check("rise_insertion", "insertion")(lambda: _rise("ins", 16))
check("rise_deletion_uneven", "deletion")(lambda: _rise("del", 10))


def _xdnn_keep_remove_reference(net, x, labels, a, fractions, kernel: int, sigma: float) -> dict[str, np.ndarray]:
    """The X-DNN authors' keep/remove protocol (Hesse et al. 2021, ``attribution_metrics.py``) from its definition.

    Per image: channel-mean attribution, negated (negative) or absolute; positives = max(v, 0);
    k = int(min(f HW, #positives)); keep the k largest positives (keep) or the k smallest positive
    ones (remove); every other pixel takes the blurred image (Gaussian exp(-d^2 / (4 sigma^2)),
    reflect padding).  Score: target logit (positive, negative) or top-1 correct (absolute).
    AUC: trapezoid over the fractions.
    """
    c = x.shape[1]
    r = torch.arange(kernel, dtype=x.dtype) - (kernel - 1) / 2
    g = torch.exp(-((r / (2 * sigma)) ** 2))
    k2 = g[:, None] * g[None, :]
    k2 = k2 / k2.sum()
    padded = torch.nn.functional.pad(x, (kernel // 2,) * 4, mode="reflect")
    smooth = torch.nn.functional.conv2d(padded, k2.expand(c, 1, kernel, kernel), groups=c)
    out: dict[str, np.ndarray] = {}
    for order, letter in (("positive", "P"), ("negative", "N"), ("absolute", "A")):
        for pert in ("keep", "remove"):
            ys = np.zeros((len(x), len(fractions)))
            for i in range(len(x)):
                v = a[i].mean(0).reshape(-1)
                v = -v if order == "negative" else (v.abs() if order == "absolute" else v)
                pos = torch.clamp(v, min=0)
                n_pos = int((pos != 0).sum())
                for j, f in enumerate(fractions):
                    k = int(min(f * pos.numel(), n_pos))
                    if pert == "keep":
                        idx = torch.topk(pos, k).indices
                    else:
                        idx = torch.topk(torch.where(pos == 0, torch.tensor(math.inf, dtype=pos.dtype), pos), k,
                                         largest=False).indices
                    keep = torch.zeros_like(pos, dtype=torch.bool)
                    keep[idx] = True
                    img = torch.where(keep.view(1, 1, *x.shape[2:]), x[i: i + 1], smooth[i: i + 1])
                    with torch.no_grad():
                        o = net(img)[0]
                    ys[i, j] = float(o.argmax() == labels[i]) if order == "absolute" else float(o[labels[i]])
            out[f"{'K' if pert == 'keep' else 'R'}{letter}M"] = np.trapezoid(ys, fractions, axis=1)
    return out


@check("keep_remove", "keep_remove")
def _keep_remove() -> Result:
    net, (x, t) = cnn(), inputs()
    a = torch.randn(x.shape, generator=torch.Generator().manual_seed(10))  # continuous: no ties in topk
    fractions = list(np.geomspace(0.01, 1.0, 16))
    kernel, sigma = 7, 3.0
    ours = xbench.metrics.keep_remove(net, x, t, a, fractions=fractions, blur_kernel=kernel,
                                      blur_sigma=sigma * math.sqrt(2), labels=t)
    ref = _xdnn_keep_remove_reference(net, x, t, a, fractions, kernel, sigma)
    names = list(ref)
    return result("keep_remove (all six AUCs)", "X-DNN authors' keep/remove script (hand re-implementation)",
                  torch.stack([ours[k] for k in names]), np.stack([ref[k] for k in names]), F32, F32_WHY,
                  "the authors' kernel exp(-d^2/(4 sigma^2)) is a Gaussian of sigma*sqrt(2): compared with "
                  "blur_sigma = sigma*sqrt(2); scores against labels (the authors' targets)")


def _split_ig_reference(net, x, t, ratio: float, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Split IG as the paper's notebook computes it (Miglani et al. 2020), re-implemented: right Riemann
    points a_i = (i + 1)/m, i = 0..m-1; ``threshold_index`` = the first i whose logit exceeds
    F(x') + r (F(x) - F(x')); Left sums the points before it.  Returns (Left attributions, the
    notebook's reported threshold_index / m)."""
    lefts, stars = [], []
    for j in range(len(x)):
        xj, tj = x[j: j + 1], t[j: j + 1]
        f0 = float(target_outputs(net, torch.zeros_like(xj), tj))
        fx = float(target_outputs(net, xj, tj))
        tau = f0 + ratio * (fx - f0)
        left = torch.zeros_like(xj)
        index = m
        for i in range(m):
            p = xj * ((i + 1) / m)
            if (float(target_outputs(net, p, tj)) - tau) * math.copysign(1, fx - f0) > 0:
                index = i
                break
            g, _ = xbench.methods.base.input_gradient(net, p, tj)
            left += g * xj / m
        lefts.append(left[0])
        stars.append(index / m)
    return torch.stack(lefts).numpy(), np.asarray(stars)


@check("split_ig", "split_ig")
def _split_ig() -> Result:
    net, (x, t) = cnn(), inputs()
    ours, info = xbench.attribute(net, x, t, "split_ig", ratio=0.7, n_steps=40, return_info=True)
    left, stars = _split_ig_reference(net, x, t, 0.7, 40)
    res = result("split_ig (Left, ratio 0.7, 40 steps)", "Split IG notebook (hand re-implementation)", ours, left,
                 None, F32_WHY)
    offset = info["alpha_star"].double().numpy() - stars
    res.conventions = (f"alpha_star = (k* + 1)/m, the alpha of the first point past the threshold; the notebook "
                       f"reports threshold_index/m, 1/m lower (measured offset {offset.min():.4f} to "
                       f"{offset.max():.4f}, 1/m = {1 / 40:.4f}); the notebook tests 'logit > threshold' (increasing "
                       "logits), xbench crosses in the direction of the change")
    res.diff = max(res.diff, float(np.abs(offset - 1 / 40).max()))  # the offset must be exactly 1/m
    return res


@check("refined_left_ig", "refined_left_ig")
def _refined_left_ig() -> Result:
    from captum.attr import IntegratedGradients

    net, (x, t) = cnn(), inputs()
    ours, info = xbench.attribute(net, x, t, "refined_left_ig", ratio=0.7, n_steps=40, refine_steps=24,
                                  method="gausslegendre", return_info=True)
    # a* from the notebook's own threshold_index / m, then IG on [0, a* x]: substituting a = a* u,
    # x * int_0^a* grad F(a x) da = (a* x) * int_0^1 grad F(u (a* x)) du, i.e. Captum's IG of the input a* x from
    # baseline 0, with the same rule and steps (its points u_j a* x, ours a* u_j x: the same up to rounding)
    _, stars = _split_ig_reference(net, x, t, 0.7, 40)
    a = torch.as_tensor(stars, dtype=x.dtype).view(-1, 1, 1, 1)
    ref = IntegratedGradients(net).attribute(a * x, baselines=torch.zeros_like(x), target=t, n_steps=24,
                                             method="gausslegendre")
    res = result("refined_left_ig (ratio 0.7, 40 + 24 steps)", "Captum IntegratedGradients of a* x, baseline 0 "
                 "(a* = the Split IG notebook's threshold_index / m)", ours, ref, None, F32_WHY)
    res.conventions = ("a* = k*/m, the end of the interval the notebook's Left sums; a sample whose first point "
                       "crosses has a* = 0 and attribution 0 on both sides")
    # the a* the method found must be the notebook's exactly (a multiple of 1/m, compared as numbers)
    res.diff = max(res.diff, float(np.abs(info["alpha_end"].double().numpy() - stars).max()))
    return res


@check("ig_distance", "ig_distance")
def _ig_distance() -> Result:
    net, (x, t) = cnn(), inputs()
    a = xbench.attribute(net, x, t, "input_x_gradient")
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(net).attribute(x, target=t, n_steps=128, method="gausslegendre")
    ref = (a - ig).abs().flatten(1).mean(1) / (ig.abs().flatten(1).mean(1) + 1e-7)
    ours = xbench.metrics.ig_distance(net, x, t, a, n_steps=128)
    return result("ig_distance (input_x_gradient, IG-128)", "mean|A - IG|/mean|IG| with Captum IG-128", ours, ref,
                  None, F32_WHY,
                  "per sample; the X-DNN authors average a ratio of means per batch (xbench's batch stat "
                  "batch_ratio_of_means) and explain the true label (data.target: label)")


# ------------------------------------------------------------------------------------------------ complexity (Quantus)


def _quantus_complexity(cls_name: str, ours, **kw) -> np.ndarray:
    import quantus

    x, t = inputs()
    a = torch.randn(x.shape, generator=torch.Generator().manual_seed(11))
    metric = getattr(quantus, cls_name)(abs=True, disable_warnings=True, display_progressbar=False, **kw)
    # Quantus modifies a_batch in place (+1e-7, normalisation): hand it a copy
    theirs = metric(model=None, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy().copy(), channel_first=True)
    return ours(a), np.asarray(theirs, dtype=float)


def _quantus_gini_or_entropy(name: str, cls_name: str, why: str, conventions: str) -> Result:
    fn = getattr(xbench.metrics, name)
    ours, theirs = _quantus_complexity(cls_name, lambda a: fn(None, None, None, a), normalise=False)
    return result(f"{name} (|A|, 192 values)", f"Quantus {cls_name}", ours, theirs, F32, why, conventions)


check("sparseness_quantus", "sparseness")(lambda: _quantus_gini_or_entropy(
    "sparseness", "Sparseness", "float32 sums in Quantus; its +1e-7 per value moves the Gini index by D 1e-7 / "
    "sum|A| (~2e-7 relative here): 1e-4 of the largest value",
    "Quantus adds 1e-7 to every |A| (an all-zero map gets 0, ours nan)"))
check("complexity_quantus", "complexity")(lambda: _quantus_gini_or_entropy(
    "complexity", "Complexity", "float32 in Quantus; its log(p + 1e-12) differs from p log p by at most D 1e-12: "
    "1e-4 of the largest value", "entropy in nats; 0 log 0 = 0 exactly (Quantus: log(p + 1e-12)); an all-zero map "
    "is nan"))


@check("effective_complexity_quantus", "effective_complexity")
def _effective_complexity() -> Result:
    import quantus

    ours, theirs = _quantus_complexity(
        "EffectiveComplexity", lambda a: xbench.metrics.effective_complexity(None, None, None, a, eps=0.5,
                                                                             normalise="none"),
        normalise=False, eps=0.5)
    # per-sample max normalisation = Quantus' batch-max normalisation on a batch of one sample
    x, t = inputs()
    a = torch.randn(x.shape, generator=torch.Generator().manual_seed(11))
    ours_max = xbench.metrics.effective_complexity(None, x, t, a, eps=0.3)
    per_one = [quantus.EffectiveComplexity(eps=0.3, disable_warnings=True, display_progressbar=False)(
        model=None, x_batch=x[i:i + 1].numpy(), y_batch=t[i:i + 1].numpy(), a_batch=a[i:i + 1].numpy().copy(),
        channel_first=True)[0] for i in range(len(x))]
    res = result("effective_complexity (|A| > 0.5; and |A|/max > 0.3)", "Quantus EffectiveComplexity", ours, theirs,
                 0.0, "a count of strict comparisons: exact",
                 "ours divides by each sample's max |A| (normalise: max); Quantus by the max over the whole batch, "
                 "so a value depends on the batch: compared unnormalised, and per sample on batches of one")
    res.diff = max(res.diff, float(np.abs(ours_max.numpy() - np.asarray(per_one, dtype=float)).max()))
    return res


# ------------------------------------------------------------------------------------------------ stability (Quantus)


def _noise_draws(x: torch.Tensor, seed: int, s: int, radius: float, kind: str) -> np.ndarray:
    """The draws xbench makes for (image i, draw j), seeded per sample (xbench.metrics.sample_noise): [n, s, D]."""
    from xbench.metrics.sample_noise import normal, sample_keys, uniform

    n, d = len(x), x[0].numel()
    keys, j = sample_keys(x, seed).repeat_interleave(s), torch.arange(n * s) % s
    e = (2 * uniform(keys, j, d) - 1) * radius if kind == "uniform" else radius * normal(keys, j, d)
    return e.to(x.dtype).view(n, s, -1).numpy()


def _quantus_stability(cls_name: str, fn: Callable, noise: str, radius: float, **kw) -> Result:
    import quantus

    net, (x, t) = cnn(), inputs()
    s, seed = 6, 13
    draws = _noise_draws(x, seed, s, radius, noise)
    step = {"j": 0}

    def perturb(arr, indices, **kwargs):  # Quantus perturbs the whole batch once per draw j
        out = (torch.as_tensor(arr) + torch.as_tensor(draws[:, step["j"]])).numpy()  # float32, as ours
        step["j"] += 1
        return out

    def explain(model, inputs, targets, **kwargs):
        return xbench.attribute(net, torch.as_tensor(inputs), torch.as_tensor(targets), "saliency").numpy()

    a = xbench.attribute(net, x, t, "saliency")
    metric = getattr(quantus, cls_name)(nr_samples=s, perturb_func=perturb, abs=False, normalise=False,
                                        return_nan_when_prediction_changes=False, disable_warnings=True,
                                        display_progressbar=False, **kw)
    theirs = np.asarray(metric(model=net, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(),
                               explain_func=explain, device="cpu", channel_first=True, softmax=False), dtype=float)
    ours = fn(net, x, t, a, method="saliency", radius=radius, n_samples=s, noise=noise, seed=seed,
              same_prediction=False, max_batch=7)
    return result(f"{fn.__name__} (saliency, {noise} noise {radius}, {s} draws)", f"Quantus {cls_name}, same noise",
                  ours, theirs, 1e-4 * float(np.abs(theirs).max()),
                  "float32 attributions (Quantus also divides and sums in float32; ours in float64): 1e-4 of the "
                  "largest value",
                  "Quantus' default noise is U[0.02, 0.2] on every element (one-sided), ours U[-r, r] (RIS/ROS/RRS) "
                  "or N(0, r^2) (Lipschitz); with prediction changes Quantus gives nan for the whole sample, ours "
                  "leaves those draws out of the max (same_prediction, tests/metrics/test_stability.py)")


check("relative_input_stability_quantus", "relative_input_stability")(
    lambda: _quantus_stability("RelativeInputStability", xbench.metrics.relative_input_stability, "uniform", 0.05))
check("relative_output_stability_quantus", "relative_output_stability")(
    lambda: _quantus_stability("RelativeOutputStability", xbench.metrics.relative_output_stability, "uniform", 0.05))
check("relative_representation_stability_quantus", "relative_representation_stability")(
    lambda: _quantus_stability("RelativeRepresentationStability", xbench.metrics.relative_representation_stability,
                               "uniform", 0.05, layer_names=["5"]))  # the Flatten: the input of the last Linear
check("local_lipschitz_estimate_quantus", "local_lipschitz_estimate")(
    lambda: _quantus_stability("LocalLipschitzEstimate", xbench.metrics.local_lipschitz_estimate, "gaussian", 0.1))
# ------------------------------------------------------------------------------------------ Quantus randomisation


def _quantus_explainer(net: nn.Module, method: str) -> Callable:
    def explain(model, inputs, targets, **kwargs):  # Quantus hands the randomised copy as ``model``
        x_t = torch.as_tensor(inputs, dtype=torch.float32)
        return xbench.attribute(model, x_t, torch.as_tensor(targets), method).detach().numpy()

    return explain


@contextlib.contextmanager
def _quantus_gets_our_randomisation() -> Iterator[None]:
    """Quantus's layer generator replaced by xbench's: the same re-initialised weights, in the same order, from
    the seed Quantus passes."""
    from unittest import mock

    from quantus.helpers.model.pytorch_model import PyTorchModel

    from xbench.metrics.randomisation import randomised_models

    def ours(self, order: str = "top_down", seed: int = 42):
        return randomised_models(self.model, order, seed)

    with mock.patch.object(PyTorchModel, "get_random_layer_generator", ours):
        yield


def _quantus_layer_order(net: nn.Module, order: str) -> list[str]:
    from quantus.helpers.model.pytorch_model import PyTorchModel

    return [name for name, _ in PyTorchModel(net, channel_first=True).get_random_layer_generator(order=order)]


def _quantus_mprt(order: str, similarity: str) -> Result:
    import quantus

    from xbench.metrics.randomisation import mprt

    net, (x, t) = cnn(), inputs()
    a = xbench.attribute(net, x, t, "saliency")
    # Quantus 0.6's batched ssim returns a list, which its MPRT cannot .tolist(): the same function, as an array
    funcs = {"spearman": quantus.similarity_func.correlation_spearman,
             "ssim": lambda a, b, **kw: np.asarray(quantus.similarity_func.ssim(a, b, **kw))}
    metric = quantus.MPRT(similarity_func=funcs[similarity], layer_order=order, seed=11, abs=True, normalise=True,
                          normalise_func_kwargs={"normalise_axes": (1, 2, 3)}, disable_warnings=True,
                          display_progressbar=False)
    with _quantus_gets_our_randomisation():
        theirs = metric(model=net, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(),
                        explain_func=_quantus_explainer(net, "saliency"), device="cpu", channel_first=True)
    values, _, curve = mprt(net, x, t, a, order=order, similarity=similarity, seed=11, method="saliency",
                            return_curves=True)
    names = list(theirs)[1:]  # after "original"
    if names != values["layers"] or names != _quantus_layer_order(net, order):
        raise AssertionError(f"layer order: ours {values['layers']}, Quantus {_quantus_layer_order(net, order)}")
    ref = np.stack([np.asarray(theirs[n], dtype=np.float64) for n in names], 1)
    tol, why = ((1e-6, "ranks of the same float32 values; Quantus normalises in float32, ours in float64 (rounding "
                 "may tie two values): 1e-6") if similarity == "spearman" else
                (1e-5, "skimage computes SSIM in the inputs' float32, ours in float64: 1e-5"))
    return result(f"mprt ({order}, {similarity}, saliency, per layer)", "Quantus MPRT, same re-initialised weights",
                  curve, ref, tol, why,
                  "layers: modules with reset_parameters in named_modules order, as Quantus (checked equal); "
                  "Quantus seeds every layer with seed + 1, xbench with (seed, layer name) - both given xbench's "
                  "weights here; normalise per sample (Quantus' default divides by the batch's max: "
                  "normalise_axes=(1, 2, 3) here); SSIM on the flattened attribution, as Quantus compares batches; "
                  "EfficientMPRT scores a complexity ratio, not a similarity: no counterpart")


check("mprt_top_down_spearman", "mprt")(lambda: _quantus_mprt("top_down", "spearman"))
check("mprt_bottom_up_ssim", "mprt")(lambda: _quantus_mprt("bottom_up", "ssim"))
check("mprt_independent_spearman", "mprt")(lambda: _quantus_mprt("independent", "spearman"))


@check("random_logit", "random_logit")
def _quantus_random_logit() -> Result:
    import quantus

    from xbench.metrics.randomisation import random_logit

    net, (x, t) = cnn(classes=5), inputs()
    a = xbench.attribute(net, x, t, "input_x_gradient")
    metric = quantus.RandomLogit(num_classes=5, seed=42, normalise_func_kwargs={"normalise_axes": (1, 2, 3)},
                                 disable_warnings=True, display_progressbar=False)
    theirs = metric(model=net, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(),
                    explain_func=_quantus_explainer(net, "input_x_gradient"), device="cpu", channel_first=True)
    np.random.seed(42)  # Quantus' draw of the off-class index among the other classes, for the whole batch
    offsets = torch.as_tensor(np.random.randint(0, 4, len(x)))
    ours = random_logit(net, x, t, a, method="input_x_gradient", offsets=offsets)
    return result("random_logit (SSIM, input_x_gradient, signed, normalised)", "Quantus RandomLogit, same classes",
                  ours, np.asarray(theirs), 1e-5, "skimage computes SSIM in the inputs' float32, ours in float64: 1e-5",
                  "the other class: Quantus draws one batch-wide stream from its seed, xbench one draw per sample "
                  "seeded by the sample (batch-independent) - given Quantus' classes here; normalise per sample")


@check("random_logit_spearman", "random_logit")
def _quantus_random_logit_spearman() -> Result:
    import quantus

    from xbench.metrics.randomisation import random_logit

    net, (x, t) = cnn(classes=5), inputs()
    a = xbench.attribute(net, x, t, "saliency")
    metric = quantus.RandomLogit(num_classes=5, seed=3, abs=True, similarity_func=quantus.correlation_spearman,
                                 normalise_func_kwargs={"normalise_axes": (1, 2, 3)}, disable_warnings=True,
                                 display_progressbar=False)
    theirs = metric(model=net, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(),
                    explain_func=_quantus_explainer(net, "saliency"), device="cpu", channel_first=True)
    np.random.seed(3)
    offsets = torch.as_tensor(np.random.randint(0, 4, len(x)))
    ours = random_logit(net, x, t, a, method="saliency", similarity="spearman", abs=True, offsets=offsets)
    return result("random_logit (Spearman, saliency, abs)", "Quantus RandomLogit, same classes", ours,
                  np.asarray(theirs), 1e-6, "ranks of the same float32 values (see mprt): 1e-6")


# the faithfulness metrics' checks register themselves into CHECKS (kept in their own module), and so do the
# real-network cases (EfficientNet-Lite0 on photos)
from tests.conformance import checks_faithfulness, photo_checks  # noqa: E402,F401
