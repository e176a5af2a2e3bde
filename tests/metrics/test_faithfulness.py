"""Hand-computed cases of the faithfulness metrics on linear models, where every answer is known in closed form:
with F = w . x (target logit) and the zero substrate, removing features S drops F by exactly sum_{i in S} w_i x_i."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

import xbench
from xbench.errors import ParamError
from xbench.metrics import faithfulness as fm
from xbench.metrics.road import linear_imputation


class Linear(nn.Module):
    """Logits [w . x, 0] for inputs of any shape (flattened)."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = w.flatten().double()

    def forward(self, x):
        s = x.flatten(1).double() @ self.w
        return torch.stack([s, torch.zeros_like(s)], 1).to(x.dtype)


def _case(shape, seed=0, n=4):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g, dtype=torch.float64)
    x = torch.randn((n,) + tuple(shape), generator=g, dtype=torch.float64)
    return Linear(w), x, torch.zeros(n, dtype=torch.long), w * x


@pytest.mark.parametrize("shape", [(12,), (1, 4, 4)], ids=["tabular", "image"])
def test_exact_contributions_correlate_perfectly(shape):
    net, x, t, a = _case(shape)
    corr = fm.faithfulness_correlation(net, x, t, a, n_subsets=30, subset_size=3, seed=1)
    est = fm.faithfulness_estimate(net, x, t, a, features_in_step=2)
    torch.testing.assert_close(corr, torch.ones(4, dtype=corr.dtype), atol=1e-10, rtol=0)
    torch.testing.assert_close(est, torch.ones(4, dtype=est.dtype), atol=1e-10, rtol=0)
    anti = fm.faithfulness_correlation(net, x, t, -a, n_subsets=30, subset_size=3, seed=1)
    torch.testing.assert_close(anti, -torch.ones(4, dtype=anti.dtype), atol=1e-10, rtol=0)


def test_correlation_draws_do_not_depend_on_the_batch():
    net, x, t, a = _case((1, 4, 4), n=6)
    a = a + 0.3 * torch.randn(a.shape, generator=torch.Generator().manual_seed(9), dtype=a.dtype)  # imperfect
    full = fm.faithfulness_correlation(net, x, t, a, n_subsets=10, subset_size=4, seed=3, max_batch=7)
    part = fm.faithfulness_correlation(net, x[3:], t[3:], a[3:], n_subsets=10, subset_size=4, seed=3, max_batch=4)
    torch.testing.assert_close(full[3:], part)
    assert not torch.allclose(full, fm.faithfulness_correlation(net, x, t, a, n_subsets=10, subset_size=4, seed=4))


def test_monotonicity_arya_by_hand():
    net = Linear(torch.ones(3))
    x = torch.tensor([[1.0, -1.0, 2.0], [1.0, 0.5, 2.0]], dtype=torch.float64)
    t = torch.zeros(2, dtype=torch.long)
    # |A| ascending (ties by index): features 0, 1, 2; row 0 adds +1, -1, +2: F goes 1, 0, 2 (drops once)
    value, counts, curve = fm.monotonicity_arya(net, x, t, x, features_in_step=1, output="logit",
                                                return_curves=True)
    torch.testing.assert_close(curve[0], torch.tensor([1.0, 0.0, 2.0], dtype=curve.dtype))
    assert value.tolist() == [0.0, 1.0]
    assert counts.tolist() == [1, 2, 3]


def test_monotonicity_nguyen_by_hand():
    net, x, t, a = _case((6,))
    # noise range [0, 0]: a feature's variance is (w_i x_i)^2 / F(x)^2, a monotone function of |A_i|
    corr = fm.monotonicity_nguyen(net, x, t, a, features_in_step=1, n_samples=3, noise_low=0.0, noise_high=0.0,
                                  output="logit")
    torch.testing.assert_close(corr, torch.ones(4, dtype=corr.dtype))


def test_selectivity_and_region_perturbation_by_hand():
    net = Linear(torch.ones(4))
    x = torch.tensor([[[[4.0, 3.0], [2.0, 1.0]]]], dtype=torch.float64)  # contributions 4, 3, 2, 1
    t = torch.zeros(1, dtype=torch.long)
    auc, frac, curve = fm.selectivity(net, x, t, x, patch_size=1, output="logit", return_curves=True)
    torch.testing.assert_close(curve[0], torch.tensor([10.0, 6, 3, 1, 0], dtype=curve.dtype))
    assert frac.tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert auc.item() == pytest.approx(0.25 * (8 + 4.5 + 2 + 0.5))
    out = fm.region_perturbation(net, x, t, x, patch_size=1, output="logit")
    assert out["morf_aopc"].item() == pytest.approx((0 + 4 + 7 + 9 + 10) / 5)  # Samek's 1/(L+1) sum, k = 0..L
    assert out["lerf_aopc"].item() == pytest.approx((0 + 1 + 3 + 6 + 10) / 5)
    two = fm.region_perturbation(net, x, t, x, patch_size=1, regions=2, output="logit")
    assert two["morf_aopc"].item() == pytest.approx((0 + 4 + 7) / 3)
    tab = fm.selectivity(net, x.flatten(1), t, x.flatten(1), output="logit")  # a table: each column a patch
    torch.testing.assert_close(tab, auc)


def test_irof_by_hand(monkeypatch):
    net = Linear(torch.ones(4))
    x = torch.tensor([[[[2.0, 2.0], [1.0, 1.0]]]], dtype=torch.float64)
    monkeypatch.setattr(fm, "slic_segments", lambda inputs, n, c: torch.tensor([[0, 0, 1, 1]]))
    aoc, k, ratio = fm.irof(net, x, torch.zeros(1, dtype=torch.long), x, substrate="zero", output="logit",
                            return_curves=True)
    torch.testing.assert_close(ratio[0], torch.tensor([1.0, 1 / 3, 0.0], dtype=ratio.dtype))  # F: 6, 2, 0
    assert aoc.item() == pytest.approx(1 - (0.5 * (1 + 1 / 3) / 2 + 0.5 * (1 / 3) / 2))


def test_irof_says_when_scikit_image_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.segmentation", None)
    with pytest.raises(ParamError, match="pip install scikit-image"):
        fm.slic_segments(torch.zeros(1, 1, 8, 8))


def test_irof_runs_slic_once_per_image_and_segments_real_images():
    x = torch.zeros(2, 3, 16, 16)
    x[:, :, :, 8:] = 1.0  # two flat halves: SLIC must not put both in one superpixel
    seg = fm.slic_segments(x, n_segments=4)
    assert seg.shape == (2, 256)
    left, right = seg[0].view(16, 16)[:, :8], seg[0].view(16, 16)[:, 8:]
    assert set(left.unique().tolist()).isdisjoint(right.unique().tolist())


@pytest.mark.parametrize("solver", ["direct", "cg"])
def test_linear_imputation_reproduces_a_ramp_and_fills_from_neighbours(solver):
    i, j = torch.meshgrid(torch.arange(6.0), torch.arange(6.0), indexing="ij")
    ramp = (i + 2 * j).double().expand(1, 2, 6, 6).clone()
    removed = torch.zeros(1, 6, 6, dtype=torch.bool)
    removed[0, 1:5, 1:5] = True  # an interior hole: symmetric weights reproduce a linear image exactly
    holed = ramp.masked_fill(removed[:, None], 100.0)
    torch.testing.assert_close(linear_imputation(holed, removed, solver=solver), ramp)
    one = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    one[0, 0, 0, 0] = 7.0
    corner = torch.zeros(1, 3, 3, dtype=torch.bool)
    corner[0, 0, 0] = True  # a corner pixel: (1/6 + 1/6 + 1/12) weights of in-image neighbours, all 1
    assert linear_imputation(one, corner, solver=solver)[0, 0, 0, 0].item() == pytest.approx(1.0)
    with pytest.raises(ParamError, match="fractions"):
        linear_imputation(one, torch.ones(1, 3, 3, dtype=torch.bool), solver=solver)


def test_road_curves_by_hand_and_seeded_per_sample():
    net = Linear(torch.ones(1, 4, 4))
    x = torch.full((3, 1, 4, 4), 2.0, dtype=torch.float64)
    x[1] = 1.0
    a = torch.arange(16.0).view(1, 1, 4, 4).expand(3, 1, 4, 4)
    # a constant image imputes to itself: without noise the curves stay at F(x) = 16 * value
    out, fr, curves = xbench.metrics.road(net, x, torch.zeros(3, dtype=torch.long), a, fractions=[0.25, 0.5],
                                          noise=0.0, output="logit", return_curves=True)
    torch.testing.assert_close(curves["morf"][:, 0], torch.tensor([32.0, 16.0, 32.0], dtype=torch.float64))
    torch.testing.assert_close(out["morf_auc"], 0.25 * torch.tensor([32.0, 16.0, 32.0], dtype=torch.float64))
    noisy = xbench.metrics.road(net, x, torch.zeros(3, dtype=torch.long), a, noise=0.5, output="logit", seed=1)
    alone = xbench.metrics.road(net, x[1:2], torch.zeros(1, dtype=torch.long), a[1:2], noise=0.5, output="logit",
                                seed=1)
    torch.testing.assert_close(noisy["lerf_auc"][1:2], alone["lerf_auc"])
    assert noisy["morf_auc"][0] == noisy["morf_auc"][2]  # equal images, equal draws
    assert noisy["morf_auc"][0] != noisy["lerf_auc"][0]  # MoRF and LeRF items draw their own noise


@pytest.mark.parametrize("name", ["road", "region_perturbation", "irof"])
def test_image_only_metrics_refuse_tables(name):
    net, x, t, a = _case((12,))
    with pytest.raises(ParamError, match=r"inputs: .* allowed: images \[N, C, H, W\]$"):
        getattr(xbench.metrics, name)(net, x, t, a)


def test_declarations():
    from xbench.metrics import METRICS

    image = {"road", "region_perturbation", "irof"}
    for name in image | {"faithfulness_correlation", "faithfulness_estimate", "monotonicity_arya",
                         "monotonicity_nguyen", "selectivity"}:
        # the registry normalises a declaration to a tuple of kinds ("any" -> image and tabular)
        assert METRICS.get(name).meta["inputs"] == (("image",) if name in image else ("image", "tabular"))


TABULAR = ["faithfulness_correlation", "faithfulness_estimate", "monotonicity_arya", "monotonicity_nguyen",
           "selectivity"]


@pytest.mark.slow
def test_tabular_metrics_run_from_a_suite_on_breast_cancer(tmp_path):
    from xbench.results import read_results
    from xbench.runner import run_suite
    from xbench.suite import parse_suite

    raw = {"name": "faith_tab", "seed": 0, "device": "cpu",
           "data": {"name": "breast_cancer", "split": "test", "n_samples": 6, "batch_size": 6},
           "models": [{"name": "mlp"}], "methods": ["saliency", "random"],
           "metrics": [{"name": n, **({"n_samples": 4} if n == "monotonicity_nguyen" else {})} for n in TABULAR]}
    run_suite(parse_suite(raw), tmp_path / "run", progress=False, echo=None, report=False)
    rows = read_results(tmp_path / "run")
    assert set(TABULAR) <= set(rows["metric"])
    corr = rows[(rows.metric == "faithfulness_correlation") & (rows.stat == "correlation")]
    assert len(corr) == 12 and corr["value"].notna().all()
    assert '"subset_size":7' in corr["metric_params"].iloc[0]  # the resolved default (30 features // 4)


def test_an_image_only_metric_on_a_table_is_refused_by_preflight(tmp_path):
    from xbench.runner import run_suite
    from xbench.suite import parse_suite

    raw = {"name": "faith_tab", "seed": 0, "device": "cpu",
           "data": {"name": "breast_cancer", "split": "test", "n_samples": 2, "batch_size": 2},
           "models": [{"name": "mlp"}], "methods": ["saliency"], "metrics": ["road"]}
    from xbench.errors import SuiteError

    with pytest.raises(SuiteError) as err:  # preflight: before any model call
        run_suite(parse_suite(raw), tmp_path / "run", progress=False, echo=None, report=False)
    assert err.value.problems == ["metrics[0]: 'road': works on image inputs and the data is tabular (one input is 30)"]


def test_top_mask_selects_what_the_stable_rank_selects():
    from xbench.metrics.faithfulness import top_mask
    from xbench.metrics.perturbation import pixel_rank

    g = torch.Generator().manual_seed(0)
    values = [torch.rand(5, 300, generator=g, dtype=torch.float64),
              torch.randint(0, 4, (5, 300), generator=g).double(),  # many ties at every threshold
              torch.zeros(2, 17)]
    for v in values:
        for k in (0, 1, 7, 150, 299, 300, 400):
            assert torch.equal(top_mask(v, k), pixel_rank(v) < k), (v.shape, k)
