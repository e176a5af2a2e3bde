"""Single-pass gradient methods: saliency, Input x Gradient, X-Gradient, and the random floor."""

from __future__ import annotations

import weakref

import torch

from ..errors import NotHomogeneousError
from ..models.homogeneity import homogeneity_error, non_homogeneous_layers
from .base import input_gradient, register

HOMOGENEITY_TOL = 1e-4
"""Relative tolerance of the numeric check F(a x) = a F(x) in X-Gradient.

float32 matmuls/convolutions accumulate ~1e-6 relative rounding per layer; 1e-4 leaves two
orders of headroom for deep nets while a single bias of typical size (1e-2 of the logits) fails
by orders of magnitude.
"""

# (model -> input shapes already checked): the check costs 3 forward passes, so do it once.
_checked: weakref.WeakKeyDictionary[torch.nn.Module, set] = weakref.WeakKeyDictionary()


@register("saliency", description="Gradient of the target logit w.r.t. the input (Simonyan et al. 2014)",
          paper="Simonyan, Vedaldi, Zisserman 2014", passes=1)
def saliency(model, inputs, target, *, abs: bool = False):
    """Return dF_t/dx (absolute value when ``abs``), shape of ``inputs``."""
    grad, _ = input_gradient(model, inputs, target)
    return grad.abs() if abs else grad


@register("input_x_gradient", description="Input x gradient (Shrikumar et al. 2016); equals IG on X-DNNs",
          paper="Shrikumar et al. 2016", passes=1, baseline="zero")
def input_x_gradient(model, inputs, target):
    """Return x * dF_t/dx, shape of ``inputs``."""
    grad, _ = input_gradient(model, inputs, target)
    return inputs * grad


def check_homogeneous(model: torch.nn.Module, inputs: torch.Tensor, tol: float = HOMOGENEITY_TOL) -> None:
    """Raise :class:`NotHomogeneousError` naming a layer unless F(a x) = a F(x) numerically.

    The result is cached per model and input shape (C, H, W), so the check runs once per model.
    """
    shape = tuple(inputs.shape[1:])
    done = _checked.setdefault(model, set())
    if shape in done:
        return
    err = homogeneity_error(model, inputs[: min(len(inputs), 8)])
    if err > tol:
        layers = non_homogeneous_layers(model)
        where = f"layer '{layers[0][0]}': {layers[0][1]}" if layers else "an operation inside forward()"
        raise NotHomogeneousError(
            f"x_gradient needs a nonnegatively homogeneous model (bias-free, no BatchNorm): "
            f"F(a*x) deviates from a*F(x) by {err:.2g} (relative, tolerance {tol:g}) because of {where}; "
            "use the model's X-variant (x: true / xbench.models.to_x) or check=False"
        )
    done.add(shape)


@register("x_gradient", description="X-Gradient: input x gradient on a homogeneous (bias-free) model = IG, one pass",
          paper="Hesse, Schaub-Meyer, Roth 2021", passes=1, baseline="zero", requires_homogeneous=True)
def x_gradient(model, inputs, target, *, check: bool = True):
    """Return x * dF_t/dx after checking (once per model and input shape) that the model is homogeneous."""
    if check:
        check_homogeneous(model, inputs)
    grad, _ = input_gradient(model, inputs, target)
    return inputs * grad


@register("random", description="Uniform random attributions in [-1, 1] (seeded): the floor for every metric",
          paper="baseline", passes=0)
def random_attribution(model, inputs, target, *, seed: int = 0):
    """Return i.i.d. U(-1, 1) values shaped like ``inputs``, generated on their device from ``seed``."""
    gen = torch.Generator(device=inputs.device).manual_seed(int(seed))
    return torch.rand(inputs.shape, generator=gen, device=inputs.device, dtype=inputs.dtype) * 2 - 1
