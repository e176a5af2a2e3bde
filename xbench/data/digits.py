"""scikit-learn's handwritten digits (1,797 real 8x8 images) as a 32x32 image dataset, offline."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from .base import DATASETS, XDataset

DIGITS_SPLIT_SEED = 0
"""The train/test split is fixed (not the suite's seed) so that every run sees the same test images."""
DIGITS_TEST_FRACTION = 0.3


def _digits_images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.as_tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixel values in [0, 1]
    return _resize(x, size), torch.as_tensor(d.target, dtype=torch.long)


def digits_split_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed seeded (train, test) index split used by every digits-based dataset."""
    perm = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(n)
    n_test = int(round(n * DIGITS_TEST_FRACTION))
    return perm[n_test:], perm[:n_test]


EAGER_MAX_SIZE = 64
"""Up to this size a split is resized at once (1,797 x 64 x 64 floats: 29 MB, milliseconds), with the statistics
computed from the resized pixels as they always were; above it each image is resized when it is read and the
statistics come from the 8 x 8 moments (:func:`_resized_moments`), so opening a split costs the same at any size."""


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1) if size != 8 else x


def _resized_moments(x8: torch.Tensor, size: int) -> tuple[float, float, torch.Tensor]:
    """(mean, std, mean image [1, size, size]) of the images ``x8`` [N, 1, 8, 8] resized to ``size``, without
    resizing them: bilinear resizing is a linear map R (its weights are convex, so the clamp is inactive), so the
    mean image is R(mean) and the mean square is trace(G E[x x^T]) / P with G = R^T R (float64 throughout)."""
    flat = x8.flatten(1).double()  # [N, 64]
    basis = _resize(torch.eye(64, dtype=torch.float64).view(64, 1, 8, 8), size).flatten(1)  # [64, P]: R^T
    n, pixels = flat.shape[0], basis.shape[1]
    mean_image = flat.mean(0) @ basis  # [P]
    second = flat.T @ flat / n  # E[x x^T], [64, 64]
    mean = mean_image.mean()
    mean_square = (second * (basis @ basis.T)).sum() / pixels
    count = n * pixels
    var = (mean_square - mean**2) * count / (count - 1)  # torch.std's Bessel correction, as the eager path
    return float(mean), float(var.clamp_min(0).sqrt()), mean_image.view(1, size, size).float()


class _LazyDigits(Dataset):
    """Digits resized and normalised one at a time when read (``size`` above :data:`EAGER_MAX_SIZE`)."""

    def __init__(self, x8: torch.Tensor, y: torch.Tensor, size: int, mean: float, std: float):
        self.x8, self.y, self.size, self.mean, self.std = x8, y, size, mean, std

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (_resize(self.x8[i: i + 1], self.size)[0] - self.mean) / self.std, self.y[i]


@DATASETS.register("digits", kind="image",
                   description="scikit-learn handwritten digits (1,797 real images) at 32x32, offline",
                   bounds={"size": (8, 512)})
def digits(*, split: Literal["train", "test", "all"] = "test", size: int = 32) -> XDataset:
    """Digits resized to ``size`` x ``size`` and normalised with the train split's mean/std."""
    x8, y = _digits_images(8)
    train_idx, test_idx = digits_split_indices(len(x8))
    idx = {"train": train_idx, "test": test_idx, "all": np.arange(len(x8))}[split]
    idx_t = torch.as_tensor(idx)
    if size > EAGER_MAX_SIZE:
        mean, std, mean_image = _resized_moments(x8[train_idx], size)
        data: Dataset = _LazyDigits(x8[idx_t], y[idx_t], size, mean, std)
        dataset_mean = (mean_image - mean) / std
    else:
        x = _resize(x8, size)
        mean = x[train_idx].mean().item()
        std = x[train_idx].std().item()
        x = (x - mean) / std
        data = TensorDataset(x[idx_t], y[idx_t])
        dataset_mean = x[train_idx].mean(0)
    info = {"name": "digits", "split": split, "num_classes": 10, "input_shape": (1, size, size),
            "mean": [mean], "std": [std], "n": len(idx), "dataset_mean": dataset_mean}
    return XDataset(data, info)
