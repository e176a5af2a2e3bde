"""Substrates: one vocabulary of what replaces a pixel, for methods' baselines and metrics' fills."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xbench.errors import ParamError
from xbench.metrics import METRICS
from xbench.substrates import (
    BASELINES,
    MEAN_IS,
    SUBSTRATE_NAMES,
    SUBSTRATES,
    gaussian_blur,
    make_baseline,
    make_substrate,
    rise_blur,
    rise_kernel,
)

INFO = {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "dataset_mean": torch.full((3, 8, 8), 0.1)}


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def test_rise_kernel_is_scipys_gaussian_filter_of_a_delta():
    """RISE builds its kernel with scipy.ndimage.gaussian_filter on an 11 x 11 delta; ours matches it to
    float64 rounding (the sums differ in order only: measured 5e-18)."""
    ndimage = pytest.importorskip("scipy.ndimage")
    for klen, sigma in ((11, 5.0), (7, 1.5), (11, 0.5)):
        delta = np.zeros((klen, klen))
        delta[klen // 2, klen // 2] = 1
        ref = ndimage.gaussian_filter(delta, sigma)
        assert np.abs(rise_kernel(klen, sigma).numpy() - ref).max() < 1e-15, (klen, sigma)


@pytest.mark.parametrize("name", sorted(set(BASELINES) | set(SUBSTRATE_NAMES)))
def test_every_name_is_one_registered_substrate_in_both_places(name, x):
    """A name means the same in a method's baseline and a metric's substrate, except ``mean`` (documented)."""
    canonical = name if name != "mean" else None
    if canonical is not None:
        assert canonical in SUBSTRATES
    if name in BASELINES and name in SUBSTRATE_NAMES and name != "mean":
        a = make_baseline(x, name, data_info=INFO, blur_kernel=5, blur_sigma=1.0)
        b = make_substrate(x, name, blur_kernel=5, blur_sigma=1.0)
        assert torch.equal(a, b) and a.shape == x.shape and a.dtype == x.dtype


def test_mean_means_the_dataset_for_a_baseline_and_the_image_for_a_substrate(x):
    assert MEAN_IS == {"baseline": "dataset_mean", "substrate": "image_mean"}
    assert torch.equal(make_baseline(x, "mean", data_info=INFO), INFO["dataset_mean"].expand_as(x))
    assert torch.equal(make_substrate(x, "mean", blur_kernel=11, blur_sigma=5.0),
                       x.mean(dim=(-2, -1), keepdim=True).expand_as(x))


def test_hand_computed_values(x):
    assert torch.equal(make_baseline(x, "zero"), torch.zeros_like(x))
    assert torch.equal(make_baseline(x, 0.5), torch.full_like(x, 0.5))
    black = make_baseline(x, "black", data_info=INFO)
    assert torch.allclose(black[0, :, 0, 0], torch.tensor([-2.5, -1.6, -1.0]))  # (0 - mean) / std
    assert torch.equal(make_substrate(x, "rise_blur", blur_kernel=11, blur_sigma=5.0), rise_blur(x, 11, 5.0))
    assert torch.equal(make_baseline(x, "blur", blur_kernel=3, blur_sigma=1.0), gaussian_blur(x, 3, 1.0))
    u = make_baseline(x, "uniform", seed=3)
    assert torch.equal(u, make_substrate(x, "uniform", blur_kernel=11, blur_sigma=5.0, seed=3))
    assert x.min() <= u.min() and u.max() <= x.max()


def test_bad_names_are_one_line_naming_the_allowed_ones(x):
    with pytest.raises(ParamError, match=r"baseline: 'nope' is not a baseline; allowed: zero, black"):
        make_baseline(x, "nope")
    with pytest.raises(ParamError, match=r"substrate: 'black' is not a substrate; allowed: zero, rise_blur"):
        make_substrate(x, "black", blur_kernel=11, blur_sigma=5.0)  # needs data the metrics do not get
    with pytest.raises(ParamError, match="needs the dataset's normalisation"):
        make_baseline(x, "black")
    with pytest.raises(ParamError, match="dataset_mean"):
        make_baseline(x, "mean", data_info={"mean": [0.0] * 3, "std": [1.0] * 3})


@pytest.mark.parametrize("metric", ["deletion", "insertion", "abpc"])
def test_metric_schemas_accept_exactly_the_substrate_names(metric):
    assert set(METRICS.get(metric).params["substrate"].choices) == set(SUBSTRATE_NAMES)
