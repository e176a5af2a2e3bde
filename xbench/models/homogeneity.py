"""Nonnegative homogeneity F(a*x) = a*F(x): a structural check, a numeric check, and to_x().

Paper A (Hesse et al. 2021): a network without additive terms (no biases, no BatchNorm shift)
built from ReLU-like activations and max/avg pooling is nonnegatively homogeneous, and for it
Input x Gradient equals Integrated Gradients with the zero baseline.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import NotHomogeneousError

_NOT_HOMOGENEOUS_ACTS = (
    nn.ReLU6, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Softplus, nn.Hardswish, nn.Hardsigmoid, nn.Softmax, nn.LogSoftmax, nn.Threshold,
)
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
_LINEAR = (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd)


def non_homogeneous_layers(model: nn.Module) -> list[tuple[str, str]]:
    """Return ``(layer path, reason)`` for every layer that breaks nonnegative homogeneity.

    Structural only: it catches biases, normalisation layers and non-homogeneous activations in
    modules; operations done in ``forward`` code (e.g. ``x + 1``) are caught by
    :func:`homogeneity_error` instead.
    """
    found: list[tuple[str, str]] = []
    for name, mod in model.named_modules():
        path = name or "<model>"
        if isinstance(mod, _LINEAR) and getattr(mod, "bias", None) is not None:
            found.append((path, f"{type(mod).__name__} has a bias"))
        elif isinstance(mod, _NORMS):
            found.append((path, f"{type(mod).__name__} adds a shift (normalisation is not homogeneous)"))
        elif isinstance(mod, _NOT_HOMOGENEOUS_ACTS):
            found.append((path, f"{type(mod).__name__} is not a homogeneous activation"))
        else:
            for pname, p in mod.named_parameters(recurse=False):
                if "bias" in pname and p is not None:
                    found.append((path, f"{type(mod).__name__} has a bias parameter '{pname}'"))
    return found


def is_homogeneous(model: nn.Module) -> bool:
    """True when :func:`non_homogeneous_layers` finds nothing."""
    return not non_homogeneous_layers(model)


def to_x(model: nn.Module) -> nn.Module:
    """Return a copy of ``model`` with every Conv/Linear bias removed (its X-variant).

    Raises :class:`NotHomogeneousError` naming the first layer that removing biases cannot fix
    (a BatchNorm, a biased activation, ...).
    """
    blocking = [(p, r) for p, r in non_homogeneous_layers(model) if "has a bias" not in r]
    if blocking:
        path, reason = blocking[0]
        kinds = sorted({r.split(" ", 1)[0] for _, r in blocking})  # every kind of blocking layer, named
        raise NotHomogeneousError(
            f"cannot make the model homogeneous: layer '{path}': {reason} "
            f"({len(blocking)} blocking layer(s) of type {', '.join(kinds)}); "
            "remove or fold it (e.g. a Fixup-style network instead of BatchNorm, ReLU instead of a smooth activation)"
        )
    out = copy.deepcopy(model)
    for mod in out.modules():
        if isinstance(mod, _LINEAR) and getattr(mod, "bias", None) is not None:
            mod.bias = None
        for pname, p in list(mod.named_parameters(recurse=False)):
            if "bias" in pname and p is not None:
                setattr(mod, pname, None)
    return out


@torch.no_grad()
def homogeneity_error(model: nn.Module, x: torch.Tensor, scales: tuple[float, ...] = (0.5, 2.0)) -> float:
    """Largest relative deviation max|F(a x) - a F(x)| / max|a F(x)| over ``scales`` (unitless).

    Relative to the largest output so that a near-zero logit does not blow the ratio up.
    """
    out = model(x)
    worst = 0.0
    for a in scales:
        ref = a * out
        err = (model(a * x) - ref).abs().max().item()
        worst = max(worst, err / max(ref.abs().max().item(), 1e-12))
    return worst
