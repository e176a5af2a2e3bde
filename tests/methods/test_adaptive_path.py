"""Guided IG, Integrated Decision Gradients and Blur IG: limiting cases, closed forms and completeness."""

from __future__ import annotations

import torch
from torch import nn

import xbench
from xbench.methods.adaptive_path import GaussianScaleSpace, slope_samples
from xbench.methods.base import target_outputs
from xbench.methods.baselines import gaussian_blur

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
    assert ((alphas >= 0) & (alphas < 1)).all() and (alphas.diff(dim=1) > 0).all()
    # slopes 0, 0, 20, 4 -> min-max shares 0, 0, 1, .2 of 20 samples = 16.7, 3.3 -> 16 + the remainder, 3;
    # the flattest segments get no sample (IDG's design: there dF/da, the weight, is smallest)
    assert ((alphas[0] >= 0.5) & (alphas[0] < 0.75)).sum() == 17 and (alphas[0] >= 0.5).all()
    torch.testing.assert_close(weights[0].sum(), torch.tensor(0.5))  # the two sampled segments' length
    # a straight logit line gives the uniform left rule: 5 samples per segment, weights summing to 1
    torch.testing.assert_close(weights[1], torch.full((20,), 0.05))
    torch.testing.assert_close(alphas[1], torch.arange(20) / 20)


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
                                  return_info=True)
    blurred = GaussianScaleSpace(x).blur(torch.arange(5), torch.full((5,), 8.0))
    change = target_outputs(cnn, x, t) - target_outputs(cnn, blurred, t)
    torch.testing.assert_close(info["delta"], attr.flatten(1).sum(1) - change)
    # a smooth path in sigma, kinks only where ReLUs switch: 1% of the L1 mass (measured ~0.1%)
    assert (info["delta"].abs() <= 1e-2 * attr.flatten(1).abs().sum(1)).all()
    again = xbench.attribute(cnn, x, t, "blur_ig", max_sigma=8.0, n_steps=64, method="gausslegendre", max_batch=7)
    torch.testing.assert_close(attr, again, atol=ATOL, rtol=1e-4)
