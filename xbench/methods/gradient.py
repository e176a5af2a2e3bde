"""Single-pass gradient methods: saliency, Input x Gradient, X-Gradient, and the random floor."""

from __future__ import annotations

import warnings
import weakref

import torch

from ..errors import NotHomogeneousError
from ..models.homogeneity import homogeneity_error, non_homogeneous_layers
from .base import input_gradient, register

HOMOGENEITY_TOL = 1e-4
"""Relative tolerance of the numeric check F(a x) = a F(x) in X-Gradient (max over a = 0.5, 2 of
max|F(a x) - a F(x)| / max|a F(x)|).

float32 matmuls/convolutions accumulate ~1e-6 relative rounding per layer; 1e-4 leaves two
orders of headroom for deep nets while a single bias of typical size (1e-2 of the logits) fails
by orders of magnitude.  What it lets through: a model whose additive terms (tiny biases) move
F(a x) by a share e <= 1e-4 is accepted, and X-Gradient on it is no longer IG.  Its sum then misses
F(x) - F(0) by about e x the largest logit, and the map differs from IG pointwise by much more:
measured on a seeded 8 x 8 CNN with biases of 1e-5, e = 6.6e-5 and max|X-Gradient - IG| = 0.19%
(float32) to 0.49% (float64) of IG's largest value (``tests/methods/test_gradient.py``).  Such a
model is accepted with a warning that says so (:data:`HOMOGENEITY_WARN`).
"""

HOMOGENEITY_WARN = 1e-5
"""Above this deviation (float32 rounding of a deep net stays below it) an accepted model gets a warning."""


class HomogeneityWarning(UserWarning):
    """X-Gradient accepted a model that is homogeneous only within :data:`HOMOGENEITY_TOL`."""


def _ig_error_note(err: float) -> str:
    return (f"X-Gradient then differs from IG: its sum misses F(x) - F(0) by about {err:.2g} of the largest logit "
            "and pointwise by more (measured ~30-70x that share of IG's max on a small CNN)")


# (model -> states already checked): the check costs 3 forward passes, so do it once per model state.
_checked: weakref.WeakKeyDictionary[torch.nn.Module, set] = weakref.WeakKeyDictionary()


def model_state_key(model: torch.nn.Module) -> tuple:
    """Identity, storage, in-place version and float64 sum of every parameter and buffer: changes when a
    weight is replaced, added (e.g. a bias) or modified in place (``p.add_``, optimiser steps, and
    ``p.data += ...``, which bypasses the version counter: hence the sums, one reduction per tensor)."""
    tensors = list(model.named_parameters()) + list(model.named_buffers())
    if not tensors:
        return ()
    with torch.no_grad():
        sums = torch.stack([t.detach().double().sum() for _, t in tensors]).tolist()  # one host sync
    return tuple((name, id(t), t.data_ptr(), t._version, v) for (name, t), v in zip(tensors, sums))


@register("saliency", inputs="any", completeness=False,
          description="Gradient of the target logit w.r.t. the input (Simonyan et al. 2014)", path_start=None)
def saliency(model, inputs, target, *, abs: bool = False):
    """Return dF_t/dx (absolute value when ``abs``), shape of ``inputs``."""
    grad, _ = input_gradient(model, inputs, target)
    return grad.abs() if abs else grad


@register("input_x_gradient", inputs="any", completeness=False,
          description="Input x gradient (Shrikumar et al. 2016); equals IG on X-DNNs", path_start="zero")
def input_x_gradient(model, inputs, target):
    """Return x * dF_t/dx, shape of ``inputs``."""
    grad, _ = input_gradient(model, inputs, target)
    return inputs * grad


def check_homogeneous(model: torch.nn.Module, inputs: torch.Tensor, tol: float = HOMOGENEITY_TOL) -> None:
    """Raise :class:`NotHomogeneousError` naming a layer unless F(a x) = a F(x) within ``tol`` (relative);
    warn (:class:`HomogeneityWarning`) when the deviation is accepted but above rounding (:data:`HOMOGENEITY_WARN`).

    The result is cached per model, input shape (C, H, W) and :func:`model_state_key`, so the check
    runs once per model state and again after its weights change.
    """
    shape = (tuple(inputs.shape[1:]), model_state_key(model))
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
            f"{_ig_error_note(err)}; use the model's X-variant (x: true / xbench.models.to_x) or check=False"
        )
    if err > HOMOGENEITY_WARN:
        warnings.warn(f"x_gradient: F(a*x) deviates from a*F(x) by {err:.2g} (relative; accepted, tolerance {tol:g}, "
                      f"rounding stays below {HOMOGENEITY_WARN:g}); {_ig_error_note(err)}", HomogeneityWarning,
                      stacklevel=2)
    done.add(shape)


@register("x_gradient", inputs="any", completeness=True,
          description="X-Gradient: input x gradient on a homogeneous (bias-free) model = IG, one pass",
          path_start="zero", requires_homogeneous=True)
def x_gradient(model, inputs, target, *, check: bool = True):
    """Return x * dF_t/dx after checking (once per model state and input shape) that the model is homogeneous."""
    if check:
        check_homogeneous(model, inputs)
    grad, _ = input_gradient(model, inputs, target)
    return inputs * grad


@register("random", inputs="any", completeness=False,
          description="Uniform random attributions in [-1, 1], seeded per input (the same map for an input "
                      "whatever its batch): the floor for every metric", path_start=None)
def random_attribution(model, inputs, target, *, seed: int = 0):
    """Return U(-1, 1) values shaped like ``inputs``: each sample's map is a function of ``seed`` and that
    sample's values only (:func:`xbench.methods.counter_rng.keyed_uniform`), so it does not depend on the
    sample's position in its batch, the batch size, the device or the thread count."""
    from .counter_rng import keyed_uniform

    return keyed_uniform(inputs, int(seed)) * 2 - 1
