"""Complexity of an attribution map: sparseness (Gini), complexity (entropy), effective complexity.

All three read only the attributions (no model call), over every element of one sample's map (channels
kept, as the map is given), in float64, per sample: a sample's value never depends on the batch it
sits in.  An all-zero map has no distribution: sparseness and complexity are nan there.

- sparseness (Chalasani et al. 2020): the Gini index of |A|, in [0, 1]; 1 = all mass on one feature.
- complexity (Bhatt et al. 2020): the Shannon entropy (nats) of p_i = |A_i| / sum |A|; low = concentrated.
- effective complexity (Nguyen & Martínez 2020): the number of features with |A| above ``eps`` after
  dividing by the sample's own max |A|.

Convention differences with Quantus 0.6 (tested in ``tests/conformance``): Quantus adds 1e-7 to every
value before the Gini index and 1e-12 inside the entropy's logarithm (ours is exact, with 0 log 0 = 0);
its default normalisation divides by the max over the whole *batch*, ours by each sample's own max.
"""

from __future__ import annotations

from typing import Literal

import torch

from .base import register_metric


def _magnitudes(attributions: torch.Tensor) -> torch.Tensor:
    """|A| flattened per sample, float64, [N, D]."""
    return attributions.detach().flatten(1).double().abs()


def sparseness(model, inputs, target, attributions) -> torch.Tensor:
    """Gini index of |A| per sample [N] (unitless, in [0, 1], higher = sparser; nan for an all-zero map).

    With |A| sorted ascending a_(1) <= ... <= a_(D): G = sum_i (2i - D - 1) a_(i) / (D sum_i a_(i)).
    """
    a = _magnitudes(attributions).sort(dim=1).values
    d = a.shape[1]
    rank = torch.arange(1, d + 1, dtype=a.dtype, device=a.device)
    total = a.sum(1)
    gini = ((2 * rank - d - 1) * a).sum(1) / (d * total)
    return torch.where(total > 0, gini, torch.full_like(gini, float("nan")))


def complexity(model, inputs, target, attributions) -> torch.Tensor:
    """Entropy in nats of p = |A| / sum |A| per sample [N] (lower = more concentrated; at most log D;
    nan for an all-zero map)."""
    a = _magnitudes(attributions)
    total = a.sum(1, keepdim=True)
    p = a / total
    h = -torch.special.xlogy(p, p).sum(1)  # 0 log 0 = 0
    return torch.where(total[:, 0] > 0, h, torch.full_like(h, float("nan")))


def effective_complexity(model, inputs, target, attributions, *, eps: float = 1e-5,
                         normalise: Literal["max", "none"] = "max") -> torch.Tensor:
    """Number of features with |A| > ``eps`` per sample [N] (a count; lower = fewer relevant features).

    ``normalise="max"`` divides |A| by the sample's own max first (so ``eps`` is a share of the largest
    value; an all-zero map counts 0); ``"none"`` compares raw |A| with ``eps`` (attribution units).
    """
    a = _magnitudes(attributions)
    if normalise == "max":
        peak = a.amax(1, keepdim=True)
        a = a / torch.where(peak > 0, peak, torch.ones_like(peak))
    return (a > eps).sum(1).to(torch.float64)


_META = {"consumes": ("attributions",), "inputs": "any"}

register_metric("sparseness", sparseness, **_META,
                description="Sparseness (Chalasani et al. 2020): Gini index of |A| per sample (higher = sparser)",
                direction="higher", units="Gini index (0-1)", label="sparseness (Gini)",
                paper="Chalasani, Chen, Chowdhury, Wu, Jha 2020")
register_metric("complexity", complexity, **_META,
                description="Complexity (Bhatt et al. 2020): entropy of |A| / sum |A| per sample (lower = simpler)",
                direction="lower", units="nats", label="complexity (entropy)", paper="Bhatt, Weller, Moura 2020")
register_metric("effective_complexity", effective_complexity, **_META, bounds={"eps": (0.0, None)},
                description="Effective complexity (Nguyen & Martínez 2020): features with |A| / max |A| > eps "
                            "(lower = simpler)",
                direction="lower", units="features (count)", label="effective complexity",
                paper="Nguyen, Martínez 2020",
                docs={"eps": "threshold on |A| (a share of the sample's max |A| when normalise is 'max'; attribution "
                             "units when 'none'); a feature counts when it is strictly above",
                      "normalise": "'max': divide |A| by the sample's own max first (per sample, so a value never "
                                   "depends on the batch); 'none': compare raw |A|"})
