"""Split IG's family pass: equal to the scan-based split, one pass shared through the cache, step schedules."""

from __future__ import annotations

import copy
import gc

import pytest
import torch

import xbench
from xbench.methods import release_caches
from xbench.methods.path import path_schedule, warp
from xbench.methods.quadrature import quadrature
from xbench.methods.split_family import CACHE


@pytest.fixture
def saturating():
    """A tiny CNN whose target logit saturates early along the path from zero (a steep tanh on top)."""
    torch.manual_seed(0)
    # bias-free body: z(a x) = a z(x), so F(a x) = 4 tanh(30 a z(x)) reaches its plateau early on the path
    body = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1, bias=False), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 8 * 8, 3, bias=False))

    class Sat(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, x):
            return 4 * torch.tanh(30 * self.body(x))

    return Sat().eval(), torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("ratio", [0.3, 0.9, 0.95, 1.0])
def test_family_pass_equals_the_scan_based_split(saturating, ratio):
    model, x = saturating
    t = model(x).argmax(1)
    CACHE.clear()
    for part in ("left", "right", "full"):
        a, ia = xbench.attribute(model, x, t, "split_ig", ratio=ratio, n_steps=24, part=part, return_info=True,
                                 max_batch=7)  # chunks cut across images: the online split must carry state
        b, ib = xbench.attribute(model, x, t, "split_ig", ratio=ratio, n_steps=24, part=part, return_info=True,
                                 share_pass=False)
        assert torch.equal(ia["alpha_star"], ib["alpha_star"])
        # the same gradients summed in another grouping: float32 rounding only
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())


def test_one_gradient_pass_serves_every_part_and_paper_ratio(saturating):
    model, x = saturating
    t = model(x).argmax(1)
    CACHE.clear()
    calls = []
    handle = model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    for ratio in (0.9, 0.95):
        for part in ("left", "right", "full"):
            xbench.attribute(model, x, t, "split_ig", ratio=ratio, n_steps=16, part=part)
    handle.remove()
    # one forward for F(x), F(x') and one gradient pass over 5 x 16 path points, nothing more
    assert sum(calls) == 2 * 5 + 5 * 16 and CACHE.hits == 5
    xbench.attribute(model, x + 1e-3, t, "split_ig", n_steps=16)  # other inputs: a miss, not a near match
    assert CACHE.misses == 2


def test_cached_families_leave_with_their_model(saturating):
    """A network the run is done with takes its cached sums with it (the next network's work starts empty)."""
    net, x = saturating  # pytest keeps the fixture's model alive: work on copies
    model, other = copy.deepcopy(net), copy.deepcopy(net)
    t = model(x).argmax(1)
    CACHE.clear()
    xbench.attribute(model, x, t, "split_ig", n_steps=8)
    assert len(CACHE.entries) == 1 and CACHE.nbytes() > 0
    del model
    gc.collect()
    xbench.attribute(other, x, t, "split_ig", n_steps=8)  # storing the next entry drops the dead model's
    assert len(CACHE.entries) == 1 and next(iter(CACHE.entries.values()))[0]() is other
    release_caches()
    assert not CACHE.entries and CACHE.nbytes() == 0


def test_schedules_are_quadratures_on_0_1():
    for schedule in ("uniform", "quadratic", "cubic"):
        a, w = path_schedule(schedule, 10)
        assert a[-1] == 1 and bool((a[1:] > a[:-1]).all()) and w.sum().item() == pytest.approx(1.0)
    a, w = warp(*quadrature("gausslegendre", 8, dtype=torch.float64), "quadratic")
    assert (w * a).sum().item() == pytest.approx(0.5)  # integral of a da on [0, 1], exact under the warp
    with pytest.raises(xbench.errors.ParamError, match="allowed: uniform, quadratic, cubic"):
        path_schedule("log", 4)


def test_dense_start_schedule_closes_the_completeness_gap_on_a_saturating_model(saturating):
    model, x = saturating
    t = model(x).argmax(1)

    def gap(schedule):
        _, info = xbench.attribute(model, x, t, "integrated_gradients", n_steps=8, method="riemann_right",
                                   schedule=schedule, return_info=True)
        return info["delta"].abs().mean().item()

    assert gap("quadratic") < gap("uniform")
