"""ROAR: masking, ranking, AUC and the re-initialisation checked by hand; refusals; a small run on breast cancer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xbench
from xbench.errors import ParamError
from xbench.metrics import METRICS, roar
from xbench.metrics.roar import _auc, _importance, _masked, reinitialised, retrain_spec


def test_masking_replaces_the_top_ranked_features_with_the_fill():
    x = torch.arange(8.0).view(2, 1, 2, 2)  # two 1 x 2 x 2 images
    order = torch.tensor([[3, 0, 1, 2], [1, 2, 0, 3]])
    out = _masked(x, order, 2, torch.full((1, 1, 1, 1), -1.0))
    assert out.flatten(1).tolist() == [[-1, 1, 2, -1], [4, -1, -1, 7]]
    assert torch.equal(_masked(x, order, 0, torch.zeros(1, 1, 1, 1)), x)
    tab = torch.tensor([[1.0, 2.0, 3.0]])
    fill = torch.tensor([[10.0, 20.0, 30.0]])  # per-feature means
    assert _masked(tab, torch.tensor([[2, 0, 1]]), 1, fill).tolist() == [[1, 2, 30]]


def test_importance_sums_channels_of_magnitudes_and_ranks_ties_by_index():
    a = torch.tensor([[[[1.0, -2.0]], [[-1.0, 0.5]]]])  # 1 x 2 channels x 1 x 2
    assert _importance(a, "abs").tolist() == [[2.0, 2.5]]
    assert _importance(a, "value").tolist() == [[0.0, -1.5]]
    tied = _importance(torch.ones(1, 4), "abs").argsort(dim=1, descending=True, stable=True)
    assert tied.tolist() == [[0, 1, 2, 3]]


def test_auc_is_the_mean_accuracy_over_the_removal_range():
    assert _auc([0.0, 0.5, 1.0], [1.0, 0.5, 0.0]) == pytest.approx(0.5)
    assert _auc([0.0, 0.1, 0.9], [0.9, 0.9, 0.9]) == pytest.approx(0.9)


def test_reinitialised_equals_the_factory_weights():
    trained = xbench.models.create("mlp")  # trained (cached); its architecture rebuilt from the recipe's seed
    fresh = reinitialised(trained, 0)
    factory = xbench.models.create("mlp", weights=None)
    for (k, a), (_, b) in zip(fresh.state_dict().items(), factory.state_dict().items()):
        assert torch.equal(a, b), k
    assert all(p.requires_grad for p in fresh.parameters())
    assert not torch.equal(fresh.state_dict()["0.weight"], trained.state_dict()["0.weight"])


def test_refusals_are_one_line():
    info = {"name": "breast_cancer"}
    with pytest.raises(ParamError, match="cannot be retrained by xbench") as err:
        retrain_spec(nn.Sequential(nn.Linear(30, 2)), info)
    assert "\n" not in str(err.value) and "allowed: DigitsCNN on digits, MLP on breast_cancer" in str(err.value)
    with pytest.raises(ParamError, match="no xbench training recipe"):
        retrain_spec(xbench.models.create("mlp", weights=None), {"name": "photos"})
    fits = METRICS.get("roar").meta["fits"]
    assert fits(nn.Sequential(nn.Linear(30, 2)), info, {}) and fits(xbench.models.create("mlp", weights=None),
                                                                     info, {}) is None


def test_roar_on_breast_cancer_with_the_random_control():
    from xbench.data import create

    ds = create("breast_cancer", "test")
    x, _ = ds.tensors(4)
    model = xbench.models.create("mlp")
    kw = {"fractions": (0.5, 0.9), "epochs": 1, "data_info": ds.info, "seed": 3}
    ig = roar(model, x, None, method="input_x_gradient", **kw)
    sal = roar(model, x, None, method="saliency", **kw)
    for out in (ig, sal):
        assert set(out) >= {"accuracy@0", "accuracy@0.5", "accuracy@0.9", "auc", "random_auc", "gap"}
        acc = [out["accuracy@0"], out["accuracy@0.5"], out["accuracy@0.9"]]
        assert all(0 <= a <= 1 for a in acc) and out["auc"] == pytest.approx(_auc([0, 0.5, 0.9], acc))
        assert out["gap"] == pytest.approx(out["random_auc"] - out["auc"])
        assert out["features_removed"] == [15, 27] and out["epochs"] == 1 and out["n_train"] == 398
    # the control and the f = 0 model do not depend on the method (computed once)
    assert ig["random_auc"] == sal["random_auc"] and ig["accuracy@0"] == sal["accuracy@0"]
    assert roar(model, x, None, method="input_x_gradient", **kw) == ig  # deterministic
    with pytest.raises(ParamError, match="fractions"):
        roar(model, x, None, method="saliency", **{**kw, "fractions": (0.0,)})


def test_declaration():
    meta = METRICS.get("roar").meta
    assert meta["first_batches"] == 1 and meta["consumes"] == ("method", "data_info")
    assert meta["directions"]["gap"] == "higher" and meta["directions"]["auc"] == "lower"
