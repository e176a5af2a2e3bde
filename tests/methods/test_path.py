"""Integrated Gradients, X-Gradient, Split IG and Expected Gradients against Captum and the axioms."""

from __future__ import annotations

import pytest
import torch
from captum.attr import IntegratedGradients

import xbench
from xbench.errors import NotHomogeneousError, ParamError
from xbench.methods.base import target_outputs
from xbench.methods.quadrature import RULES

# float32 sums of a few dozen weighted gradients of size ~1: rounding differences between two
# summation orders stay around 1e-7 per element; 1e-5 absolute leaves two orders of headroom.
ATOL = 1e-5


def ig_captum(model, x, t, n_steps, method, baseline=None):
    return IntegratedGradients(model).attribute(x, baselines=baseline, target=t, n_steps=n_steps, method=method)


@pytest.mark.parametrize("rule", RULES)
def test_ig_equals_captum_for_every_rule(cnn, batch, rule):
    x, t = batch
    base = torch.randn_like(x) * 0.1
    ours = xbench.attribute(cnn, x, t, "integrated_gradients", n_steps=16, method=rule, baseline=base)
    ref = ig_captum(cnn, x, t, 16, rule, base)
    if rule == "riemann_trapezoid":
        # Captum weighs the trapezoid (1/n)[.5, 1, ..., 1, .5], summing to (n-1)/n; ours is the proper
        # 1/(n-1)[.5, 1, ..., 1, .5] (weights sum to 1, so completeness holds): a factor n/(n-1).
        ref = ref * 16 / 15
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=1e-4)


def test_x_gradient_equals_captum_ig_on_x_model(xcnn, batch):
    x, t = batch
    ours = xbench.attribute(xcnn, x, t, "x_gradient")
    ref = ig_captum(xcnn, x, t, 128, "gausslegendre")
    # On a homogeneous ReLU net grad F(a x) = grad F(x) for every a > 0: the integrand is constant,
    # so any quadrature is exact and only float32 rounding over 128 terms remains.
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=1e-4)


def test_x_gradient_differs_from_ig_on_biased_model(cnn, batch):
    x, t = batch
    ixg = xbench.attribute(cnn, x, t, "x_gradient", check=False)
    ref = ig_captum(cnn, x, t, 128, "gausslegendre")
    distance = (ref - ixg).abs().mean() / ref.abs().mean()  # paper A's IG-vs-X-Gradient distance
    assert distance > 0.05  # measured ~0.3-0.5 here; 0 on X-nets


def test_x_gradient_refuses_biased_model_naming_the_layer(cnn, batch):
    x, t = batch
    with pytest.raises(NotHomogeneousError) as err:
        xbench.attribute(cnn, x, t, "x_gradient")
    msg = str(err.value)
    assert "layer '0'" in msg and "bias" in msg and "\n" not in msg


def test_x_gradient_completeness_on_x_model(xcnn, batch):
    x, t = batch
    attr = xbench.attribute(xcnn, x, t, "x_gradient")
    out = target_outputs(xcnn, x, t)  # F(0) = 0 on an X-model, so sum(A) = F(x) by Euler's theorem
    torch.testing.assert_close(attr.flatten(1).sum(1), out, atol=1e-5, rtol=1e-4)


def test_ig_completeness(cnn, batch):
    x, t = batch
    attr, info = xbench.attribute(cnn, x, t, "integrated_gradients", n_steps=64, return_info=True)
    change = target_outputs(cnn, x, t) - target_outputs(cnn, torch.zeros_like(x), t)
    torch.testing.assert_close(info["delta"], attr.flatten(1).sum(1) - change)
    # The integrand has kinks (ReLU switches along the path), which limit Gauss-Legendre to about
    # 1e-3 of the attribution's L1 mass here (measured 0.15% at 64 nodes); 1% is the bound we hold.
    assert (info["delta"].abs() <= 1e-2 * attr.flatten(1).abs().sum(1)).all()


def test_split_ig_parts_add_up_to_ig_with_the_same_points(cnn, batch):
    x, t = batch
    ig = xbench.attribute(cnn, x, t, "integrated_gradients", n_steps=200, method="riemann_right")
    left, info = xbench.attribute(cnn, x, t, "split_ig", n_steps=200, part="left", return_info=True)
    right = xbench.attribute(cnn, x, t, "split_ig", n_steps=200, part="right")
    full = xbench.attribute(cnn, x, t, "split_ig", n_steps=200, part="full")
    torch.testing.assert_close(left + right, ig, atol=ATOL, rtol=1e-4)
    torch.testing.assert_close(full, ig, atol=ATOL, rtol=1e-4)
    torch.testing.assert_close(info["left_sum"], left.flatten(1).sum(1))
    torch.testing.assert_close(info["right_sum"], right.flatten(1).sum(1))


@pytest.mark.parametrize("ratio", [0.5, 0.9])
def test_split_ig_left_sum_is_ratio_of_change(cnn, batch, ratio):
    x, t = batch
    m = 200
    _, info = xbench.attribute(cnn, x, t, "split_ig", n_steps=m, ratio=ratio, return_info=True)
    a = info["alpha_star"]
    assert ((a > 0) & (a <= 1)).all()
    # a* = (k* + 1)/m, the alpha of the first step past the threshold (0-based k*; the notebook's k*/m)
    torch.testing.assert_close(a * m, (a * m).round())
    f0 = target_outputs(cnn, torch.zeros_like(x), t)
    change = target_outputs(cnn, x, t) - f0
    # sum(Left) is the right-Riemann IG up to a_{k*-1}, i.e. F(a_{k*-1}) - F(x') plus the Riemann error;
    # by the definition of k*, r*change lies between F(a_{k*-1}) - F(x') and F(a_{k*}) - F(x'). So the gap
    # is at most one path step's logit jump plus the Riemann error, which we bound by the full IG's
    # |delta| plus 1% of |change| (m = 200 right-Riemann steps on a ReLU net: error ~ variation / m).
    steps = torch.stack([a - 1 / m, a], 1)
    d = x - 0
    pts = (steps.reshape(-1, 1, 1, 1) * d.repeat_interleave(2, 0))
    f = target_outputs(cnn, pts, t.repeat_interleave(2)).view(-1, 2)
    jump = (f[:, 1] - f[:, 0]).abs()
    tol = jump + info["delta"].abs() + 0.01 * change.abs()
    assert ((info["left_sum"] - ratio * change).abs() <= tol).all()
    assert ((info["right_sum"] - (1 - ratio) * change).abs() <= tol).all()


def test_split_ig_left_is_ig_up_to_alpha_star(cnn, batch):
    x, t = batch
    m = 100
    left, info = xbench.attribute(cnn, x[:1], t[:1], "split_ig", n_steps=m, return_info=True)
    k = int(round(info["alpha_star"].item() * m)) - 1  # steps strictly before k*
    if k == 0:
        pytest.skip("threshold crossed at the first step: Left is empty")
    end = x[:1] * (k / m)  # x' + a (x - x') with x' = 0
    ig = xbench.attribute(cnn, end, t[:1], "integrated_gradients", n_steps=k, method="riemann_right")
    # same gradient points k/m, same weights 1/m after the (x'' - x') / k rescaling: equal up to rounding
    torch.testing.assert_close(left, ig, atol=ATOL, rtol=1e-4)


def test_expected_gradients_needs_references(cnn, batch):
    x, t = batch
    with pytest.raises(ParamError, match="reference"):
        xbench.attribute(cnn, x, t, "expected_gradients")


def test_expected_gradients_seeded_and_chunk_invariant(cnn, batch, references):
    x, t = batch
    a = xbench.attribute(cnn, x, t, "expected_gradients", k=8, seed=3, references=references)
    b = xbench.attribute(cnn, x, t, "expected_gradients", k=8, seed=3, references=references, max_batch=3)
    c = xbench.attribute(cnn, x, t, "expected_gradients", k=8, seed=4, references=references)
    torch.testing.assert_close(a, b, atol=ATOL, rtol=1e-4)
    assert not torch.allclose(a, c)


def test_expected_gradients_complete_in_expectation(cnn, batch, references):
    x, t = batch
    # E over x' ~ references (uniform) and a ~ U(0, 1) of (x - x') . grad F(x' + a (x - x')) = F(x) - E F(x'),
    # for each target: compare per-sample sums with F(x) - mean_j F_t(x'_j) for that sample's target.
    ref_out = torch.stack([target_outputs(cnn, references, torch.full((len(references),), int(c))) for c in t])
    expected = target_outputs(cnn, x, t) - ref_out.mean(1)
    errs = torch.stack([
        xbench.attribute(cnn, x, t, "expected_gradients", k=128, seed=s, references=references).flatten(1).sum(1)
        - expected for s in range(4)
    ])  # [seeds, N]
    mean, sd = errs.mean(0), errs.std(0)
    # Monte-Carlo test of unbiasedness: the mean error over 4 seeds (4 x 128 draws) must be within
    # 5 standard errors of 0 (a false alarm has probability < 1e-5 per sample under normality)
    assert (mean.abs() <= 5 * sd / 2 + 1e-4).all()


def test_split_ig_ratio_one_puts_everything_left(batch):
    x, t = batch
    # a linear logit rises monotonically to F(x) and crosses tau = F(x) nowhere: no Right part
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3, bias=False)).eval()
    left, info = xbench.attribute(lin, x, t, "split_ig", ratio=1.0, n_steps=20, return_info=True)
    right = xbench.attribute(lin, x, t, "split_ig", ratio=1.0, n_steps=20, part="right")
    assert torch.equal(right, torch.zeros_like(right))  # (was the last step's 1/20 of IG)
    torch.testing.assert_close(info["alpha_star"], torch.ones(5))
    torch.testing.assert_close(left, xbench.attribute(lin, x, t, "integrated_gradients", n_steps=20,
                                                      method="riemann_right"), atol=ATOL, rtol=1e-4)


def test_x_gradient_check_notices_changed_weights(xcnn, batch):
    x, t = batch
    xbench.attribute(xcnn, x, t, "x_gradient")  # homogeneous: checked and cached
    xcnn[6].bias = torch.nn.Parameter(torch.full((3,), 0.5))  # a new parameter: a bias of 0.5
    with pytest.raises(NotHomogeneousError):
        xbench.attribute(xcnn, x, t, "x_gradient")
    # an existing zero bias, changed in place through .data (which bypasses the version counter)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3)).eval()
    torch.nn.init.zeros_(net[1].bias)
    xbench.attribute(net, x, t, "x_gradient")
    net[1].bias.data += 0.5
    with pytest.raises(NotHomogeneousError):
        xbench.attribute(net, x, t, "x_gradient")
