"""Substrates: what replaces a pixel.  One vocabulary for a method's baseline x' (where IG's path starts,
what completeness compares F(x) with, what Occlusion fills a window with) and a perturbation metric's
fill (what deletion puts in, what insertion starts from, what ABPC removes to).

Every substrate is built on the inputs' device, with their shape and dtype.  Inputs live in normalised
space (x - mean) / std, so ``zero`` is the mean colour, while ``black`` is pixel value 0 mapped through
the normalisation.  The canonical names are :data:`SUBSTRATES`; the one name whose meaning depends on
where it is written is ``mean``, kept as users already write it: a method's ``baseline: mean`` is the
dataset's mean image (``dataset_mean``), a metric's ``substrate: mean`` each image's own channel means
(``image_mean``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F

from .errors import ParamError


# ---- the blurs ----------------------------------------------------------------------------------------------
def gaussian_blur(x: torch.Tensor, kernel: int, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of an [N, C, H, W] batch with reflect padding (kernel clipped to the image)."""
    h, w = x.shape[-2:]
    k = int(kernel)
    k = min(k, 2 * (min(h, w) // 2) - 1 if min(h, w) > 1 else 1)  # reflect padding needs pad < size
    k = max(1, k if k % 2 == 1 else k - 1)
    if k == 1:
        return x.clone()
    r = torch.arange(k, device=x.device, dtype=x.dtype) - (k - 1) / 2
    g = torch.exp(-(r**2) / (2 * float(sigma) ** 2))
    g = g / g.sum()
    c = x.shape[1]
    pad = k // 2
    y = F.pad(x, (pad, pad, 0, 0), mode="reflect")
    y = F.conv2d(y, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    y = F.pad(y, (0, 0, pad, pad), mode="reflect")
    return F.conv2d(y, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def rise_kernel(klen: int = 11, sigma: float = 5.0, truncate: float = 4.0) -> torch.Tensor:
    """RISE's blur kernel, [klen, klen] in float64: a centred delta filtered by SciPy's
    ``gaussian_filter(delta, sigma)`` (its default ``reflect`` mode, kernel radius int(4 sigma + 0.5)).

    With klen 11 and sigma 5 the reflections fold the wide Gaussian back into the 11 x 11 window,
    so the kernel is nearly flat (centre 0.0088, corner 0.0077) and sums to 1.
    """
    r = int(truncate * float(sigma) + 0.5)
    j = torch.arange(-r, r + 1, dtype=torch.float64)
    taps = torch.exp(-(j**2) / (2 * float(sigma) ** 2)) if sigma > 0 else (j == 0).double()
    taps = taps / taps.sum()
    # half-sample symmetric extension (SciPy 'reflect': d c b a | a b c d | d c b a) of a delta at klen // 2
    pos = (torch.arange(klen)[:, None] + j[None, :].long()) % (2 * klen)
    pos = torch.where(pos >= klen, 2 * klen - 1 - pos, pos)
    k1 = (taps[None, :] * (pos == klen // 2)).sum(1)
    return k1[:, None] * k1[None, :]


def rise_blur(inputs: torch.Tensor, klen: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """RISE's insertion substrate: each channel convolved with :func:`rise_kernel`, zero padding (borders darken)."""
    k = rise_kernel(klen, sigma).to(inputs)
    c = inputs.shape[1]
    return F.conv2d(inputs, k.expand(c, 1, klen, klen), padding=klen // 2, groups=c)


# ---- the vocabulary -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    """What a substrate may read besides the inputs: the dataset's normalisation, a seed, the blur's size."""

    data_info: dict | None = None
    seed: int = 0
    blur_kernel: int = 11
    blur_sigma: float = 5.0


def _normalisation(x: torch.Tensor, o: Options, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The dataset's per-channel mean and std (pixel units), shaped to broadcast over ``x``."""
    info = o.data_info
    if not info or "mean" not in info or "std" not in info:
        raise ParamError(f"baseline: '{name}' needs the dataset's normalisation (data_info with mean/std)")
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return tuple(torch.as_tensor(info[k], dtype=x.dtype, device=x.device).view(shape) for k in ("mean", "std"))


def _black(x: torch.Tensor, o: Options) -> torch.Tensor:
    mean, std = _normalisation(x, o, "black")
    return ((0.0 - mean) / std).expand_as(x).clone()


def _dataset_mean(x: torch.Tensor, o: Options) -> torch.Tensor:
    _normalisation(x, o, "mean")
    if "dataset_mean" not in o.data_info:
        raise ParamError("baseline: 'mean' needs data_info['dataset_mean'] (the mean normalised input)")
    return torch.as_tensor(o.data_info["dataset_mean"], dtype=x.dtype, device=x.device).expand_as(x).clone()


def _uniform(x: torch.Tensor, o: Options) -> torch.Tensor:
    gen = torch.Generator(device=x.device).manual_seed(int(o.seed))
    lo, hi = x.amin().item(), x.amax().item()
    return torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * (hi - lo) + lo


SUBSTRATES: dict[str, tuple[Callable[[torch.Tensor, Options], torch.Tensor], str]] = {
    "zero": (lambda x, o: torch.zeros_like(x), "zeros: the dataset's mean colour in normalised space"),
    "black": (_black, "pixel value 0 through the normalisation (needs data_info mean/std)"),
    "blur": (lambda x, o: gaussian_blur(x, o.blur_kernel, o.blur_sigma),
             "separable Gaussian blur, reflect padding (blur_kernel, blur_sigma)"),
    "rise_blur": (lambda x, o: rise_blur(x, int(o.blur_kernel), float(o.blur_sigma)),
                  "RISE's blur: SciPy's gaussian_filter kernel, zero padding (blur_kernel, blur_sigma)"),
    "uniform": (_uniform, "seeded uniform noise over the batch's value range"),
    "dataset_mean": (_dataset_mean, "the dataset's mean image (needs data_info dataset_mean)"),
    "image_mean": (lambda x, o: x.mean(dim=(-2, -1), keepdim=True).expand_as(x).clone(),
                   "each image's own channel means"),
}
"""Name -> (builder ``(inputs, options) -> tensor``, one-line meaning): every substrate xbench knows."""

MEAN_IS = {"baseline": "dataset_mean", "substrate": "image_mean"}
"""What ``mean`` means where it is written (see the module docstring)."""

BASELINES = ("zero", "black", "blur", "uniform", "mean", "rise_blur", "dataset_mean", "image_mean")
"""Names a method's ``baseline`` accepts (besides a number or a tensor)."""

Substrate = Literal["zero", "rise_blur", "blur", "mean", "uniform", "image_mean"]
"""The type of a metric's ``substrate`` parameter: the substrates that need nothing but the inputs."""

SUBSTRATE_NAMES: tuple[str, ...] = get_args(Substrate)
"""Names a perturbation metric's ``substrate`` accepts (read from :data:`Substrate`, so the schema and
:func:`make` cannot disagree)."""


def make(inputs: torch.Tensor, name: Any, *, where: str = "baseline", data_info: dict | None = None, seed: int = 0,
         blur_kernel: int = 11, blur_sigma: float = 5.0) -> torch.Tensor:
    """The substrate ``name`` for ``inputs`` (same shape, dtype, device).

    ``name``: one of :data:`SUBSTRATES` (or ``mean``, read as :data:`MEAN_IS` [``where``]), a number, or a
    tensor broadcastable to the inputs.  ``where``: ``baseline`` (a method's) or ``substrate`` (a metric's).
    """
    if isinstance(name, torch.Tensor):
        return name.to(inputs).expand_as(inputs).clone()
    if isinstance(name, (int, float)) and not isinstance(name, bool):
        return torch.full_like(inputs, float(name))
    allowed = BASELINES if where == "baseline" else SUBSTRATE_NAMES
    if name not in allowed:
        raise ParamError(f"{where}: {name!r} is not a {where}; allowed: {', '.join(allowed)}, a number or a tensor")
    build = SUBSTRATES[MEAN_IS[where] if name == "mean" else name][0]
    return build(inputs, Options(data_info, seed, blur_kernel, blur_sigma))


def make_baseline(inputs: torch.Tensor, baseline: Any = "zero", *, data_info: dict | None = None,
                  seed: int = 0, blur_kernel: int = 11, blur_sigma: float = 5.0) -> torch.Tensor:
    """A method's baseline x' for ``inputs``: :func:`make` with ``where="baseline"`` (``mean``: the dataset's
    mean image; ``black`` and ``mean`` need ``data_info`` with the normalisation ``mean``/``std`` per channel,
    pixel units, and for ``mean`` the mean image ``dataset_mean``)."""
    return make(inputs, baseline, where="baseline", data_info=data_info, seed=seed, blur_kernel=blur_kernel,
                blur_sigma=blur_sigma)


def make_substrate(inputs: torch.Tensor, substrate: Any, *, blur_kernel: int, blur_sigma: float,
                   seed: int = 0) -> torch.Tensor:
    """A perturbation metric's fill for ``inputs``: :func:`make` with ``where="substrate"`` (``mean``: each
    image's channel means; ``rise_blur``: RISE's blur, kernel ``blur_kernel``, sigma ``blur_sigma``)."""
    return make(inputs, substrate, where="substrate", seed=seed, blur_kernel=blur_kernel, blur_sigma=blur_sigma)
