"""Infidelity (Yeh et al. 2019): how well I^T A predicts F(x) - F(x - I) for random perturbations I.

Compatible with ``captum.metrics.infidelity``: the same perturbations give the same values (target
logit as F, image-major perturbation order, the same optimal-scaling ``normalize``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..batching import DEFAULT_MAX_BATCH
from ..methods.base import target_outputs
from .base import ChunkRNG, for_noise_items, register_metric

InfidelityPerturb = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def infidelity(model, inputs, target, attributions, *, noise_std: float = 0.1, n_samples: int = 10,
               normalize: bool = True, seed: int = 0, max_batch: int = DEFAULT_MAX_BATCH,
               perturb_func: InfidelityPerturb | None = None) -> torch.Tensor:
    """Infidelity per sample [N] (logit^2, lower is better): mean over ``n_samples`` perturbations I of
    (beta * I^T A - (F(x) - F(x - I)))^2, F = target logit.

    I ~ N(0, ``noise_std``^2) per element (input units; Yeh's noisy-baseline perturbation), drawn on
    the device; ``perturb_func(x_repeated) -> (I, x - I)`` replaces it (Captum's convention).
    ``normalize``: beta = E[I^T A * dF] / E[(I^T A)^2] (Captum's ``normalize=True``; makes the value
    invariant to the attribution's scale, so methods compare); otherwise beta = 1.
    """
    n, s = inputs.shape[0], int(n_samples)
    f_x = target_outputs(model, inputs, target)
    dots = torch.empty((n, s), dtype=inputs.dtype, device=inputs.device)
    drops = torch.empty_like(dots)
    def item(img: torch.Tensor, j: torch.Tensor, rng: ChunkRNG) -> None:
        x = inputs[img]
        if perturb_func is None:
            pert = rng.normal(tuple(x.shape), noise_std, x.dtype)
            x_pert = x - pert
        else:
            pert, x_pert = perturb_func(x)
        f = target_outputs(model, x_pert, target[img])
        dots[img, j] = (pert * attributions[img]).flatten(1).sum(1)
        drops[img, j] = f_x[img] - f

    for_noise_items(item, n, s, seed, inputs.device, max_batch)
    if normalize:
        num, den = (dots * drops).sum(1), (dots * dots).sum(1)
        beta = num / torch.where(den == 0, torch.ones_like(den), den)  # Captum's safe_div
    else:
        beta = torch.ones_like(f_x)
    return ((beta[:, None] * dots - drops) ** 2).mean(1)


register_metric("infidelity", infidelity, inputs="any", hidden=("perturb_func",),
                bounds={"noise_std": (0.0, None), "n_samples": (1, None), "max_batch": (1, None)},
                description="Infidelity (Yeh 2019): mean (beta I^T A - (F(x) - F(x - I)))^2 over Gaussian "
                            "perturbations (lower is better)",
                direction="lower", consumes=("attributions",), units="logit^2", label="infidelity")
