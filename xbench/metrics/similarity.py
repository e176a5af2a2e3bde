"""Batched similarities between two attributions of the same samples, for the randomisation checks.

Every function takes two tensors ``a``, ``b`` of shape [N, ...] and returns one value per sample [N]
in float64, compared on the flattened attribution (all channels and pixels as one vector), which is
how Quantus 0.6 compares batches.  :func:`prepare` applies Quantus's ``normalise`` (divide by the
sample's max |a|) and ``abs`` before the comparison.
"""

from __future__ import annotations

from typing import Literal

import torch

from .base import pearson

Similarity = Literal["spearman", "pearson", "ssim", "top_k_intersection"]
SIMILARITIES = ("spearman", "pearson", "ssim", "top_k_intersection")


def prepare(a: torch.Tensor, *, abs: bool, normalise: bool) -> torch.Tensor:
    """``a`` flattened to [N, F] in float64, divided by each sample's max |a| (``normalise``; an all-zero
    sample stays zero), then made absolute (``abs``): Quantus's ``normalise_by_max`` per sample, then ``np.abs``."""
    a = a.detach().flatten(1).double()
    if normalise:
        m = a.abs().amax(1, keepdim=True)
        a = a / torch.where(m == 0, torch.ones_like(m), m)
    return a.abs() if abs else a


def average_ranks(a: torch.Tensor) -> torch.Tensor:
    """Ranks 1..F along the last dimension of [N, F], ties given their average rank (``scipy.stats.rankdata``)."""
    n, f = a.shape
    s, order = torch.sort(a, dim=1, stable=True)
    pos = torch.arange(f, device=a.device).expand(n, f)
    new = torch.ones_like(s, dtype=torch.bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]  # first element of a run of ties
    last = torch.ones_like(new)
    last[:, :-1] = new[:, 1:]  # last element of a run of ties
    first_pos = torch.where(new, pos, torch.zeros_like(pos)).cummax(1).values
    last_pos = torch.where(last, pos, torch.full_like(pos, f)).flip(1).cummin(1).values.flip(1)
    avg = (first_pos + last_pos).double() / 2 + 1
    ranks = torch.empty_like(avg)
    ranks.scatter_(1, order, avg)
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation per sample [N] (Pearson of average ranks); nan where a side is constant."""
    return pearson(average_ranks(a.flatten(1).double()), average_ranks(b.flatten(1).double()))


SSIM_WINDOW = 7  # skimage's default window (Quantus's ssim): the fewest features SSIM can compare


def ssim(a: torch.Tensor, b: torch.Tensor, win_size: int = SSIM_WINDOW, k1: float = 0.01,
         k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM per sample [N] of the flattened attributions, as ``skimage.metrics.structural_similarity``
    computes it on a 1-D array (Quantus's ``ssim`` on a batch): a uniform window of ``win_size``, sample
    covariances, ``data_range`` = max - min over both arrays, the mean over the windows that lie inside the
    array (skimage crops the padded border).  nan where the data range is 0."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    if a.shape[1] < win_size:
        raise ValueError(f"ssim: {a.shape[1]} features; the window needs at least win_size={win_size}")
    both = torch.cat([a, b], 1)
    rng = (both.amax(1) - both.amin(1))[:, None]
    kernel = torch.full((1, 1, win_size), 1.0 / win_size, dtype=torch.float64, device=a.device)

    def mean(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv1d(x[:, None], kernel)[:, 0]  # valid windows only: [N, F - win + 1]

    ux, uy, uxx, uyy, uxy = mean(a), mean(b), mean(a * a), mean(b * b), mean(a * b)
    cov = win_size / (win_size - 1)
    vx, vy, vxy = cov * (uxx - ux * ux), cov * (uyy - uy * uy), cov * (uxy - ux * uy)
    c1, c2 = (k1 * rng) ** 2, (k2 * rng) ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return torch.where(rng[:, 0] == 0, torch.full_like(rng[:, 0], float("nan")), s.mean(1))


def top_k_intersection(a: torch.Tensor, b: torch.Tensor, top_k: float = 0.1) -> torch.Tensor:
    """Share of the ``top_k`` fraction of features with the largest values in ``a`` that are also among the
    largest of ``b``, per sample [N] in [0, 1] (ties broken by feature index)."""
    a, b = a.flatten(1), b.flatten(1)
    k = max(1, int(round(top_k * a.shape[1])))
    top_a = torch.sort(a, dim=1, descending=True, stable=True).indices[:, :k]
    top_b = torch.sort(b, dim=1, descending=True, stable=True).indices[:, :k]
    in_b = torch.zeros(a.shape, dtype=torch.bool, device=a.device)
    in_b.scatter_(1, top_b, True)
    return in_b.gather(1, top_a).double().mean(1)


def similarity(a: torch.Tensor, b: torch.Tensor, name: str, *, top_k: float = 0.1) -> torch.Tensor:
    """The named similarity of :data:`SIMILARITIES` per sample [N], float64."""
    if name == "spearman":
        return spearman(a, b)
    if name == "pearson":
        return pearson(a.flatten(1).double(), b.flatten(1).double())
    if name == "ssim":
        return ssim(a, b)
    if name == "top_k_intersection":
        return top_k_intersection(a, b, top_k)
    raise ValueError(f"similarity: {name!r}; allowed: {', '.join(SIMILARITIES)}")
