"""The synthetic pattern data: deterministic per seed, any size, masks that cover exactly the pattern."""

from __future__ import annotations

import pytest
import torch

from xbench.data import create
from xbench.data.synthetic import pattern_scale


def test_deterministic_per_seed():
    a = create("synthetic", "test", n=8)
    b = create("synthetic", "test", n=8)
    c = create("synthetic", "test", n=8, seed=1)
    for ta, tb in zip(a.tensors(), b.tensors()):
        assert torch.equal(ta, tb)
    assert not torch.equal(a.tensors()[0], c.tensors()[0])
    assert not torch.equal(a.tensors()[0], create("synthetic", "train", n=8).tensors()[0])  # splits differ


@pytest.mark.parametrize("size", [32, 224])
def test_sizes_masks_and_info(size):
    ds = create("synthetic", "test", size=size, n=6)
    assert ds.has_masks and ds.info["input_shape"] == (3, size, size) and ds.info["num_classes"] == 4
    x, y, m = ds.tensors()
    assert x.shape == (6, 3, size, size) and m.shape == (6, size, size) and m.dtype == torch.bool
    k = pattern_scale(size)
    side = 5 * k
    for i in range(6):
        rows, cols = m[i].nonzero(as_tuple=True)
        assert rows.max() - rows.min() < side and cols.max() - cols.min() < side  # one pattern, one place
        # the pattern's pixels all share one colour (pixel units), the background does not
        pix = x[i] * torch.tensor(ds.info["std"]).view(3, 1, 1) + torch.tensor(ds.info["mean"]).view(3, 1, 1)
        inside = pix[:, m[i]]
        assert (inside - inside[:, :1]).abs().max() < 1e-5
        assert (pix[:, ~m[i]] - inside[:, :1]).abs().amax(0).median() > 0.1


def test_box_masks_and_class_balance():
    box = create("synthetic", "test", n=4, mask="box")
    side = 5 * pattern_scale(32)
    assert all(int(m.sum()) == side * side for m in box.tensors()[2])
    y = create("synthetic", "train", n=400, num_classes=6).tensors()[1]
    counts = torch.bincount(y, minlength=6)
    assert counts.min() > 40


def test_normalisation_is_the_data_mean():
    ds = create("synthetic", "train", n=256)
    x = ds.tensors()[0]
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
