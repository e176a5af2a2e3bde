"""Refined Left IG: a* from the shared Split IG pass, the second pass on [0, a*], its completeness there
(and the completeness metric judging it at its declared path end), and what it records."""

from __future__ import annotations

import torch

import xbench
from tests.methods.test_split_family import saturating  # noqa: F401  (fixture)
from xbench.methods import path_end, path_start
from xbench.methods.split_family import CACHE
from xbench.metrics.axioms import completeness_gaps


def test_alpha_end_is_the_end_of_split_igs_left_interval(saturating):  # noqa: F811
    model, x = saturating
    t = model(x).argmax(1)
    _, split = xbench.attribute(model, x, t, "split_ig", ratio=0.9, n_steps=40, return_info=True)
    _, info = xbench.attribute(model, x, t, "refined_left_ig", ratio=0.9, n_steps=40, refine_steps=8,
                               return_info=True)
    # k* steps of 1/m on the left: a* = k*/m, one step before split_ig's alpha_star (the first crossing point)
    assert torch.equal(info["left_steps"], split["left_steps"])
    torch.testing.assert_close(info["alpha_end"], split["left_steps"] / 40, rtol=0, atol=1e-7)
    torch.testing.assert_close(info["alpha_end"], split["alpha_star"] - 1 / 40, rtol=0, atol=1e-7)
    assert info["gradient_passes"].tolist() == [48.0] * len(x)


def test_refinement_reuses_the_family_pass_and_adds_refine_steps_gradients(saturating):  # noqa: F811
    model, x = saturating
    t = model(x).argmax(1)
    CACHE.clear()
    xbench.attribute(model, x, t, "split_ig", ratio=0.9, n_steps=16)
    calls: list[int] = []
    handle = model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    xbench.attribute(model, x, t, "refined_left_ig", ratio=0.9, n_steps=16, refine_steps=6)
    handle.remove()
    assert CACHE.hits == 1  # the first pass is split_ig's
    assert sum(calls) == 5 * 6 + 5  # the second pass and one forward for F(end)


def test_refined_left_is_complete_on_its_interval_where_the_subgrid_left_is_not(saturating):  # noqa: F811
    model, x = saturating
    t = model(x).argmax(1)
    a, info = xbench.attribute(model, x, t, "refined_left_ig", ratio=0.9, n_steps=32, refine_steps=64,
                               return_info=True)
    change = info["end_change"].abs()
    ok = change > 1e-3  # samples with a non-empty interval over which the logit moved
    assert ok.sum() >= 3
    rel = (info["delta"].abs() / change)[ok]
    sub = (info["subgrid_delta"].abs() / change)[ok]
    # the steep tanh start is where a right Riemann sum of a few steps errs; 64 Gauss-Legendre points do not
    assert rel.max() < 0.02 and rel.mean() < sub.mean() / 5, (rel, sub)
    # the completeness metric at the declared path end sees the same gap as the method's own delta
    start = path_start("refined_left_ig", {}, x)
    end = path_end("refined_left_ig", x, start, info)
    _, gap = completeness_gaps(model, x, t, a, start, path_end=end)
    torch.testing.assert_close(gap, info["delta"].abs(), rtol=1e-4, atol=1e-5)
    # judged at the input instead, the same attributions look incomplete by the Right part's share
    _, at_input = completeness_gaps(model, x, t, a, start)
    assert (at_input[ok] > 10 * gap[ok]).all()


def test_no_crossing_means_the_whole_path_and_first_point_crossing_an_empty_interval():
    lin = torch.nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]]))
    x = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.5, 0.0, 0.0, 0.0]])
    # target 0: linear F(a x) = a F(x) crosses r = 0.95 only at the last point -> k* = m - 1, a* = (m - 1)/m;
    # target 1: F = 0 everywhere, no crossing -> a* = 1, and IG there is 0
    a, info = xbench.attribute(lin, x, torch.tensor([0, 1]), "refined_left_ig", ratio=0.95, n_steps=10,
                               refine_steps=3, return_info=True)
    torch.testing.assert_close(info["alpha_end"], torch.tensor([0.9, 1.0]))
    # on a linear model IG on [0, a*] is a* W x exactly
    torch.testing.assert_close(a[0], 0.9 * lin.weight[0] * x[0])
    assert torch.equal(a[1], torch.zeros(4))
    b, info = xbench.attribute(lin, x[:1], torch.tensor([0]), "refined_left_ig", ratio=0.05, n_steps=10,
                               refine_steps=3, return_info=True)
    assert info["alpha_end"].tolist() == [0.0] and torch.equal(b, torch.zeros_like(b))


def test_max_sensitivity_recomputations_share_one_family_pass_across_parts(saturating):  # noqa: F811
    """Each noisy copy's Split IG family is computed once: the other parts and ratios (and Refined Left's first
    pass) of the same recomputation are cache hits, as the paper suite's max-sensitivity relies on."""
    from xbench.metrics import max_sensitivity

    model, x = saturating
    t = model(x).argmax(1)
    CACHE.clear()
    calls: list[int] = []
    handle = model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    kw = {"radius": 0.05, "n_samples": 3, "seed": 2, "max_batch": 7}
    variants = [{"part": "left", "ratio": 0.9}, {"part": "right", "ratio": 0.95}, {"part": "full", "ratio": 0.9}]
    for params in variants:
        max_sensitivity(model, x, t, method="split_ig", method_params={"n_steps": 16, "max_batch": 8, **params}, **kw)
    family = sum(calls)
    calls.clear()
    max_sensitivity(model, x, t, method="refined_left_ig", method_params={"n_steps": 16, "refine_steps": 4,
                                                                           "max_batch": 8}, **kw)
    handle.remove()
    # the first variant: its A(x) and 15 noisy copies (chunks of 7, 7, 1), each 2 forwards (F(x), F(x')) + 16 path
    # points per image; the other two variants are hits throughout (no model call at all)
    assert family == 5 * (2 + 16) + 15 * (2 + 16)
    # Refined Left: its first pass is a hit for A(x) and every noisy chunk; it adds 4 refine points and F(end)
    assert sum(calls) == (5 + 15) * (4 + 1)
