"""Hand-computed values on tiny linear and ReLU models (float64: exact up to ~1e-12), with edge cases."""

from __future__ import annotations

import math

import pytest
import torch

from tests.metrics.conftest import ClampSum, Linear
from xbench.methods import attribute
from xbench.metrics import (
    abpc,
    avg_sensitivity,
    deletion,
    ig_distance,
    infidelity,
    insertion,
    keep_remove,
    localisation,
    max_sensitivity,
    sensitivity_axiom,
    sensitivity_n,
)
from xbench.substrates import gaussian_blur

W4 = torch.tensor([[4.0, 3.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0]])  # class 0 on a 1 x 2 x 2 image
ONES = torch.ones(1, 1, 2, 2, dtype=torch.float64)
T0 = torch.tensor([0])


# --- deletion / insertion ------------------------------------------------------------------------

def test_deletion_insertion_linear_logit():
    model = Linear(W4)
    a = ONES * torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=torch.float64).view(1, 1, 2, 2)
    auc, x, curve = deletion(model, ONES, T0, a, steps=4, output="logit", return_curves=True)
    assert curve.tolist() == [[10, 6, 3, 1, 0]] and x.tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert auc.item() == pytest.approx((20 - 10 / 2 - 0) / 4)  # RISE: (sum - first/2 - last/2) / (n - 1)
    _, _, ins = insertion(model, ONES, T0, a, steps=4, substrate="zero", output="logit", return_curves=True)
    assert ins.tolist() == [[0, 4, 7, 9, 10]]


def test_deletion_ties_follow_pixel_index_and_zero_attributions():
    model = Linear(torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]]))
    _, _, curve = deletion(model, ONES, T0, torch.zeros_like(ONES), steps=4, output="logit", return_curves=True)
    assert curve.tolist() == [[10, 9, 7, 4, 0]]  # all tied: removed in index order
    # 3 steps of ceil(4 / 3) = 2 pixels: all 4 are removed after 2 steps, where the curve stops (as RISE)
    auc, x, curve = deletion(model, ONES, T0, torch.zeros_like(ONES), steps=3, output="logit", return_curves=True)
    assert curve.tolist() == [[10, 7, 0]] and x.tolist() == [0, 0.5, 1]
    assert auc.item() == pytest.approx(0.5 * (10 + 7) / 2 + 0.5 * 7 / 2)


def test_deletion_fractions_strictly_increasing_and_auc_over_them():
    # 5 x 5 = 25 pixels in 4 steps of ceil(25 / 4) = 7: counts 0, 7, 14, 21, 25 (the last step is shorter)
    gen = torch.Generator().manual_seed(0)
    w = torch.rand(2, 25, generator=gen, dtype=torch.float64)
    model = Linear(w)
    x = torch.ones(1, 1, 5, 5, dtype=torch.float64)
    a = torch.rand(1, 1, 5, 5, generator=gen, dtype=torch.float64)
    auc, fr, curve = deletion(model, x, T0, a, steps=4, output="logit", return_curves=True)
    assert fr.tolist() == [0, 7 / 25, 14 / 25, 21 / 25, 1] and (fr.diff() > 0).all()
    order = a.flatten().argsort(descending=True, stable=True)
    cum = torch.cat([torch.zeros(1, dtype=torch.float64), w[0][order].cumsum(0)])
    expected = w[0].sum() - cum[[0, 7, 14, 21, 25]]
    torch.testing.assert_close(curve[0], expected)
    # trapezoid over the actual fractions, not equally spaced points
    torch.testing.assert_close(auc[0], torch.trapezoid(expected, fr))
    for steps in (3, 7, 24, 25):  # never a repeated "all removed" point
        _, fr, _ = deletion(model, x, T0, a, steps=steps, return_curves=True)
        assert (fr.diff() > 0).all() and fr[-1] == 1 and fr[0] == 0


# --- keep / remove (paper A) ----------------------------------------------------------------------

def test_keep_remove_linear_against_hand_masks():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(2, 16, generator=gen, dtype=torch.float64)
    model = Linear(w)
    x = torch.randn(1, 1, 4, 4, generator=gen, dtype=torch.float64)
    a = torch.zeros(16, dtype=torch.float64)
    a[[5, 2, 9]] = torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)  # three positive pixels, in this order
    a[[0, 7]] = torch.tensor([-1.0, -2.0], dtype=torch.float64)  # two negative pixels
    a = a.view(1, 1, 4, 4)
    blurred = gaussian_blur(x, 3, 1.0).flatten(1)[0]
    fractions = [1 / 16, 2 / 16, 4 / 16, 1.0]  # floor(f * 16) = 1, 2, 4, 16 pixels (capped at the positives)

    def logit(kept: list[int], cls: int = 0) -> float:
        inp = blurred.clone()
        inp[kept] = x.flatten(1)[0][kept]
        return float(w[cls] @ inp)

    aucs, fr, curves = keep_remove(model, x, T0, a, fractions=fractions, blur_kernel=3, blur_sigma=1.0,
                                   return_curves=True)
    expect = {
        "KPM": [logit([5]), logit([5, 2]), logit([5, 2, 9]), logit([5, 2, 9])],
        "RPM": [logit([9]), logit([9, 2]), logit([9, 2, 5]), logit([9, 2, 5])],  # least positive stay first
        "KNM": [logit([7]), logit([7, 0]), logit([7, 0]), logit([7, 0])],
        "RNM": [logit([0]), logit([0, 7]), logit([0, 7]), logit([0, 7])],
    }
    for name, vals in expect.items():
        assert curves[name][0].tolist() == pytest.approx(vals, abs=1e-12), name
        assert aucs[name].item() == pytest.approx(float(torch.trapezoid(torch.tensor(vals), fr.double())))
    # absolute: top-1 correctness against the label
    correct = [float(logit(k, 0) > logit(k, 1)) for k in ([5], [5, 2], [5, 2, 9, 7], [5, 2, 9, 7, 0])]
    assert curves["KAM"][0].tolist() == correct
    wrong_label = keep_remove(model, x, T0, a, fractions=fractions, blur_kernel=3, blur_sigma=1.0,
                              labels=torch.tensor([1]), return_curves=True)[2]["KAM"]
    assert wrong_label[0].tolist() == [1 - c for c in correct]


def test_keep_remove_all_zero_attributions_keep_nothing():
    gen = torch.Generator().manual_seed(1)
    model = Linear(torch.randn(2, 16, generator=gen, dtype=torch.float64))
    x = torch.randn(1, 1, 4, 4, generator=gen, dtype=torch.float64)
    _, _, curves = keep_remove(model, x, T0, torch.zeros_like(x), blur_kernel=3, blur_sigma=1.0, return_curves=True)
    flat = model(gaussian_blur(x, 3, 1.0))[0, 0].item()  # no positive pixel: the whole image stays blurred
    for name in ("KPM", "RPM", "KNM", "RNM"):
        assert torch.allclose(curves[name], torch.full_like(curves[name], flat))


# --- ABPC (paper B) --------------------------------------------------------------------------------

def test_abpc_linear():
    w = torch.arange(10, 0, -1, dtype=torch.float64)  # 10, 9, ..., 1 on a 2 x 5 image
    model = Linear(torch.stack([w, torch.zeros(10, dtype=torch.float64)]))
    x = torch.ones(1, 1, 2, 5, dtype=torch.float64)
    # removing the top k loses 10k - k(k-1)/2, the lowest k loses k(k+1)/2: difference k(10 - k) of F = 55
    score = abpc(model, x, T0, x * w.view(1, 1, 2, 5))
    assert score.item() == pytest.approx(sum(k * (10 - k) for k in range(1, 10)) / 55 / 10)  # = 0.3
    reversed_score = abpc(model, x, T0, -x * w.view(1, 1, 2, 5))
    assert reversed_score.item() == 0.0  # worse than useless is clipped to 0, not negative


def test_abpc_removes_round_t_hw_pixels_as_the_split_ig_notebook():
    """k = round(t HW), not floor: on a 3 x 3 image t = 0.3 is 2.7 pixels -> 3 (floor would remove 2)."""
    w = 2.0 ** torch.arange(9, dtype=torch.float64)  # each pixel's share is distinct: the curve tells k
    model = Linear(torch.stack([w, torch.zeros(9, dtype=torch.float64)]))
    x = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    _, fractions, curves = abpc(model, x, T0, x * w.view(1, 1, 3, 3), fractions=[0.3, 0.25, 0.5], clip=False,
                                return_curves=True)
    total = float(w.sum())
    for j, k in enumerate((3, 2, 4)):  # 2.7 -> 3, 2.25 -> 2, 4.5 -> 4 (half to even, as Python's round)
        top = float(w.flip(0)[:k].sum())  # the k largest weights
        low = float(w[:k].sum())
        assert curves["top_removed"][0, j].item() == pytest.approx((total - top) / total)
        assert curves["lowest_removed"][0, j].item() == pytest.approx((total - low) / total)


def test_abpc_delta_f_zero_is_nan_and_single_sample():
    model = Linear(torch.stack([torch.ones(10), torch.zeros(10)]).double())
    x = torch.zeros(1, 1, 2, 5, dtype=torch.float64)  # F(x) = F(x') = 0
    assert math.isnan(abpc(model, x, T0, torch.ones_like(x)).item())


# --- Sensitivity(a) --------------------------------------------------------------------------------

def test_sensitivity_axiom_clamp_model():
    model = ClampSum()
    x = torch.full((2, 1, 4, 4), 2.0, dtype=torch.float64)
    x[1, :, :2] = 0.0  # image 1 equals the baseline on its top half: those patches are no cases
    t = torch.tensor([0, 0])
    kw = dict(patch_size=1, n_patches=None, max_batch=5)
    # saturated (x = 2 > 1): the gradient on the patch is 0, so saliency and x * grad violate the axiom
    assert sensitivity_axiom(model, x, t, method="saliency", **kw).tolist() == [0.0, 0.0]
    assert sensitivity_axiom(model, x, t, method="input_x_gradient", **kw).tolist() == [0.0, 0.0]
    ig = sensitivity_axiom(model, x, t, method="integrated_gradients", method_params={"n_steps": 16}, **kw)
    assert ig.tolist() == [1.0, 1.0]
    assert math.isnan(sensitivity_axiom(model, torch.zeros(1, 1, 4, 4, dtype=torch.float64), t[:1],
                                        **kw).item())  # no patch changes the output


# --- Sensitivity-n ----------------------------------------------------------------------------------

def test_sensitivity_n_linear_is_one_for_ig_and_nan_for_zero():
    gen = torch.Generator().manual_seed(0)
    model = Linear(torch.randn(2, 16, generator=gen, dtype=torch.float64))
    x = torch.randn(3, 1, 4, 4, generator=gen, dtype=torch.float64)
    t = torch.tensor([0, 1, 0])
    a = attribute(model, x, t, "input_x_gradient")  # = IG on a bias-free linear model: sum_S A = drop exactly
    corr = sensitivity_n(model, x, t, a, ns=[1, 3, 8], n_subsets=20, max_batch=7)
    assert corr.shape == (3, 3) and torch.allclose(corr, torch.ones_like(corr))
    assert torch.isnan(sensitivity_n(model, x, t, torch.zeros_like(x), ns=[2], n_subsets=5)).all()
    assert torch.isnan(sensitivity_n(model, x, t, a, ns=[16], n_subsets=5)).all()  # every subset is everything


# --- IG distance -------------------------------------------------------------------------------------

def test_ig_distance_linear():
    model = Linear(W4)
    x = 2 * ONES
    grad = attribute(model, x, T0, "saliency")  # w
    assert ig_distance(model, x, T0, grad, n_steps=8).item() == pytest.approx(0.5)  # |w - 2w| / |2w|
    ixg = attribute(model, x, T0, "input_x_gradient")
    assert ig_distance(model, x, T0, ixg, n_steps=8).item() == pytest.approx(0.0, abs=1e-12)


# --- max / avg sensitivity ----------------------------------------------------------------------------

def test_sensitivity_linear_input_x_gradient():
    model = Linear(W4)
    x = torch.cat([ONES, torch.zeros_like(ONES)])  # the second image has A(x) = 0
    t = torch.tensor([0, 0])
    scales = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)

    # chunks of 3 items = one image's samples; sample j of every image: e_j = radius * scale_j * (1, -1, 1, -1)
    def perturb(inputs, radius):
        sign = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=inputs.dtype).view(1, 1, 2, 2)
        return inputs + radius * scales.repeat(len(inputs) // 3).view(-1, 1, 1, 1) * sign

    # A = w * x, so A(x + e) - A(x) = w * e; ||w * e|| = radius * |s| * ||w|| = 0.1 |s| sqrt(30)
    diff = 0.1 * scales.abs() * math.sqrt(30.0)
    kw = dict(method="input_x_gradient", radius=0.1, n_samples=3, perturb_func=perturb, max_batch=3)
    ms = max_sensitivity(model, x, t, **kw)
    assert ms[0].item() == pytest.approx(diff.max().item() / math.sqrt(30.0))  # ||A(x)|| = ||w|| at x = 1
    assert ms[1].item() == pytest.approx(diff.max().item())  # ||A(x)|| = 0 is replaced by 1, as in Captum
    assert avg_sensitivity(model, x, t, **kw)[0].item() == pytest.approx(diff.mean().item() / math.sqrt(30.0))
    assert max_sensitivity(model, x, t, method="saliency", n_samples=3).tolist() == [0.0, 0.0]  # constant gradient


# --- infidelity ---------------------------------------------------------------------------------------

def test_infidelity_linear():
    model = Linear(W4)
    x = torch.cat([ONES, 3 * ONES])
    t = torch.tensor([0, 0])
    grad = attribute(model, x, t, "saliency")  # = w: I^T A = w.I = F(x) - F(x - I) exactly
    assert infidelity(model, x, t, grad, n_samples=4).abs().max().item() < 1e-20
    pert = torch.tensor([0.5, -1.0, 0.0, 2.0], dtype=torch.float64).view(1, 1, 2, 2)

    def fixed(inputs):
        i = pert.expand_as(inputs)
        return i, inputs - i

    # A = 2w: (2 w.I - w.I)^2 = (w.I)^2 = (2 - 3 + 0 + 2)^2 = 1 without, 0 with the optimal scaling
    a2 = 2 * grad
    assert infidelity(model, x, t, a2, n_samples=3, normalize=False, perturb_func=fixed).tolist() == [1.0, 1.0]
    assert infidelity(model, x, t, a2, n_samples=3, normalize=True, perturb_func=fixed).abs().max() < 1e-20
    zero = infidelity(model, x, t, torch.zeros_like(x), n_samples=3, normalize=True, perturb_func=fixed)
    assert zero.tolist() == [1.0, 1.0]  # beta = 0/0 -> safe_div gives 0: the error is the whole drop


# --- localisation -------------------------------------------------------------------------------------

def test_localisation_mass_and_pointing():
    a = torch.tensor([[[[3.0, -1.0], [1.0, 0.0]]], [[[1.0, 1.0], [1.0, 1.0]]], [[[0.0, 0.0], [0.0, -2.0]]]])
    masks = torch.tensor([[[True, False], [False, False]]] * 3)
    out = localisation(None, torch.zeros_like(a), torch.zeros(3, dtype=torch.long), a, masks=masks)
    assert out["mass_in_mask"][:2].tolist() == [0.75, 0.25] and math.isnan(out["mass_in_mask"][2].item())
    assert out["pointing_game"].tolist() == [1.0, 0.0, 0.0]  # a constant map ties inside and outside: a miss
    with pytest.raises(Exception, match="masks"):
        localisation(None, a, torch.zeros(3, dtype=torch.long), a)
