"""``synthetic``: images whose class is a small pattern at a random place on a textured background.

Each item is ``(x, y, mask)``: ``x`` [3, size, size] normalised, ``y`` the pattern's class, ``mask``
[size, size] bool, True on the pattern's pixels (``mask="pattern"``) or its bounding box
(``mask="box"``).  Only the pattern decides the class (background, colour and place are drawn
independently of it), so the mask is the ground truth of where the evidence is.  Item ``i`` of a
split is generated from its own seed, so the data are the same on every machine and at every
batch size, and large images are generated on the fly instead of held in memory.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .base import DATASETS, XDataset

_TEMPLATES = {
    "plus": ["..#..", "..#..", "#####", "..#..", "..#.."],
    "cross": ["#...#", ".#.#.", "..#..", ".#.#.", "#...#"],
    "square": ["#####", "#...#", "#...#", "#...#", "#####"],
    "h": ["#...#", "#...#", "#####", "#...#", "#...#"],
    "t": ["#####", "..#..", "..#..", "..#..", "..#.."],
    "l": ["#....", "#....", "#....", "#....", "#####"],
}
CLASS_NAMES = list(_TEMPLATES)
"""Class index -> pattern name (the first ``num_classes`` are used)."""

_SPLIT_ID = {"train": 0, "test": 1, "val": 2}
_DEFAULT_N = {"train": 2000, "test": 500, "val": 500}
_PRECOMPUTE_FLOATS = 2 ** 24  # hold a split in memory when it is under 64 MiB of float32
_STATS_ITEMS = 256


def _template(name: str) -> torch.Tensor:
    return torch.tensor([[c == "#" for c in row] for row in _TEMPLATES[name]], dtype=torch.bool)


def pattern_scale(size: int) -> int:
    """Pixels per template cell: 1 at 32 px, 7 at 224 px (the pattern covers ~16% of the side)."""
    return max(1, round(size / 32))


def item_seed(seed: int, split: str, index: int) -> int:
    """The generator seed of one item: distinct for every (seed, split, index)."""
    return (int(seed) * 1_000_003 + _SPLIT_ID[split] * 100_000_007 + int(index)) % (2 ** 62)


def render(size: int, label: int, gen: torch.Generator, mask: str = "pattern") -> tuple[torch.Tensor, torch.Tensor]:
    """One image in pixel units [3, size, size] in [0, 1] and its mask [size, size] (bool)."""
    # Background: smooth colour blobs + oriented stripes + pixel noise, none of it tied to the label.
    g = 5
    blobs = F.interpolate(torch.rand(1, 3, g, g, generator=gen), size=(size, size), mode="bicubic",
                          align_corners=False)[0]
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    theta, phase = torch.rand(2, generator=gen) * torch.tensor([math.pi, 2 * math.pi])
    freq = 2 + 6 * torch.rand(1, generator=gen).item()
    stripes = torch.sin(2 * math.pi * freq * (xx * theta.cos() + yy * theta.sin()) / size + phase)
    amp = 0.12 * (torch.rand(3, 1, 1, generator=gen) * 2 - 1)
    img = 0.3 + 0.4 * blobs + amp * stripes + 0.03 * torch.randn(3, size, size, generator=gen)
    # Pattern: dark or bright (chosen at random, so brightness says nothing about the class).
    k = pattern_scale(size)
    tpl = _template(CLASS_NAMES[label]).repeat_interleave(k, 0).repeat_interleave(k, 1)
    p = tpl.shape[0]
    top, left = (torch.randint(0, size - p + 1, (2,), generator=gen)).tolist()
    bright = torch.rand(1, generator=gen).item() < 0.5
    colour = (0.9 if bright else 0.0) + 0.1 * torch.rand(3, 1, 1, generator=gen)
    region = img[:, top:top + p, left:left + p]
    img[:, top:top + p, left:left + p] = torch.where(tpl, colour.expand_as(region), region)
    m = torch.zeros(size, size, dtype=torch.bool)
    m[top:top + p, left:left + p] = tpl if mask == "pattern" else True
    return img.clamp(0, 1), m


class SyntheticImages(Dataset):
    """The generated split: item ``i`` is ``(x normalised, y, mask)``, rebuilt from :func:`item_seed`."""

    def __init__(self, n: int, size: int, num_classes: int, seed: int, split: str, mask: str,
                 mean: torch.Tensor | None = None, std: torch.Tensor | None = None):
        self.n, self.size, self.num_classes, self.seed, self.split, self.mask = n, size, num_classes, seed, split, mask
        self.mean = torch.zeros(3, 1, 1) if mean is None else mean.view(3, 1, 1)
        self.std = torch.ones(3, 1, 1) if std is None else std.view(3, 1, 1)
        self._cache: list | None = None
        if n * 3 * size * size <= _PRECOMPUTE_FLOATS:
            self._cache = [self._make(i) for i in range(n)]

    def _make(self, i: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        gen = torch.Generator().manual_seed(item_seed(self.seed, self.split, i))
        label = int(torch.randint(0, self.num_classes, (1,), generator=gen))
        img, m = render(self.size, label, gen, self.mask)
        return (img - self.mean) / self.std, label, m

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        if not -self.n <= i < self.n:
            raise IndexError(i)
        i = i % self.n
        return self._cache[i] if self._cache is not None else self._make(i)


@functools.lru_cache(maxsize=32)
def _channel_stats(size: int, num_classes: int, seed: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    # 256 images pin the statistics to ~1e-3; above 64 px each image has enough pixels for 64 to do, and above
    # 256 px fewer still (2^22 pixels in all: 16 images at 512, 4 at 1024), so opening a split stays cheap
    n = _STATS_ITEMS if size <= 64 else max(4, min(_STATS_ITEMS // 4, 2**22 // (size * size)))
    raw = SyntheticImages(n, size, num_classes, seed, "train", "pattern")
    x = torch.stack([raw[i][0] for i in range(n)])
    return tuple(x.mean(dim=(0, 2, 3)).tolist()), tuple(x.std(dim=(0, 2, 3)).tolist())


def channel_stats(size: int, num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std [3] (pixel units) of the first train images: the normalisation (memoised)."""
    mean, std = _channel_stats(size, num_classes, seed)
    return torch.tensor(mean), torch.tensor(std)


@DATASETS.register("synthetic", kind="image", masks=True,
                   description="Generated images: class = a small pattern at a random place on a "
                   "texture; ground-truth masks (offline, any size)",
                   bounds={"size": (16, 1024), "num_classes": (2, len(_TEMPLATES)), "n": (1, None)})
def synthetic(*, split: Literal["train", "test", "val"] = "test", size: int = 32, num_classes: int = 4,
              n: int | None = None, seed: int = 0, mask: Literal["pattern", "box"] = "pattern") -> XDataset:
    """``n`` images (default: 2000 train, 500 test/val) at ``size`` x ``size``; classes are the
    first ``num_classes`` of plus, cross, square, h, t, l.  Deterministic per ``seed``."""
    n = _DEFAULT_N[split] if n is None else n
    mean, std = channel_stats(size, num_classes, seed)
    ds = SyntheticImages(n, size, num_classes, seed, split, mask, mean, std)
    info = {"name": "synthetic", "split": split, "num_classes": num_classes, "input_shape": (3, size, size),
            "mean": mean.tolist(), "std": std.tolist(), "n": n, "classes": CLASS_NAMES[:num_classes],
            "mask_shape": (size, size), "mask": mask, "pattern_pixels": 5 * pattern_scale(size),
            "dataset_mean": torch.zeros(3, size, size)}
    return XDataset(ds, info, has_masks=True)
