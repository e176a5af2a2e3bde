"""Paper A's architectures: parameter names as in the authors' released checkpoints, loading them, homogeneity."""

from __future__ import annotations

import pytest
import torch

import xbench.models as M
from xbench.errors import DataNotFoundError
from xbench.models import homogeneity_error, is_homogeneous

FIXUP50_BLOCKS = [3, 4, 6, 3]


def authors_fixup_keys(x: bool) -> set[str]:
    """The state-dict keys of the authors' (x)fixup_resnet50 (imagenet/models/fixup_resnet.py), written out."""
    keys = {"conv1.weight", "fc.weight"} | (set() if x else {"bias1", "bias2", "fc.bias"})
    for layer, n in enumerate(FIXUP50_BLOCKS, start=1):
        for b in range(n):
            p = f"layer{layer}.{b}."
            keys |= {p + "conv1.weight", p + "conv2.weight", p + "conv3.weight"}
            if not x:
                keys |= {p + k for k in ("bias1a", "bias1b", "bias2a", "bias2b", "bias3a", "bias3b", "scale")}
            if b == 0:  # every stage's first block projects (layer1: 64 -> 256 channels)
                keys.add(p + "downsample.weight")
    return keys


def authors_alexnet_keys() -> set[str]:
    """imagenet/models/xalexnet.py: torchvision's AlexNet layout without biases."""
    return {f"features.{i}.weight" for i in (0, 3, 6, 8, 10)} | {f"classifier.{i}.weight" for i in (1, 4, 6)}


def authors_vgg16_keys() -> set[str]:
    """imagenet/models/xvgg.py: configuration D, bias-free convolutions, classifier Linear at 0, 3, 6."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    keys, i = set(), 0
    for v in cfg:
        if v == "M":
            i += 1
        else:
            keys.add(f"features.{i}.weight")
            i += 2  # conv + ReLU
    return keys | {f"classifier.{i}.weight" for i in (0, 3, 6)}


def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    # Fixup initialises the last conv of every block and the fc layer to zero: the output would be 0.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return model


def test_xalexnet_and_xvgg16_keys_match_authors():
    assert set(M.create("xalexnet", weights=None).state_dict()) == authors_alexnet_keys()
    xvgg = M.create("xvgg16", weights=None, num_classes=10)
    assert set(xvgg.state_dict()) == authors_vgg16_keys()
    assert is_homogeneous(xvgg)
    # the authors' regular alexnet/vgg16 checkpoints use torchvision's layout: same keys plus biases
    assert set(M.create("alexnet", weights=None).state_dict()) - authors_alexnet_keys() == {
        f"features.{i}.bias" for i in (0, 3, 6, 8, 10)} | {f"classifier.{i}.bias" for i in (1, 4, 6)}


def _authors_checkpoint(model: torch.nn.Module, path, seed: int) -> dict[str, torch.Tensor]:
    """Write ``model``'s parameters (randomised) as the authors' train scripts save them:
    DataParallel 'module.' prefix under 'state_dict', with epoch/arch/best_acc1/optimizer beside."""
    state = {k: v.clone() for k, v in _randomise(model, seed).state_dict().items()}
    torch.save({"epoch": 90, "arch": "x", "best_acc1": torch.tensor(0.5),
                "state_dict": {"module." + k: v for k, v in state.items()},
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}, path)
    return state


@pytest.fixture(scope="module")
def fixup_checkpoints(tmp_path_factory) -> dict[str, tuple[str, dict[str, torch.Tensor]]]:
    """name -> (path, state) of an authors'-layout checkpoint for both Fixup ResNet-50s (10 classes)."""
    out = {}
    for seed, name in enumerate(["fixup_resnet50", "xfixup_resnet50"]):
        path = tmp_path_factory.mktemp("ckpt") / f"{name}_model_best.pth.tar"
        template = M.create(name, weights=None, num_classes=10)
        assert set(template.state_dict()) == authors_fixup_keys(name.startswith("x"))
        assert is_homogeneous(template) == name.startswith("x")
        out[name] = (str(path), _authors_checkpoint(template, path, seed=seed))
    return out


@pytest.mark.parametrize("name", ["fixup_resnet50", "xfixup_resnet50"])
def test_load_authors_checkpoint_layout(fixup_checkpoints, name):
    path, state = fixup_checkpoints[name]
    loaded = M.create(name, weights=path, num_classes=10)
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, state[k]), k
    x = torch.randn(2, 3, 32, 32)
    if name.startswith("x"):
        assert homogeneity_error(loaded, x) < 1e-5
    else:
        assert homogeneity_error(loaded, x) > 1e-3
        assert homogeneity_error(M.to_x(loaded), x) < 1e-5  # to_x drops the scalar biases too


def test_x_flag_on_fixup_gives_the_x_architecture():
    assert set(M.create("fixup_resnet50", x=True, weights=None).state_dict()) == authors_fixup_keys(True)


def test_checkpoint_of_other_variant_gives_one_line_error(fixup_checkpoints):
    with pytest.raises(DataNotFoundError) as err:
        M.create("fixup_resnet50", weights=fixup_checkpoints["xfixup_resnet50"][0], num_classes=10)
    msg = str(err.value)
    assert "\n" not in msg and "missing key" in msg and "x setting" in msg
