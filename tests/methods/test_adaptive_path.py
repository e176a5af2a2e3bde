"""Guided IG, Integrated Decision Gradients and Blur IG: limiting cases, closed forms and completeness."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import xbench
from xbench.methods.adaptive_path import GaussianScaleSpace, slope_samples
from xbench.methods.base import target_outputs
from xbench.methods.path import path_gradients
from xbench.substrates import gaussian_blur

ATOL = 1e-5  # float32 rounding of sums of a few hundred terms of size ~1 (see test_path.py)


def test_guided_ig_without_deviation_is_left_riemann_ig(cnn, batch):
    x, t = batch
    # max_dist = 0 pins every feature to alpha = k/n at step k: the straight line, with the gradient
    # taken at the start of each step, i.e. IG with the left Riemann rule.
    gig = xbench.attribute(cnn, x, t, "guided_ig", n_steps=16, max_dist=0.0)
    ig = xbench.attribute(cnn, x, t, "integrated_gradients", n_steps=16, method="riemann_left")
    torch.testing.assert_close(gig, ig, atol=ATOL, rtol=1e-4)


def test_guided_ig_complete_and_chunk_invariant(cnn, batch):
    x, t = batch
    attr, info = xbench.attribute(cnn, x, t, "guided_ig", n_steps=64, return_info=True)
    again = xbench.attribute(cnn, x, t, "guided_ig", n_steps=64, max_batch=2)
    torch.testing.assert_close(attr, again, atol=ATOL, rtol=1e-4)
    # the path ends at x (the last step has alpha = 1 and L1 target 0), so completeness holds up to
    # the left-Riemann error along the path: measured < 1% of the L1 mass at 64 steps, bound 5%
    assert (info["delta"].abs() <= 0.05 * attr.flatten(1).abs().sum(1)).all()
    assert not torch.allclose(attr, xbench.attribute(cnn, x, t, "integrated_gradients", n_steps=64))


def test_slope_samples_follow_the_logit_curve():
    curve = torch.tensor([[0.0, 0.0, 0.0, 5.0, 6.0], [0.0, 1.0, 2.0, 3.0, 4.0]])  # steep 3rd segment; straight
    alphas, weights = slope_samples(curve, 20)
    assert ((alphas > 0) & (alphas < 1)).all() and (alphas.diff(dim=1) > 0).all()
    # |slopes| 0, 0, 20, 4: one sample per segment, the other 16 by share 0, 0, 13.3, 2.7 -> 0, 0, 13, 3
    # (largest remainder) -> counts 1, 1, 14, 4, each at the midpoints of its segment's sub-intervals
    expected = torch.cat([torch.tensor([0.125, 0.375]), 0.5 + (torch.arange(14) + 0.5) / 56,
                          0.75 + (torch.arange(4) + 0.5) / 16])
    torch.testing.assert_close(alphas[0], expected)
    torch.testing.assert_close(weights[0], torch.cat([torch.full((2,), 0.25), torch.full((14,), 0.25 / 14),
                                                       torch.full((4,), 0.0625)]))
    # a straight logit line gives the uniform midpoint rule: 5 samples per segment
    torch.testing.assert_close(weights[1], torch.full((20,), 0.05))
    torch.testing.assert_close(alphas[1], (torch.arange(20) + 0.5) / 20)


def test_slope_samples_cover_the_whole_path_with_weights_summing_to_one():
    # fewer samples than segments: unsampled segments belong to a neighbouring sample's cell
    curve = torch.tensor([[0.0, 0.0, 0.0, 5.0, 6.0]])
    alphas, weights = slope_samples(curve, 2)  # shares 0, 0, 1.67, .33 -> both samples in segment 3
    torch.testing.assert_close(alphas[0], torch.tensor([0.25, 0.75]))  # its cell is all of [0, 1]
    torch.testing.assert_close(weights[0], torch.tensor([0.5, 0.5]))
    gen = torch.Generator().manual_seed(0)
    curves = torch.randn(50, 17, generator=gen).cumsum(1) * torch.rand(50, 1, generator=gen)
    for n in (3, 16, 40):
        a, w = slope_samples(curves, n)
        torch.testing.assert_close(w.sum(1), torch.ones(50))  # (was 0.47-0.94: flat segments dropped)
        assert (a.diff(dim=1) > 0).all() and (a > 0).all() and (a < 1).all()


def smooth_net() -> nn.Module:
    """conv-tanh-fc-tanh-fc: smooth, with logits that bend along the path (slope varies by up to 10x)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(6 * 64, 3), nn.Tanh(),
                        nn.Linear(3, 3)).eval()
    with torch.no_grad():
        net[3].weight.mul_(4)
    return net


def test_idg_converges_to_the_dense_idg_integral(batch):
    x, t = batch
    net = smooth_net()
    # the IDG integral by a 1000-point midpoint rule with the exact slope dF/da (from the same backward)
    k = 1000
    dense = x * path_gradients(net, x, t, torch.zeros_like(x), (torch.arange(k) + 0.5) / k, torch.full((k,), 1 / k),
                               by_slope=True)[0]
    peak = dense.flatten(1).abs().amax(1)
    for n in (16, 32):
        err = (xbench.attribute(net, x, t, "idg", n_steps=n) - dense).flatten(1).abs().amax(1) / peak
        # measured 0.3% at 16 steps, 0.07% at 32 (before the fix: up to 63%, flat segments were dropped)
        assert (err < 0.01).all(), (n, err)


def test_idg_closed_form_on_a_linear_model(batch):
    x, t = batch
    lin = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3)).eval()
    w = lin[1].weight.detach()[t].view_as(x)
    # F is linear: grad = w everywhere and dF/da = w . (x - x') is constant, so IDG = (x - x') * w * (w . x)
    expected = x * w * (w * x).flatten(1).sum(1).view(-1, 1, 1, 1)
    torch.testing.assert_close(xbench.attribute(lin, x, t, "idg", n_steps=10), expected, atol=ATOL, rtol=1e-4)


def test_idg_chunk_invariant_and_differs_from_ig(cnn, batch):
    x, t = batch
    a = xbench.attribute(cnn, x, t, "idg", n_steps=12)
    torch.testing.assert_close(a, xbench.attribute(cnn, x, t, "idg", n_steps=12, max_batch=5), atol=ATOL, rtol=1e-4)
    assert a.abs().sum() > 0


def test_scale_space_blur_and_derivative():
    img = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    space = GaussianScaleSpace(img)
    idx = torch.arange(2)
    torch.testing.assert_close(space.blur(idx, torch.zeros(2, dtype=torch.float64)), img)  # DCT round trip
    s, h = torch.full((2,), 1.5, dtype=torch.float64), 1e-5
    fd = (space.blur(idx, s + h) - space.blur(idx, s - h)) / (2 * h)
    torch.testing.assert_close(space.dblur(idx, s), fd, atol=1e-6, rtol=1e-5)  # central difference, O(h^2)
    # away from the border (whose reflection convention differs: half-sample here, mirror in
    # gaussian_blur) the spectral blur equals a sampled Gaussian kernel up to the sampling of the
    # kernel (measured 2e-5 at sigma 1.5); large sigma flattens each channel to its mean
    kernel = gaussian_blur(img, 13, 1.5)
    assert (space.blur(idx, s) - kernel)[..., 7:-7, 7:-7].abs().max() < 1e-3
    flat = space.blur(idx, torch.full((2,), 200.0, dtype=torch.float64))
    torch.testing.assert_close(flat, img.mean((2, 3), keepdim=True).expand_as(img))


def test_blur_ig_completeness(cnn, batch):
    x, t = batch
    attr, info = xbench.attribute(cnn, x, t, "blur_ig", max_sigma=8.0, n_steps=64, method="gausslegendre",
                                  border="reflect", return_info=True)
    blurred = GaussianScaleSpace(x).blur(torch.arange(5), torch.full((5,), 8.0))
    change = target_outputs(cnn, x, t) - target_outputs(cnn, blurred, t)
    torch.testing.assert_close(info["delta"], attr.flatten(1).sum(1) - change)
    # a smooth path in sigma, kinks only where ReLUs switch: 1% of the L1 mass (measured ~0.1%)
    assert (info["delta"].abs() <= 1e-2 * attr.flatten(1).abs().sum(1)).all()
    again = xbench.attribute(cnn, x, t, "blur_ig", max_sigma=8.0, n_steps=64, method="gausslegendre",
                             border="reflect", max_batch=7)
    torch.testing.assert_close(attr, again, atol=ATOL, rtol=1e-4)


def test_blur_ig_defaults_to_zero_padding_and_records_it(cnn, batch):
    x, t = batch
    attr, info = xbench.attribute(cnn, x, t, "blur_ig", max_sigma=8.0, n_steps=64, return_info=True)
    assert info["params"]["border"] == "zero"  # recorded in every result row (method_params)
    start = xbench.methods.path_start("blur_ig", {"max_sigma": 8.0}, x)
    change = target_outputs(cnn, x, t) - target_outputs(cnn, start, t)
    torch.testing.assert_close(info["delta"], attr.flatten(1).sum(1) - change)
    # at sigma 50 on 32 px the zero-padded path starts near 0, the reflecting one near each channel's mean
    img = 3.0 + torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    zero = xbench.methods.path_start("blur_ig", {}, img)
    refl = xbench.methods.path_start("blur_ig", {"border": "reflect"}, img)
    assert zero.abs().max() < 0.25 * 3.0 and (refl - img.mean((2, 3), keepdim=True)).abs().max() < 0.05
    assert not torch.allclose(attr, xbench.attribute(cnn, x, t, "blur_ig", max_sigma=8.0, n_steps=64,
                                                     border="reflect"))


def test_guided_ig_tolerance_is_pairs_relative_rule_raised_to_rounding():
    from xbench.methods.adaptive_path import guided_ig_tolerance

    target, now, total = torch.tensor([30000.0]), torch.tensor([30010.0]), torch.tensor([65000.0])
    n = 3 * 224 * 224
    # float64: PAIR's math.isclose(rel_tol=1e-9) on the larger of the two distances, not 1e-5 of the total (0.65)
    tol64 = guided_ig_tolerance(target.double(), now.double(), total.double(), n, torch.float64)
    assert tol64.item() == pytest.approx(1e-9 * 30010.0)
    # float32 sums over n features round at ~eps sqrt(n) of the sum: the rule is raised to that
    tol32 = guided_ig_tolerance(target, now, total, n, torch.float32)
    assert tol32.item() == pytest.approx(torch.finfo(torch.float32).eps * math.sqrt(n) * 30010.0, rel=1e-6)
    # at the last step (target 0) an absolute floor of 1e-9 of the mean |x - x'| per feature
    zero = guided_ig_tolerance(torch.zeros(1).double(), torch.zeros(1).double(), total.double(), n, torch.float64)
    assert zero.item() == pytest.approx(1e-9 * 65000.0 / n)


def test_guided_ig_path_is_float64_for_a_float32_model(cnn, batch):
    x, t = batch
    attr = xbench.attribute(cnn, x, t, "guided_ig", n_steps=8)
    assert attr.dtype == x.dtype == torch.float32
