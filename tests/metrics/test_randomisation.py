"""The randomisation checks: similarities against SciPy/skimage, the layer randomisation, the `random` floor,
batch independence, and the permuted-label model."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

import xbench
from xbench.errors import ParamError
from xbench.metrics import data_randomisation, mprt, random_logit
from xbench.metrics.randomisation import random_offsets, randomisable_layers, randomised_models
from xbench.metrics.similarity import average_ranks, prepare, similarity, ssim, top_k_intersection


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 6)).eval()


def _batch(n: int = 6, seed: int = 1):
    x = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    return x, torch.arange(n) % 6


def test_similarities_equal_scipy_and_skimage_with_ties():
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 4, (5, 200), generator=g).double()  # many ties
    b = torch.randn(5, 200, generator=g, dtype=torch.float64)
    assert np.array_equal(average_ranks(a).numpy(), scipy.stats.rankdata(a.numpy(), axis=1))
    rho = [scipy.stats.spearmanr(u, v)[0] for u, v in zip(a.numpy(), b.numpy())]
    np.testing.assert_allclose(similarity(a, b, "spearman").numpy(), rho, rtol=0, atol=1e-12)
    r = [scipy.stats.pearsonr(u, v)[0] for u, v in zip(a.numpy(), b.numpy())]
    np.testing.assert_allclose(similarity(a, b, "pearson").numpy(), r, rtol=0, atol=1e-12)
    ref = [structural_similarity(u, v, data_range=float(np.ptp(np.concatenate([u, v]))))
           for u, v in zip(a.numpy(), b.numpy())]
    np.testing.assert_allclose(ssim(a, b).numpy(), ref, rtol=0, atol=1e-12)
    assert torch.equal(ssim(b, b), torch.ones(5, dtype=torch.float64))


def test_top_k_intersection_hand_computed():
    a = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 9.0, 0.0, 8.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0]])
    # top 30 % = 3 features: a's {0, 1, 2}, b's {1, 3, 9}: one shared
    assert top_k_intersection(a, b, 0.3).item() == pytest.approx(1 / 3)
    assert top_k_intersection(a, a, 0.3).item() == 1.0


def test_prepare_normalises_per_sample_then_abs():
    a = torch.tensor([[[-4.0, 2.0]], [[0.0, 0.0]]])
    out = prepare(a, abs=True, normalise=True)
    assert out.tolist() == [[1.0, 0.5], [0.0, 0.0]]  # an all-zero sample stays zero
    assert prepare(a, abs=False, normalise=True).tolist()[0] == [-1.0, 0.5]


@pytest.mark.parametrize("order", ["top_down", "bottom_up", "independent"])
def test_randomisation_copies_and_orders_the_layers(order):
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    names = randomisable_layers(net)
    assert names == ["0", "2", "3", "6"]  # conv, batchnorm, conv, linear: modules with reset_parameters
    seen = []
    for name, rand in randomised_models(net, order, seed=5):
        changed = {k.split(".")[0] for k, v in rand.state_dict().items()
                   if v.dtype.is_floating_point and not torch.equal(v, before[k])}
        seen.append(name)
        if order == "independent":
            assert changed <= {name}
        else:
            assert changed == set(seen) - {"2"}  # BN resets to weight 1, bias 0: what it was already
    assert seen == (names[::-1] if order == "top_down" else names)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # the user's model untouched
    again = [dict(r.state_dict()) for _, r in randomised_models(net, order, seed=5)][-1]
    last = [dict(r.state_dict()) for _, r in randomised_models(net, order, seed=5)][-1]
    assert all(torch.equal(again[k], last[k]) for k in again)  # seeded


@pytest.mark.parametrize("sim", ["spearman", "pearson", "ssim", "top_k_intersection"])
def test_a_model_independent_explanation_scores_one(sim):
    net, (x, t) = _net(), _batch()
    a = xbench.attribute(net, x, t, "random")
    values = mprt(net, x, t, a, method="random", similarity=sim, abs=False)
    assert torch.equal(values["similarity"], torch.ones(len(x), dtype=torch.float64))
    assert torch.equal(random_logit(net, x, t, a, method="random", similarity=sim),
                       torch.ones(len(x), dtype=torch.float64))


def test_mprt_curve_and_layers_through_the_registered_cell():
    from xbench.metrics import METRICS, CellContext

    net, (x, t) = _net(), _batch()
    a = xbench.attribute(net, x, t, "saliency")
    from xbench.metrics.base import method_attributor

    ctx = CellContext(model=net, inputs=x, target=t, attributions=a, method="saliency", method_params={},
                      attribute=method_attributor(net, "saliency", {}), baseline=torch.zeros_like(x), seed=3)
    out = METRICS.get("mprt").fn(ctx, order="top_down")
    assert out.settings["layers"] == ["6", "3", "2", "0"]
    xs, curve = out.curves["similarity"]
    assert xs.tolist() == [1.0, 2.0, 3.0, 4.0] and curve.shape == (len(x), 4)
    assert torch.equal(out.values["similarity"], curve[:, -1])
    assert (curve[:, -1] < 0.9).all()  # saliency depends on the weights
    one = METRICS.get("mprt").fn(ctx, order="top_down", skip_layers=True)
    assert torch.equal(one.values["similarity"], out.values["similarity"])


def test_results_do_not_depend_on_batch_composition():
    net, (x, t) = _net(), _batch(8)
    a = xbench.attribute(net, x, t, "saliency")
    full = mprt(net, x, t, a, method="saliency", seed=2)["similarity"]
    part = mprt(net, x[3:6], t[3:6], a[3:6], method="saliency", seed=2)["similarity"]
    torch.testing.assert_close(full[3:6], part, rtol=0, atol=1e-12)
    off = random_offsets(x, 6, seed=4)
    assert torch.equal(off[3:6], random_offsets(x[3:6], 6, seed=4))
    assert torch.equal(random_offsets(x.flip(0), 6, seed=4), off.flip(0))
    assert (off >= 0).all() and (off <= 4).all()
    rl = random_logit(net, x, t, a, method="saliency", seed=4)
    torch.testing.assert_close(rl[3:6], random_logit(net, x[3:6], t[3:6], a[3:6], method="saliency", seed=4),
                               rtol=0, atol=1e-12)


def test_random_logit_explains_another_class():
    net, (x, t) = _net(), _batch()
    seen = []
    a = xbench.attribute(net, x, t, "saliency")
    random_logit(net, x, t, a, attributor=lambda inp, tgt, **kw: seen.append(tgt) or xbench.attribute(
        net, inp, tgt, "saliency"))
    assert (seen[0] != t).all()


def test_data_randomisation_refuses_data_it_cannot_retrain():
    net, (x, t) = _net(), _batch()
    with pytest.raises(ParamError, match="data 'photos' cannot be retrained by xbench; allowed: digits"):
        data_randomisation(net, x, t, x, data_info={"name": "photos"})


@pytest.mark.slow
def test_data_randomisation_trains_a_permuted_label_model_once():
    from xbench.data import create as create_data
    from xbench.metrics.randomisation import permuted_label_model

    ds = create_data("digits", "test")
    net = xbench.models.create("digits_cnn")
    first, record = permuted_label_model(net, ds.info, seed=0, epochs=1)
    again, _ = permuted_label_model(net, ds.info, seed=0, epochs=1)  # from the cache
    assert all(torch.equal(p, q) for p, q in zip(first.parameters(), again.parameters()))
    assert not any(torch.equal(p, q) for p, q in zip(first.parameters(), net.parameters()))
    assert 0.0 <= record["train_accuracy"] <= 1.0 and len(record["history"]) == 1
    x, y = ds.dataset.tensors
    x, t = x[:4], net(x[:4]).argmax(1)
    a = xbench.attribute(net, x, t, "saliency")
    out = data_randomisation(net, x, t, a, method="saliency", epochs=1, data_info=ds.info)
    assert out["similarity"].shape == (4,) and out["permuted_epochs"] == 1
    rand = data_randomisation(net, x, t, xbench.attribute(net, x, t, "random"), method="random", epochs=1,
                              data_info=ds.info)
    assert torch.equal(rand["similarity"], torch.ones(4, dtype=torch.float64))


def test_preflight_refuses_data_randomisation_on_other_data():
    from xbench.errors import SuiteError
    from xbench.preflight import preflight
    from xbench.suite import parse_suite

    suite = parse_suite({"name": "t", "device": "cpu", "data": {"name": "synthetic", "n_samples": 2, "batch_size": 2},
                        "models": [{"name": "synthetic_cnn", "weights": None}], "methods": ["saliency"],
                        "metrics": ["data_randomisation"]})
    with pytest.raises(SuiteError,
                       match=r"metrics\[0\]: 'data_randomisation': cannot run on data 'synthetic'; allowed: digits"):
        preflight(suite)


def test_an_attributor_that_cannot_take_another_model_is_refused():
    net, (x, t) = _net(), _batch()
    a = xbench.attribute(net, x, t, "saliency")
    with pytest.raises(ParamError, match="attributor: it must accept model="):
        mprt(net, x, t, a, attributor=lambda inp, tgt: xbench.attribute(net, inp, tgt, "saliency"))


@pytest.mark.parametrize("name", ["mprt", "random_logit"])
def test_ssim_on_fewer_features_than_its_window_is_refused_before_any_work(name):
    from xbench.metrics import METRICS

    fits = METRICS.get(name).meta["fits"]
    assert "allowed here: 'spearman'" in fits(None, {"input_shape": (5,)}, {"similarity": "ssim"})
    assert fits(None, {"input_shape": (30,)}, {"similarity": "ssim"}) is None
    assert fits(None, {"input_shape": (5,)}, {"similarity": "spearman"}) is None
