"""Quadrature rules on [0, 1] for path integrals, matching Captum's ``approximation_parameters``."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

Rule = Literal["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"]
RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


def quadrature(rule: str, n_steps: int, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (alphas, weights), each of shape [n_steps], with sum(weights) = 1 for every rule."""
    n = int(n_steps)
    if rule == "riemann_left":
        a = np.arange(n) / n
        w = np.full(n, 1.0 / n)
    elif rule == "riemann_right":
        a = np.arange(1, n + 1) / n
        w = np.full(n, 1.0 / n)
    elif rule == "riemann_middle":
        a = (np.arange(n) + 0.5) / n
        w = np.full(n, 1.0 / n)
    elif rule == "riemann_trapezoid":
        if n < 2:
            raise ValueError("riemann_trapezoid needs n_steps >= 2")
        a = np.linspace(0.0, 1.0, n)
        w = np.full(n, 1.0 / (n - 1))
        w[0] = w[-1] = 0.5 / (n - 1)
    elif rule == "gausslegendre":
        x, wl = np.polynomial.legendre.leggauss(n)
        a = 0.5 * (x + 1)
        w = 0.5 * wl
    else:
        raise ValueError(f"unknown quadrature rule {rule!r}; allowed: {', '.join(RULES)}")
    return (torch.as_tensor(a, dtype=dtype, device=device), torch.as_tensor(w, dtype=dtype, device=device))
