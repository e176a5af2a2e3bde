"""The keyed uniform draws behind ``random``: uniform, independent, and a function of (seed, input) only."""

import numpy as np
import pytest
import torch
from scipy import stats

import xbench
from xbench.methods.counter_rng import keyed_uniform, sample_keys


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_draws_are_uniform_and_uncorrelated(images):
    u = keyed_uniform(images, 0).double()
    flat = u.reshape(len(u), -1).numpy()
    assert 0 <= flat.min() and flat.max() < 1
    # Kolmogorov-Smirnov against U(0, 1) on 49,152 values: a bias of 1% in the CDF would give p < 1e-100
    assert stats.kstest(flat.ravel(), "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(flat[:, :-1].ravel(), flat[:, 1:].ravel())[0, 1]) < 0.03  # 3 sigma ~ 0.014
    assert abs(np.corrcoef(flat[0], flat[1])[0, 1]) < 0.06  # 3,072 pairs: 3 sigma ~ 0.054
    pairs = (flat[:, :-1:2] * 8).astype(int) * 8 + (flat[:, 1::2] * 8).astype(int)
    assert stats.chisquare(np.bincount(pairs.ravel(), minlength=64)).pvalue > 1e-3


def test_a_samples_draws_do_not_depend_on_its_batch(images):
    whole = keyed_uniform(images, 3)
    assert torch.equal(keyed_uniform(images[7:8], 3)[0], whole[7])
    assert torch.equal(keyed_uniform(images.flip(0), 3).flip(0), whole)
    assert torch.equal(keyed_uniform(images.double(), 3).float(), whole)  # keys read float32 bit patterns


def test_seed_and_values_change_the_draws(images):
    assert not torch.equal(keyed_uniform(images[:2], 0), keyed_uniform(images[:2], 1))
    nudged = images[:1].clone()
    nudged[0, 0, 0, 0] = torch.nextafter(nudged[0, 0, 0, 0], torch.tensor(10.0))
    assert (keyed_uniform(nudged, 0) != keyed_uniform(images[:1], 0)).float().mean() > 0.99
    big = 2**40 + 5
    assert sample_keys(images[:1], big).item() != sample_keys(images[:1], big % (2**31 - 1)).item()


def test_random_method_is_the_same_map_in_any_batch(images):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 4))
    target = torch.zeros(16, dtype=torch.long)
    whole = xbench.attribute(net, images, target, "random")
    assert torch.equal(xbench.attribute(net, images[5:6], target[5:6], "random")[0], whole[5])
    assert -1 <= whole.min() and whole.max() < 1
    tabular = torch.randn(6, 30)
    assert torch.equal(xbench.attribute(torch.nn.Linear(30, 2), tabular, 0, "random")[2],
                       xbench.attribute(torch.nn.Linear(30, 2), tabular[2:3], 0, "random")[0])
