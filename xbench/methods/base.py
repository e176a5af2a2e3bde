"""The method registry and the one entry point ``attribute(model, inputs, target, method, **params)``.

A method is a function ``fn(model, inputs, target, *, **params)`` returning attributions with the
shape of ``inputs`` (or ``(attributions, info)`` where ``info`` maps names to per-sample tensors of
shape [N]).  Keyword parameters with defaults are its user settings; ``references`` and
``data_info`` are context the harness supplies when the function asks for them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from ..errors import ParamError
from ..registry import Registry, declare_fit

CONTEXT_PARAMS = ("references", "data_info")

FROM_BASELINE = "from:baseline"
"""``path_start`` value: the path starts at the method's own ``baseline`` parameter."""


def _method_contract(name: str, fn: Callable, specs: dict, meta: dict[str, Any]) -> dict[str, Any]:
    """Check what every method declares at ``register(...)``; returns the completed metadata.

    ``needs``: the context the harness must supply (a subset of :data:`CONTEXT_PARAMS`), derived
    from the function's keyword arguments when not given and checked against them when given.
    ``path_start``: where the attribution path starts, i.e. what completeness compares F(x) with:
    :data:`FROM_BASELINE` (the ``baseline`` parameter), a baseline name (``"zero"``), a callable
    ``(inputs, params, data_info) -> tensor`` (Blur IG's blurred image), or None for methods
    without a path (completeness is then reported against the zero input, by convention).  Every
    built-in method declares it; when a user's method does not, it is :data:`FROM_BASELINE` if the
    method has a ``baseline`` parameter, else None.
    ``path_end``: where the path ends when not at the input x: a callable ``(inputs, start, info) -> tensor``
    of the method's per-sample ``info`` (Refined Left IG ends at x' + a* (x - x'), a* found at run time), or
    None (default: the input itself); completeness then compares sum(A) with F(end) - F(x').
    ``inputs`` and ``fits``: the data kinds it works on and an optional model check
    (:func:`xbench.registry.declare_fit`).  ``needs_hooks`` (bool, or ``params -> bool``): it registers
    forward/backward hooks on the model's modules (DeepLift, Guided Backprop, layer methods), which a
    TorchScript or ``torch.export`` model does not offer; preflight refuses such pairs before any work.
    ``completeness`` (bool, or ``params -> bool``): whether the method claims sum(A) = F(x) - F(x'), so
    that the completeness metric applies; required of built-in methods, for a plugin it defaults to
    whether the method declares a path start.  ``consumes`` is accepted as another name for ``needs``.
    """
    if "consumes" in meta:
        if "needs" in meta:
            raise ValueError(f"method '{name}': give consumes= or needs=, not both")
        meta["needs"] = meta.pop("consumes")
    accepted = tuple(k for k in CONTEXT_PARAMS if k in inspect.signature(fn).parameters)
    needs = meta.get("needs", accepted)
    needs = (needs,) if isinstance(needs, str) else tuple(needs)
    if set(needs) - set(accepted):
        raise ValueError(f"method '{name}' declares needs={needs} but its function accepts only {accepted}")
    meta["needs"] = needs
    start = meta.setdefault("path_start", FROM_BASELINE if "baseline" in specs else None)
    if start == FROM_BASELINE and "baseline" not in specs:
        raise ValueError(f"method '{name}': path_start={FROM_BASELINE!r} but it has no 'baseline' parameter")
    if not (start is None or callable(start) or isinstance(start, str)):
        raise ValueError(f"method '{name}': path_start must be a string, a callable or None, got {start!r}")
    end = meta.setdefault("path_end", None)
    if not (end is None or callable(end)):
        raise ValueError(f"method '{name}': path_end must be a callable (inputs, start, info) -> tensor or None")
    declare_fit("method", name, fn, meta)
    for key in ("needs_hooks", "completeness"):
        value = meta.get(key)
        if value is not None and not (isinstance(value, bool) or callable(value)):
            raise ValueError(f"method '{name}': {key} must be True, False or a function of the params, got {value!r}")
    if "completeness" not in meta and str(getattr(fn, "__module__", "")).startswith("xbench."):
        raise ValueError(f"method '{name}' must declare completeness= (does it claim sum(A) = F(x) - F(x'))")
    meta.setdefault("completeness", start is not None)
    meta.setdefault("needs_hooks", False)
    return meta


def declared(method: str, key: str, params: dict[str, Any] | None = None) -> bool:
    """A method's boolean declaration ``key`` (``completeness``, ``needs_hooks``) for its ``params``."""
    value = METHODS.get(method).meta.get(key, False)
    return bool(value(dict(params or {})) if callable(value) else value)


METHODS = Registry("method", skip=3, hidden=CONTEXT_PARAMS, contract=_method_contract)

register = METHODS.register


def path_start(method: str, params: dict[str, Any] | None, inputs: torch.Tensor,
               data_info: dict | None = None) -> torch.Tensor:
    """Where ``method``'s attribution path starts for ``inputs`` (same shape, dtype, device): the x' of
    completeness, sum(A) = F(x) - F(x').  ``params`` are the method's (resolved or partial) settings."""
    from ..substrates import make_baseline

    entry = METHODS.get(method)
    resolved = entry.resolve({k: v for k, v in (params or {}).items() if k in entry.params}, where=method)
    start = entry.meta["path_start"]
    if start is None:
        return torch.zeros_like(inputs)
    if callable(start):
        return start(inputs, resolved, data_info)
    if start == FROM_BASELINE:
        return make_baseline(inputs, resolved.get("baseline", "zero"), data_info=data_info)
    return make_baseline(inputs, start, data_info=data_info)


def path_end(method: str, inputs: torch.Tensor, start: torch.Tensor, info: dict[str, Any]) -> torch.Tensor | None:
    """Where ``method``'s path ends for ``inputs`` when it declares an end other than the input (None then):
    the F(end) of completeness, sum(A) = F(end) - F(start); ``info`` is what the method returned."""
    end = METHODS.get(method).meta.get("path_end")
    return None if end is None else end(inputs, start, info)


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
    ``params``, the resolved settings including defaults and those a method decides at run time
    (returned by the method as ``info['settings']``, e.g. Grad-CAM's layer).
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
        # settings decided at run time (e.g. Grad-CAM's default layer) replace their unresolved defaults
        info["params"] = {**resolved, **info.pop("settings", {})}
        return attr, info
    return attr


def _accepts(fn) -> set[str]:
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
