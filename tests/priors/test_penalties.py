"""Gini, sparsity and total variation against hand-computed values."""

import pytest
import torch

from xbench.priors.penalties import gini, smoothness, sparsity, total_variation


def test_gini_hand_computed():
    # |x_i - x_j| over the 9 ordered pairs of (1, 2, 3): 0,1,2,1,0,1,2,1,0 -> mean 8/9; half of it over mean 2
    assert gini(torch.tensor([1.0, 2.0, 3.0])).item() == pytest.approx(2 / 9)
    # all mass on one of four features: mean|.| = 6/16, mean = 1/4 -> 0.5 * 1.5 = 0.75 = (n - 1) / n
    assert gini(torch.tensor([0.0, 0.0, 0.0, 1.0])).item() == pytest.approx(0.75)
    assert gini(torch.full((5,), 3.0)).item() == pytest.approx(0.0)
    assert gini(torch.zeros(3)).item() == 0.0  # no 0/0


def test_sparsity_is_minus_gini_of_mean_abs():
    a = torch.tensor([[1.0, -2.0, 3.0], [-1.0, 2.0, 3.0]])  # mean |A| over the batch = (1, 2, 3)
    assert sparsity(a).item() == pytest.approx(-2 / 9)


def test_total_variation_hand_computed():
    a = torch.tensor([[1.0, 2.0], [3.0, 5.0]])
    # horizontal |2-1| + |5-3| = 3, vertical |3-1| + |5-2| = 5
    assert total_variation(a[None]).tolist() == [8.0]
    two = torch.stack([a, torch.zeros(2, 2)])[:, None]  # [2, 1, 2, 2]
    assert total_variation(two).tolist() == [8.0, 0.0]
    assert smoothness(two).item() == pytest.approx(4.0)
    rgb = a.expand(3, 2, 2)[None]  # channels add up
    assert total_variation(rgb).item() == pytest.approx(24.0)
    assert total_variation(torch.ones(1, 1, 4, 4)).item() == 0.0
