"""Digits at any size: opening a split reads only what the run uses; large sizes resize each image when read."""

from __future__ import annotations

import time

import torch

from xbench.data.digits import EAGER_MAX_SIZE, _digits_images, digits, digits_split_indices


def test_a_large_split_opens_without_resizing_every_image():
    started = time.process_time()
    ds = digits(split="test", size=512)
    assert time.process_time() - started < 5.0  # was 26 s and 6.2 GB: all 1,797 digits resized at once
    assert not isinstance(ds.dataset, torch.utils.data.TensorDataset)
    x, y = ds[0]
    assert x.shape == (1, 512, 512) and ds.info["input_shape"] == (1, 512, 512) and int(y) in range(10)


def test_the_lazy_path_equals_resizing_every_image():
    """Above EAGER_MAX_SIZE the normalisation comes from the 8x8 moments: the same statistics and images as
    resizing the whole split (float32 rounding apart)."""
    size = EAGER_MAX_SIZE + 16
    x, _ = _digits_images(size)
    train, test = digits_split_indices(len(x))
    mean, std = x[train].mean().item(), x[train].std().item()
    ds = digits(split="test", size=size)
    assert abs(ds.info["mean"][0] - mean) < 1e-6 and abs(ds.info["std"][0] - std) < 1e-6
    eager = (x[torch.as_tensor(test[:6])] - mean) / std
    lazy = torch.stack([ds[i][0] for i in range(6)])
    torch.testing.assert_close(lazy, eager, rtol=0, atol=2e-6)
    torch.testing.assert_close(ds.info["dataset_mean"], ((x[train] - mean) / std).mean(0), rtol=0, atol=2e-6)
