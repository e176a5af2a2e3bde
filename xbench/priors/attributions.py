"""Differentiable attributions for training with attribution priors (paper A §4.3, Erion et al. 2021).

Every function returns attributions shaped like ``inputs`` that stay in the autograd graph
(``create_graph=True``), so a penalty on them back-propagates to the weights (double backward).
``target`` selects the output whose attribution is taken: a class index per sample, or all zeros
for a single-logit (BCE) model.  ``outputs`` lets the training step reuse its own forward pass
(``model(inputs)`` with ``inputs.requires_grad``) so that X-Gradient costs exactly one extra backward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import NotHomogeneousError
from ..models.homogeneity import non_homogeneous_layers
from ..registry import suggest


@dataclass(frozen=True)
class PriorMethod:
    """How a method trains: which attribution, whether the model is bias-free, and its cost in passes."""

    name: str
    attribution: str | None  # None: unregularised
    bias: bool
    description: str


PRIOR_METHODS: dict[str, PriorMethod] = {
    m.name: m for m in (
        PriorMethod("x_gradient", "x_gradient", False, "X-Gradient x * dF/dx on a bias-free MLP (paper A)"),
        PriorMethod("expected_gradients", "expected_gradients", True, "Expected Gradients with k references"),
        PriorMethod("gradient", "gradient", True, "plain input gradient dF/dx"),
        PriorMethod("rrr", "rrr", True, "gradient of the summed log-probabilities (Ross et al. 2017)"),
        PriorMethod("none", None, True, "unregularised"),
        PriorMethod("none_no_bias", None, False, "unregularised, bias-free model"),
    )
}
"""Method name -> what it trains with; ``bias=False`` methods use the model's X-variant."""

MAX_K = 128
"""Largest number of Expected Gradients references per sample (the paper's sweep ends at 128)."""


def _needs_grad(inputs: torch.Tensor, outputs: torch.Tensor | None, model: nn.Module
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs that require grad, model outputs on them): reuse the caller's forward when given."""
    if outputs is not None:
        if not inputs.requires_grad:
            raise ValueError("outputs were given but inputs do not require grad: pass the tensor the forward used")
        return inputs, outputs
    x = inputs.detach().requires_grad_(True)
    return x, model(x)


def _target_grad(x: torch.Tensor, outputs: torch.Tensor, target: torch.Tensor, create_graph: bool) -> torch.Tensor:
    # Samples do not interact in the forward pass, so the gradient of the summed selected logits is
    # every sample's own dF_t/dx in one backward pass.
    selected = outputs.gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(selected, x, create_graph=create_graph)
    return grad


def gradient(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, *, outputs: torch.Tensor | None = None,
             create_graph: bool = True) -> torch.Tensor:
    """dF_t/dx (units of logit per input unit), one backward pass."""
    x, out = _needs_grad(inputs, outputs, model)
    return _target_grad(x, out, target, create_graph)


def x_gradient(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, *, outputs: torch.Tensor | None = None,
               create_graph: bool = True) -> torch.Tensor:
    """x * dF_t/dx (logit units; equals IG with the zero baseline on a bias-free ReLU model)."""
    x, out = _needs_grad(inputs, outputs, model)
    return x * _target_grad(x, out, target, create_graph)


def rrr(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, *, outputs: torch.Tensor | None = None,
        create_graph: bool = True) -> torch.Tensor:
    """d/dx sum_c log p_c(x) (Ross et al. 2017's "right for the right reasons" input gradient).

    A single logit z is the binary model p = (sigmoid(z), 1 - sigmoid(z)); ``target`` is unused.
    """
    x, out = _needs_grad(inputs, outputs, model)
    if out.shape[1] == 1:
        logp = torch.cat([F.logsigmoid(out), F.logsigmoid(-out)], dim=1)
    else:
        logp = F.log_softmax(out, dim=1)
    (grad,) = torch.autograd.grad(logp.sum(), x, create_graph=create_graph)
    return grad


def expected_gradients(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, *, references: torch.Tensor,
                       k: int = 1, generator: torch.Generator | None = None, create_graph: bool = True,
                       outputs: torch.Tensor | None = None) -> torch.Tensor:
    """Expected Gradients (Erion et al. 2021): mean over k draws of (x - r) * dF_t/dx at r + a (x - r).

    Exactly ``k`` references r (uniform from ``references``, with replacement) and ``k`` scales
    a ~ U(0, 1) per sample, evaluated in one forward/backward over N*k points.  ``outputs`` is
    accepted for a uniform signature but unused: EG never evaluates the model at x itself.
    """
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k: {k} is out of range; expected an integer in [1, {MAX_K}]")
    n = inputs.shape[0]
    x = inputs.detach()
    idx = torch.randint(len(references), (n * k,), generator=generator, device="cpu").to(x.device)
    refs = references[idx].to(x.dtype)
    alpha = torch.rand(n * k, generator=generator, device="cpu").to(x.device, x.dtype)
    alpha = alpha.view(-1, *([1] * (x.dim() - 1)))
    xr = x.repeat_interleave(k, dim=0)  # sample i occupies rows i*k ... i*k + k - 1
    points = (refs + alpha * (xr - refs)).requires_grad_(True)
    grads = _target_grad(points, model(points), target.repeat_interleave(k), create_graph)
    return ((xr - refs) * grads).view(n, k, *x.shape[1:]).mean(1)


ATTRIBUTIONS = {"gradient": gradient, "x_gradient": x_gradient, "rrr": rrr, "expected_gradients": expected_gradients}


def prior_attribution(name: str, model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, *,
                      outputs: torch.Tensor | None = None, references: torch.Tensor | None = None, k: int = 1,
                      generator: torch.Generator | None = None, create_graph: bool = True) -> torch.Tensor:
    """Dispatch to the attribution ``name`` (one of :data:`ATTRIBUTIONS`); returns a tensor shaped like ``inputs``."""
    if name not in ATTRIBUTIONS:
        raise ValueError(f"'{name}' is not a prior attribution; available: {', '.join(ATTRIBUTIONS)}"
                         + suggest(name, list(ATTRIBUTIONS)))
    if name == "expected_gradients":
        if references is None:
            raise ValueError("expected_gradients needs references (the training inputs)")
        return expected_gradients(model, inputs, target, references=references, k=k, generator=generator,
                                  create_graph=create_graph)
    return ATTRIBUTIONS[name](model, inputs, target, outputs=outputs, create_graph=create_graph)


def require_bias_free(model: nn.Module, method: str) -> None:
    """Raise :class:`NotHomogeneousError` naming the first layer when ``model`` is not structurally an X-DNN."""
    bad = non_homogeneous_layers(model)
    if bad:
        layer, reason = bad[0]
        raise NotHomogeneousError(f"{method}: the model is not homogeneous: {layer} {reason}; build it with x=True")
