"""``xbench.evaluate``: the runner's rows for in-memory models and data, no files unless asked."""

from __future__ import annotations

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
