"""Attribution priors Omega(A): sparsity (paper A, Erion et al. 2021) and image smoothness (total variation)."""

from __future__ import annotations

import torch

EPS = 1e-12
"""Keeps the Gini ratio finite when every attribution is exactly zero (it is 0 then)."""


def gini(values: torch.Tensor) -> torch.Tensor:
    """Gini coefficient of nonnegative ``values`` (flattened): ½·mean_ij |v_i − v_j| / mean(v); unitless in [0, 1)."""
    v = values.flatten()
    mad = (v[:, None] - v[None, :]).abs().mean()
    return 0.5 * mad / (v.mean() + EPS)


def sparsity(attributions: torch.Tensor) -> torch.Tensor:
    """Omega = −Gini(mean_n |A_n|) for attributions [N, ...]: lower is sparser (a scalar in (−1, 0])."""
    return -gini(attributions.abs().mean(0))


def total_variation(attributions: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation per image, [N]: sum over channels of |A[i+1, j] − A[i, j]| + |A[i, j+1] − A[i, j]|.

    ``attributions`` is [N, C, H, W] or [N, H, W]; the result is in attribution units.
    """
    a = attributions if attributions.dim() == 4 else attributions.unsqueeze(1)
    dv = (a[:, :, 1:, :] - a[:, :, :-1, :]).abs().flatten(1).sum(1)
    dh = (a[:, :, :, 1:] - a[:, :, :, :-1]).abs().flatten(1).sum(1)
    return dv + dh


def smoothness(attributions: torch.Tensor) -> torch.Tensor:
    """Omega = mean over the batch of :func:`total_variation` (a scalar in attribution units)."""
    return total_variation(attributions).mean()


PENALTIES = {"sparsity": sparsity, "smoothness": smoothness}
"""Prior name -> Omega(A); the training loss is task loss + lambda * Omega."""
