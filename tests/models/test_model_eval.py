"""accuracy and contrast (paper A §4.4) metrics: hand-checked values, X-models exactly invariant."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from xbench.metrics import METRICS, CellContext
from xbench.metrics.model_eval import CONTRAST_SCALES, accuracy, contrast


class Fixed(nn.Module):
    """Returns preset logits for each input row (selected by the input's first value)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[x[:, 0].long()]


def test_accuracy_top1_topk_by_hand():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 2.0, 0.0]])
    model = Fixed(logits)
    inputs = torch.tensor([[0.0], [1.0], [2.0]])
    labels = torch.tensor([0, 1, 3])
    out = accuracy(model, inputs, torch.zeros(3, dtype=torch.long), labels=labels, topk=3, max_batch=2)
    assert out["top1"].tolist() == [1.0, 0.0, 0.0]
    assert out["top3"].tolist() == [1.0, 1.0, 0.0]
    assert accuracy(model, inputs, labels, topk=10)["top10"].tolist() == [1.0, 1.0, 1.0]  # k clipped to 4


def _digits_like(bias: bool) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, 10, bias=bias))


def test_contrast_x_model_is_exactly_invariant_and_regular_is_not():
    inputs = torch.randn(64, 1, 16, 16)
    xm = _digits_like(bias=False).eval()
    reg = _digits_like(bias=True).eval()
    with torch.no_grad():
        reg[-1].bias.copy_(torch.linspace(-2, 2, 10))  # biases that dominate as the input fades
    labels = xm(inputs).argmax(1)
    vx, a, cx = contrast(xm, inputs, labels, labels=labels, return_curves=True, max_batch=100)
    assert a.tolist() == pytest.approx(list(CONTRAST_SCALES))
    assert torch.equal(vx["invariance"], torch.ones(64))
    assert torch.equal(cx["top1"], torch.ones(64, 10))
    vr, _, cr = contrast(reg, inputs, labels, labels=reg(inputs).argmax(1), return_curves=True)
    assert cr["top1"][:, 0].mean() == 1.0  # correct on the unscaled inputs by construction
    assert vr["invariance"].mean() < 1.0 and cr["top1"][:, -1].mean() < 1.0


def test_contrast_rejects_negative_scales():
    from xbench.errors import ParamError

    with pytest.raises(ParamError):
        contrast(_digits_like(False), torch.randn(1, 1, 16, 16), torch.zeros(1, dtype=torch.long), scales=(1.0, -0.5))


def test_cells_use_labels_and_return_curves():
    model = _digits_like(bias=False).eval()
    inputs = torch.randn(4, 1, 16, 16)
    target = model(inputs).argmax(1)
    labels = (target + 1) % 10  # every prediction wrong against the labels
    ctx = CellContext(model=model, inputs=inputs, target=target, attributions=torch.zeros_like(inputs),
                      method="saliency", method_params={}, attribute=lambda x, t: x, baseline=torch.zeros_like(inputs),
                      labels=labels)
    acc = METRICS.get("accuracy")
    out = acc.fn(ctx, **acc.resolve({}))
    assert out.values["top1"].tolist() == [0.0] * 4 and out.settings["truth"] == "labels"
    con = METRICS.get("contrast")
    params = con.resolve({"scales": [1.0, 0.5]})
    out = con.fn(ctx, **params)
    x, y = out.curves["top1"]
    assert x.tolist() == [1.0, 0.5] and y.shape == (4, 2)
    assert out.values["invariance"].tolist() == [1.0] * 4
    assert acc.meta["needs_attributions"] is False and con.meta["needs_attributions"] is False
