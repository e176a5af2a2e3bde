"""An example xbench plugin: a new attribution method, registered with the decorator xbench's own methods use.

Load it from a suite (``plugins: [gradient_sign.py]``), with ``--plugin examples/plugin/gradient_sign.py``, or from
an installed package's ``xbench.plugins`` entry point. Its keyword arguments are its schema: a suite that writes
``{name: gradient_x_sign, scale: -1}`` is refused with the same one-line error a built-in method gives.
"""

from __future__ import annotations

import torch

from xbench.methods import register
from xbench.methods.base import input_gradient


@register("gradient_x_sign", description="Gradient times the sign of the input (example plugin)",
          inputs="any", completeness=False, bounds={"scale": (0.0, None)})
def gradient_x_sign(model, inputs: torch.Tensor, target: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
    """dF_t/dx * sign(x) * scale: one forward and one backward pass; logit units per input unit."""
    grad, _ = input_gradient(model, inputs, target)
    return grad * inputs.sign() * scale
