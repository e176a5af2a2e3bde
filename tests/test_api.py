"""``xbench.evaluate``: the runner's rows for in-memory models and data, no files unless asked."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import xbench
from xbench.errors import XBenchError
from xbench.results import COLUMNS


@pytest.fixture(scope="module")
def net_and_data():
    from xbench.data import create

    x, y = create("digits", "test").tensors(24)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                        nn.Linear(16, 10, bias=False)).eval()
    return net, x, y


def test_evaluate_returns_tidy_rows_and_writes_nothing(net_and_data, tmp_path, monkeypatch):
    net, x, y = net_and_data
    monkeypatch.chdir(tmp_path)
    df = xbench.evaluate(net, (x, y), methods=["saliency", {"name": "integrated_gradients", "n_steps": 16},
                                                "x_gradient"],
                         metrics=["completeness", {"name": "deletion", "steps": 8}], batch_size=10)
    assert list(tmp_path.iterdir()) == []
    assert list(df.columns) == COLUMNS
    assert set(df["method"]) == {"saliency", "integrated_gradients", "x_gradient"}
    assert df[(df.kind == "sample")]["sample"].nunique() == 24
    gap = df[(df.metric == "completeness") & (df.stat == "absolute_gap")].groupby("method").value.max()
    # the network is bias-free: X-Gradient and IG are complete to float rounding, the gradient is not
    assert gap["x_gradient"] < 1e-4 and gap["integrated_gradients"] < 1e-4 and gap["saliency"] > 1e-3


def test_evaluate_with_out_writes_a_run_directory(net_and_data, tmp_path):
    net, x, y = net_and_data
    out = tmp_path / "run"
    df = xbench.evaluate(net, (x[:8], y[:8]), methods=["saliency"], metrics=[{"name": "deletion", "steps": 4}],
                         out=out)
    assert (out / "results.csv").exists() and (out / "summary.md").exists() and len(df) > 0


def test_evaluate_validates_like_a_suite(net_and_data):
    net, x, y = net_and_data
    with pytest.raises(XBenchError, match=r"methods\[0\].n_step: .*did you mean 'n_steps'"):
        xbench.evaluate(net, (x, y), methods=[{"name": "integrated_gradients", "n_step": 8}], metrics=["completeness"])
    from xbench.models import MODELS

    assert not any(n.startswith("_evaluate") for n in MODELS.available())  # temporary entries are removed


def test_subpackages_are_attributes():
    assert xbench.data.create is not None and xbench.models.create is not None


def _ordinary_models() -> dict[str, nn.Module]:
    """What users hold: the README's biased CNN, one with BatchNorm, its TorchScript, and a registered model."""
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                        nn.Linear(24, 10)).eval()
    bn = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                       nn.Flatten(), nn.Linear(24, 10)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.script is deprecated": users still have them
        scripted = torch.jit.script(cnn)
    return {"biased": cnn, "batchnorm": bn, "torchscript": scripted,
            "digits_cnn": xbench.models.create("digits_cnn", weights=None)}


@pytest.mark.parametrize("kind", ["biased", "batchnorm", "torchscript", "digits_cnn"])
def test_evaluate_runs_ordinary_models(net_and_data, kind):
    """Models with biases, BatchNorm or compiled to TorchScript are already built on the CPU: preflight runs them
    for real instead of rebuilding them on the meta device (which refused every biased model)."""
    _, x, y = net_and_data
    model = _ordinary_models()[kind]
    df = xbench.evaluate(model, (x[:6], y[:6]), methods=["saliency", {"name": "integrated_gradients", "n_steps": 8}],
                         metrics=["completeness", {"name": "deletion", "steps": 4}], batch_size=4)
    assert set(df["method"]) == {"saliency", "integrated_gradients"}
    assert df[df.kind == "sample"]["sample"].nunique() == 6 and df["value"].notna().any()


def test_evaluate_refuses_hooked_methods_on_torchscript(net_and_data):
    _, x, y = net_and_data
    with pytest.raises(XBenchError, match="'guided_backprop' fits none.*TorchScript model, whose modules cannot be "
                                          "hooked") as err:
        xbench.evaluate(_ordinary_models()["torchscript"], (x[:4], y[:4]), methods=["guided_backprop"],
                        metrics=["completeness"])
    assert "\n" not in str(err.value)


def test_evaluate_hashes_the_user_model_file(tmp_path):
    """A model given by file (``{name: file, path: ...}``) is recorded with its SHA-256 in the manifest."""
    import hashlib
    import json

    from xbench.data import create

    x, y = create("digits", "test").tensors(4)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 10)).eval()
    path = tmp_path / "net.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(net), str(path))
    out = tmp_path / "run"
    xbench.evaluate({"name": "file", "path": str(path), "input_shape": [1, 32, 32]}, (x, y), methods=["saliency"],
                    metrics=[{"name": "deletion", "steps": 4}], out=out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model_files"] == {"models[0].path": {"path": str(path),
                                                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}
