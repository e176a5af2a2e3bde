"""torchvision models: building at small sizes, X-conversion or its clear refusal, weights from the hub cache."""

from __future__ import annotations

import os

import pytest
import torch

import xbench.models as M
from xbench.errors import DataNotFoundError, NotHomogeneousError, ParamError
from xbench.models import homogeneity_error


@pytest.mark.parametrize("name,size", [("resnet18", 32), ("resnet50", 32), ("inception_v3", 75)])
def test_bn_models_build_and_refuse_x(name, size):
    model = M.create(name, weights=None, num_classes=7)
    out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 7)
    with pytest.raises(NotHomogeneousError, match=r"layer '(bn1|Conv2d_1a_3x3\.bn)'.*BatchNorm2d"):
        M.create(name, x=True, weights=None, num_classes=7)


def test_alexnet_x_is_homogeneous_and_regular_is_not():
    x = torch.randn(2, 3, 64, 64)
    reg = M.create("alexnet", weights=None, num_classes=5)
    torch.nn.init.normal_(reg.classifier[6].bias, 0, 1.0)  # torchvision inits biases to 0: make them count
    xm = M.to_x(reg)
    assert homogeneity_error(reg, x) > 1e-3
    assert homogeneity_error(xm, x) < 1e-5
    assert set(M.create("alexnet", x=True, weights=None, num_classes=5).state_dict()) == set(xm.state_dict())


def _fake_hub_file(arch: str, model: torch.nn.Module) -> str:
    from torchvision.models import get_model_weights

    url = get_model_weights(arch).DEFAULT.url
    path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def test_weight_name_absent_offline_gives_one_line_error():
    with pytest.raises(DataNotFoundError) as err:
        M.create("resnet18")  # default weights IMAGENET1K_V1; TORCH_HOME is empty and XBENCH_OFFLINE is set
    msg = str(err.value)
    assert "\n" not in msg and "resnet18-f37072fd.pth" in msg and "weights:" in msg


def test_unknown_weight_name_lists_the_known_ones():
    with pytest.raises(ParamError, match="IMAGENET1K_V1"):
        M.create("resnet18", weights="IMAGENET1K_V9")
    with pytest.raises(ParamError, match="1000 classes"):
        M.create("resnet18", weights="IMAGENET1K_V1", num_classes=10)


def test_weight_name_loads_from_hub_cache():
    torch.manual_seed(3)
    src = M.create("resnet18", weights=None)
    _fake_hub_file("resnet18", src)
    for name in ("IMAGENET1K_V1", "DEFAULT", "ResNet18_Weights.IMAGENET1K_V1"):
        loaded = M.create("resnet18", weights=name)
        assert torch.equal(loaded.conv1.weight, src.conv1.weight)


def test_xalexnet_from_torchvision_weights_drops_biases():
    torch.manual_seed(4)
    src = M.create("alexnet", weights=None)
    _fake_hub_file("alexnet", src)
    xm = M.create("xalexnet", weights="IMAGENET1K_V1")
    assert torch.equal(xm.features[0].weight, src.features[0].weight)
    assert M.is_homogeneous(xm)


def test_inception_checkpoint_with_aux_head_loads(tmp_path):
    from torchvision.models import Inception3

    src = Inception3(num_classes=4, aux_logits=True, init_weights=False)
    path = tmp_path / "inception.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in src.state_dict().items()}}, path)
    model = M.create("inception_v3", weights=str(path), num_classes=4)
    assert model.AuxLogits is None
    assert torch.equal(model.fc.weight, src.fc.weight)
    assert model(torch.randn(1, 3, 75, 75)).shape == (1, 4)
