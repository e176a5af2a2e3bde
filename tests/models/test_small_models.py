"""CIFAR-scale and tabular models: shapes, the X-variants' exact homogeneity, BatchNorm refusal."""

from __future__ import annotations

import pytest
import torch

import xbench.models as M
from xbench.errors import NotHomogeneousError
from xbench.models import homogeneity_error, is_homogeneous


def _randomise(model: torch.nn.Module) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return model


@pytest.mark.parametrize("name,params", [("cifar_resnet20", {}), ("cifar_vgg", {"width": 0.25})])
def test_cifar_models_regular_and_x(name, params):
    x = torch.randn(3, 3, 32, 32)
    reg = _randomise(M.create(name, num_classes=10, **params))
    xm = _randomise(M.create(name, x=True, num_classes=10, **params))
    assert reg(x).shape == xm(x).shape == (3, 10)
    assert not is_homogeneous(reg) and is_homogeneous(xm)
    assert homogeneity_error(reg, x) > 1e-3
    assert homogeneity_error(xm, x) < 1e-5
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in xm.modules())


def test_cifar_models_take_other_channel_counts_and_sizes():
    assert M.create("cifar_resnet20", in_channels=1)(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    assert M.create("cifar_vgg", width=0.25, cfg="vgg16")(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_cifar_vgg_with_batchnorm_has_no_x_variant():
    with pytest.raises(NotHomogeneousError, match="features.1.*BatchNorm2d"):
        M.create("cifar_vgg", x=True, batch_norm=True, width=0.25)


def test_mlp_layout_and_homogeneity():
    reg = M.create("mlp", weights=None, in_features=118)
    xm = M.create("mlp", x=True, weights=None, in_features=118)
    assert [tuple(p.shape) for p in xm.parameters()] == [(512, 118), (128, 512), (32, 128), (2, 32)]
    # the authors' nn.Sequential layout: Linear layers at 0, 2, 4, 6
    assert set(xm.state_dict()) == {f"{i}.weight" for i in (0, 2, 4, 6)}
    assert set(reg.state_dict()) - set(xm.state_dict()) == {f"{i}.bias" for i in (0, 2, 4, 6)}
    x = torch.randn(5, 118)
    assert homogeneity_error(xm, x) < 1e-5
    torch.nn.init.normal_(reg[6].bias)
    assert homogeneity_error(reg, x) > 1e-3


def test_model_registry_lists_everything():
    expected = {"alexnet", "vgg16", "resnet18", "resnet50", "inception_v3", "xalexnet", "xvgg16", "fixup_resnet50",
                "xfixup_resnet50", "cifar_resnet20", "cifar_vgg", "digits_cnn", "synthetic_cnn", "mlp"}
    assert expected <= set(M.list_models())
    assert all(M.describe()[n] for n in expected)
