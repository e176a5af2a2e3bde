"""Sparseness (Gini), complexity (entropy) and effective complexity: hand-computed values, tabular maps, edge cases."""

from __future__ import annotations

import math

import pytest
import torch

from xbench.metrics import METRICS, complexity, effective_complexity, sparseness


def _maps(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64).view(len(rows), 1, 2, 2)


def test_sparseness_hand_computed():
    a = _maps([0, 0, 0, 1], [1, 1, 1, 1], [0, 1, 2, 3], [-3, 0, 2, -1])
    # sorted ascending a_(i), G = sum (2i - D - 1) a_(i) / (D sum a): one-hot 3/4, uniform 0
    # [0, 1, 2, 3]: (-3*0 - 1*1 + 1*2 + 3*3) / (4 * 6) = 10/24; the signs do not matter (|A|)
    assert sparseness(None, None, None, a).tolist() == pytest.approx([0.75, 0.0, 10 / 24, 10 / 24])


def test_complexity_hand_computed():
    a = _maps([0, 0, 0, 5], [1, 1, 1, 1], [2, -2, 0, 0], [1, 1, 2, 0])
    want = [0.0, math.log(4), math.log(2), -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5))]
    assert complexity(None, None, None, a).tolist() == pytest.approx(want, abs=1e-12)


def test_effective_complexity_counts_strictly_above_eps():
    a = _maps([1, 0.5, 1e-6, 0], [4, -2, 1, 0])
    assert effective_complexity(None, None, None, a).tolist() == [2, 3]  # |A| / max > 1e-5
    assert effective_complexity(None, None, None, a, eps=0.5).tolist() == [1, 1]  # 0.5 / 1 is not above 0.5
    assert effective_complexity(None, None, None, a, eps=0.5, normalise="none").tolist() == [1, 3]


def test_all_zero_maps_are_nan_or_zero():
    z = torch.zeros(2, 1, 2, 2)
    assert torch.isnan(sparseness(None, None, None, z)).all()
    assert torch.isnan(complexity(None, None, None, z)).all()
    assert effective_complexity(None, None, None, z).tolist() == [0, 0]


def test_tabular_maps_and_batch_independence():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(6, 30, generator=gen)  # tabular [N, F]
    for fn in (sparseness, complexity, effective_complexity):
        full = fn(None, None, None, a)
        alone = torch.cat([fn(None, None, None, a[i:i + 1]) for i in range(6)])
        assert full.shape == (6,) and torch.equal(full, alone), fn.__name__


def test_declarations():
    for name, direction in (("sparseness", "higher"), ("complexity", "lower"), ("effective_complexity", "lower")):
        meta = METRICS.get(name).meta
        assert meta["direction"] == direction and meta["consumes"] == ("attributions",)
        assert set(meta["inputs"]) >= {"image", "tabular"} or meta["inputs"] == "any"
