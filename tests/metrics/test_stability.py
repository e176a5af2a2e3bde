"""Relative input / output / representation stability and the local Lipschitz estimate: hand-computed values on
linear models, the same-prediction rule, per-sample seeding, tabular inputs and the one-line refusals."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.metrics.conftest import Linear
from xbench.errors import ParamError
from xbench.metrics import (
    METRICS,
    local_lipschitz_estimate,
    relative_input_stability,
    relative_output_stability,
    relative_representation_stability,
)
from xbench.metrics.sample_noise import sample_keys, uniform
from xbench.metrics.stability import relative_stability, representation_layer

W = torch.tensor([[1.0, 2.0, -3.0, 4.0], [0.5, -1.0, 2.0, 1.0]])
X = torch.tensor([[0.5, -1.0, 2.0, 1.5], [1.0, 1.0, -0.5, 0.25]], dtype=torch.float64).view(2, 1, 2, 2)
T = torch.tensor([0, 1])


def shift(r: float):
    """A perturbation adding r to every element (the same for every draw)."""
    return lambda x, radius: x + r


def test_input_x_gradient_on_a_linear_model_has_ris_one_and_saliency_zero():
    model = Linear(W)
    kw = {"n_samples": 3, "same_prediction": False}
    # A = W_t * x, so (A(x) - A(x')) / A(x) = (x - x') / x elementwise: the two norms are equal
    ris = relative_input_stability(model, X, T, method="input_x_gradient", **kw)
    assert ris.tolist() == pytest.approx([1.0, 1.0], rel=1e-12)
    assert relative_input_stability(model, X, T, method="saliency", **kw).tolist() == [0.0, 0.0]
    assert local_lipschitz_estimate(model, X, T, method="saliency", n_samples=3).tolist() == [0.0, 0.0]


def test_ros_and_lipschitz_hand_computed_with_a_fixed_shift():
    model, r = Linear(W), 0.1
    kw = {"method": "input_x_gradient", "n_samples": 2, "perturb_func": shift(r)}
    x = X.flatten(1)
    # ROS: ||r / x|| over ||h(x) - h(x + r)|| = r ||(sum W_0, sum W_1)||
    want = [r * (1 / x[i]).norm().item() / (r * W.sum(1).double().norm().item()) for i in range(2)]
    assert relative_output_stability(model, X, T, same_prediction=False, **kw).tolist() == pytest.approx(want)
    # Lipschitz: ||W_t r|| / ||r 1|| = ||W_t|| / sqrt(D)
    want = [W[t].double().norm().item() / 2 for t in T.tolist()]
    assert local_lipschitz_estimate(model, X, T, **kw).tolist() == pytest.approx(want)


def test_rrs_reads_the_input_of_the_last_linear_by_default():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double().eval()
    assert representation_layer(net, None) == ("2", "input")
    assert representation_layer(net, "1") == ("1", "output")  # the ReLU's output is the same tensor
    x = torch.rand(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) + 0.5
    t = torch.tensor([0, 1, 0])
    kw = {"method": "input_x_gradient", "n_samples": 2, "perturb_func": shift(0.05), "same_prediction": False}
    default = relative_representation_stability(net, x, t, **kw)
    assert torch.equal(default, relative_representation_stability(net, x, t, layer="1", **kw))
    # by hand: L = ReLU(W1 x + b1)
    from xbench.methods import attribute

    xp = x + 0.05
    a, ap = attribute(net, x, t, "input_x_gradient"), attribute(net, xp, t, "input_x_gradient")
    num = ((a - ap) / torch.where(a == 0, torch.full_like(a, 1e-6), a)).norm(dim=1)
    with torch.no_grad():
        lx, lxp = net[1](net[0](x)), net[1](net[0](xp))
    den = ((lx - lxp) / torch.where(lx == 0, torch.full_like(lx, 1e-6), lx)).norm(dim=1).clamp_min(1e-6)
    assert default.tolist() == pytest.approx((num / den).tolist(), rel=1e-9)


def test_rrs_refusals_are_one_line():
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    with pytest.raises(ParamError, match="no nn.Linear"):
        representation_layer(conv, None)
    with pytest.raises(ParamError, match="not a module of the model; allowed") as err:
        representation_layer(nn.Sequential(nn.Linear(4, 2)), "classifier")
    assert "\n" not in str(err.value)
    scripted = torch.jit.script(nn.Sequential(nn.Linear(4, 2)))
    with pytest.raises(ParamError, match="TorchScript"):
        representation_layer(scripted, None)
    fits = METRICS.get("relative_representation_stability").meta["fits"]
    assert fits(conv, {}, {}) and fits(nn.Sequential(nn.Linear(4, 2)), {}, {}) is None


def test_same_prediction_leaves_out_draws_that_change_the_argmax():
    model = Linear(torch.tensor([[1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]]))
    x = torch.tensor([[0.1, -0.05, 0.02, 0.0], [2.0, 1.0, 1.0, 1.0]], dtype=torch.float64).view(2, 1, 2, 2) + 0.01
    t, s, radius, seed = torch.tensor([0, 0]), 8, 0.3, 4
    kw = {"attr_fn": lambda a, b: a * 1.0 + 1.0, "radius": radius, "n_samples": s, "noise": "uniform",
          "eps_min": 1e-6, "seed": seed, "max_batch": 5}
    every = relative_stability(model, x, t, None, "input", same_prediction=False, **kw)
    kept = relative_stability(model, x, t, None, "input", same_prediction=True, **kw)
    # the draws xbench made, rebuilt from the per-sample seeding, and which of them flip the prediction
    keys = sample_keys(x, seed).repeat_interleave(s)
    xp = x.repeat_interleave(s, 0) + ((2 * uniform(keys, torch.arange(2 * s) % s, 4) - 1) * radius).view(-1, 1, 2, 2)
    flips = (model(xp).argmax(1) != model(x).argmax(1).repeat_interleave(s)).view(2, s)
    assert flips[0].any() and not flips[0].all() and not flips[1].any()  # the case is informative
    assert torch.equal(kept.isnan(), flips)
    assert torch.equal(kept[~flips], every[~flips])
    ris = relative_input_stability(model, x, t, attributor=kw["attr_fn"], n_samples=s, radius=radius, seed=seed)
    assert ris.tolist() == [every[0][~flips[0]].max().item(), every[1].max().item()]


@pytest.mark.parametrize("fn", [relative_input_stability, relative_output_stability,
                                relative_representation_stability, local_lipschitz_estimate])
def test_per_sample_seeding_chunks_and_tabular(fn, cnn, batch):
    x, t = batch
    kw = {"method": "saliency", "n_samples": 3, "seed": 2}
    full = fn(cnn, x, t, **kw, max_batch=64)
    # float32 convolutions round differently per batch size; ROS divides by a difference of nearby float32 logits
    # (noise 0.05 moves them ~1e-2 of their size), which turns 1e-7 rounding into ~1e-5: rtol 1e-4
    assert torch.allclose(full, fn(cnn, x, t, **kw, max_batch=2), rtol=1e-4, equal_nan=True)  # chunking
    alone = torch.cat([fn(cnn, x[i:i + 1], t[i:i + 1], **kw) for i in (4, 1)])
    assert torch.allclose(alone, full[[4, 1]], rtol=1e-4, equal_nan=True)  # batch composition
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 2)).eval()
    xt = torch.randn(5, 30, generator=torch.Generator().manual_seed(3))
    out = fn(mlp, xt, torch.zeros(5, dtype=torch.long), method="saliency", n_samples=3, same_prediction=False)
    assert out.shape == (5,) and torch.isfinite(out).all() and (out >= 0).all()


def test_declarations():
    for name in ("relative_input_stability", "relative_output_stability", "relative_representation_stability",
                 "local_lipschitz_estimate"):
        meta = METRICS.get(name).meta
        assert meta["direction"] == "lower" and meta["consumes"] == ("attributions", "method")
