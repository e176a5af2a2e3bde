"""scikit-learn's handwritten digits (1,797 real 8x8 images) as a 32x32 image dataset, offline."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from .base import DATASETS, XDataset

DIGITS_SPLIT_SEED = 0
"""The train/test split is fixed (not the suite's seed) so that every run sees the same test images."""
DIGITS_TEST_FRACTION = 0.3


def _digits_images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.as_tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixel values in [0, 1]
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return x, torch.as_tensor(d.target, dtype=torch.long)


def digits_split_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed seeded (train, test) index split used by every digits-based dataset."""
    perm = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(n)
    n_test = int(round(n * DIGITS_TEST_FRACTION))
    return perm[n_test:], perm[:n_test]


@DATASETS.register("digits", kind="image",
                   description="scikit-learn handwritten digits (1,797 real images) at 32x32, offline",
                   bounds={"size": (8, 512)})
def digits(*, split: Literal["train", "test", "all"] = "test", size: int = 32) -> XDataset:
    """Digits resized to ``size`` x ``size`` and normalised with the train split's mean/std."""
    x, y = _digits_images(size)
    train_idx, test_idx = digits_split_indices(len(x))
    mean = x[train_idx].mean().item()
    std = x[train_idx].std().item()
    x = (x - mean) / std
    idx = {"train": train_idx, "test": test_idx, "all": np.arange(len(x))}[split]
    idx_t = torch.as_tensor(idx)
    info = {"name": "digits", "split": split, "num_classes": 10, "input_shape": (1, size, size),
            "mean": [mean], "std": [std], "n": len(idx), "dataset_mean": x[train_idx].mean(0)}
    return XDataset(TensorDataset(x[idx_t], y[idx_t]), info)
