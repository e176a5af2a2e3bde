"""Models from files (TorchScript, torch.export) and Python factories: same outputs, clear errors, dry forward."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xbench.models as M
from xbench.errors import ParamError
from xbench.models.user import Renormalise, bind_input_normalisation, dry_forward


def tiny_net() -> nn.Module:
    """A factory for the ``python`` model tests (importable as tests.models.test_user_models:tiny_net)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    net = tiny_net().eval()
    torch.jit.script(net).save(str(d / "net.pt"))
    batch = torch.export.Dim("batch")
    torch.export.save(torch.export.export(net, (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: batch},)),
                      str(d / "net.pt2"))
    torch.save(net.state_dict(), d / "net.pth")
    (d / "junk.pt").write_bytes(b"not a model at all")
    return d, net


@pytest.mark.parametrize("file", ["net.pt", "net.pt2"])
def test_archives_give_the_original_outputs_and_input_gradients(archives, file):
    d, net = archives
    model = M.create("file", path=str(d / file))
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
    out = model(x)
    torch.testing.assert_close(out, net(x), rtol=1e-6, atol=1e-6)
    (g,) = torch.autograd.grad(out[:, 2].sum(), x)
    (ref,) = torch.autograd.grad(net(x)[:, 2].sum(), x)
    torch.testing.assert_close(g, ref, rtol=1e-6, atol=1e-6)
    assert dry_forward(model, (1, 8, 8)) == 10
    assert not M.is_homogeneous(model)  # biases are seen through the archive


def test_python_factory_with_weights(archives):
    d, net = archives
    model = M.create("python", factory="tests.models.test_user_models:tiny_net", weights=str(d / "net.pth"))
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(model(x), net(x))


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "file", "path": "nope.pt"}, "does not exist"),
    ({"name": "file", "path": "JUNK"}, "not a TorchScript or torch.export archive"),
    ({"name": "python", "factory": "tests.models.test_user_models"}, "must look like 'package.module:function'"),
    ({"name": "python", "factory": "no_such_pkg.x:build"}, "cannot import 'no_such_pkg.x'"),
    ({"name": "python", "factory": "tests.models.test_user_models:nothing"}, "has no callable 'nothing'"),
    ({"name": "file", "path": "NET", "x": True}, "cannot be made bias-free"),
])
def test_bad_model_specs_are_one_line_errors(archives, kwargs, message):
    d, _ = archives
    kwargs = {k: str(d / "junk.pt") if v == "JUNK" else str(d / "net.pt") if v == "NET" else v
              for k, v in kwargs.items()}
    name = kwargs.pop("name")
    with pytest.raises(ParamError, match=message) as err:
        M.create(name, **kwargs)
    assert "\n" not in str(err.value)


def test_dry_forward_names_the_field_and_the_shape(archives):
    d, _ = archives
    model = M.create("file", path=str(d / "net.pt"))
    with pytest.raises(ParamError, match=r"models\[1\]: the model fails on one input of shape \[3, 8, 8\]"):
        dry_forward(model, (3, 8, 8), where="models[1]")
    with pytest.raises(ParamError, match=r"models\[1\].num_classes: the model outputs 10 classes, not 5"):
        dry_forward(model, (1, 8, 8), num_classes=5, where="models[1]")


def test_renormalise_feeds_the_model_its_own_normalisation():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(x)
            return x.flatten(1)[:, :2]

    # data normalised with mean 0.5, std 0.25; the model wants mean 0.4, std 0.2 -> raw 0.75 must arrive as 1.75
    model = bind_input_normalisation(Renormalise(Probe(), [0.4], [0.2]), {"mean": [0.5], "std": [0.25]})
    model(torch.full((1, 1, 2, 2), (0.75 - 0.5) / 0.25))
    torch.testing.assert_close(seen[-1], torch.full((1, 1, 2, 2), (0.75 - 0.4) / 0.2))
