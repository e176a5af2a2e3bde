"""The method registry and the one entry point ``attribute(model, inputs, target, method, **params)``.

A method is a function ``fn(model, inputs, target, *, **params)`` returning attributions with the
shape of ``inputs`` (or ``(attributions, info)`` where ``info`` maps names to per-sample tensors of
shape [N]).  Keyword parameters with defaults are its user settings; ``references`` and
``data_info`` are context the harness supplies when the function asks for them.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ParamError
from ..registry import Registry

CONTEXT_PARAMS = ("references", "data_info")
METHODS = Registry("method", skip=3, hidden=CONTEXT_PARAMS)

register = METHODS.register


def available() -> list[str]:
    """Names of all registered attribution methods."""
    return METHODS.available()


def describe() -> dict[str, str]:
    """Name -> one-line description of every method."""
    return METHODS.describe()


def as_target(target: Any, n: int, device: torch.device) -> torch.Tensor:
    """Normalise ``target`` (int, sequence or tensor) to a LongTensor of shape [n] on ``device``."""
    if isinstance(target, int):
        return torch.full((n,), target, dtype=torch.long, device=device)
    t = torch.as_tensor(target, device=device).long().reshape(-1)
    if t.numel() == 1 and n != 1:
        t = t.expand(n).clone()
    if t.numel() != n:
        raise ParamError(f"target: {t.numel()} targets for {n} inputs")
    return t


def attribute(model: torch.nn.Module, inputs: torch.Tensor, target: Any, method: str, /,
              *, return_info: bool = False, **params: Any):
    """Attribute ``model``'s ``target`` logit to ``inputs`` with the named method.

    Returns a tensor shaped like ``inputs`` (same dtype and device), or ``(attributions, info)``
    with ``return_info=True``.  The first four arguments are positional-only so that a method's
    own ``method=`` parameter (IG's quadrature rule, as in Captum) passes through.
    ``info`` holds per-sample diagnostics (tensors of shape [N]) and
    ``params``, the resolved settings including defaults.
    """
    entry = METHODS.get(method)
    context = {k: params.pop(k) for k in CONTEXT_PARAMS if k in params}
    resolved = entry.resolve(params, where=method)
    target_t = as_target(target, inputs.shape[0], inputs.device)
    call = dict(resolved)
    for key, value in context.items():
        if key in _accepts(entry.fn):
            call[key] = value
    out = entry.fn(model, inputs, target_t, **call)
    attr, info = (out if isinstance(out, tuple) else (out, {}))
    if attr.shape != inputs.shape:
        raise RuntimeError(f"method {method} returned shape {tuple(attr.shape)} for inputs {tuple(inputs.shape)}")
    attr = attr.to(dtype=inputs.dtype)
    if return_info:
        info = dict(info)
        info["params"] = resolved
        return attr, info
    return attr


def _accepts(fn) -> set[str]:
    import inspect

    return set(inspect.signature(fn).parameters)


def target_outputs(model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Target logits F_t(x), shape [N], without gradient."""
    with torch.no_grad():
        return model(inputs).gather(1, target[:, None]).squeeze(1)


def input_gradient(model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor,
                   create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (dF_t/dx, F_t(x)) for a batch, one forward and one backward pass.

    Summing the selected logits before the backward is exact because samples in an eval-mode
    batch do not interact.
    """
    x = inputs.detach().requires_grad_(True)
    out = model(x).gather(1, target[:, None]).squeeze(1)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=create_graph)
    return grad, out.detach()
