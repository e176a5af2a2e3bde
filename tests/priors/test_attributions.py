"""Differentiable prior attributions: double backward reaches the weights, EG uses exactly k references."""

import pytest
import torch
from torch import nn

from xbench.errors import NotHomogeneousError
from xbench.priors.attributions import expected_gradients, prior_attribution, require_bias_free, rrr, x_gradient
from xbench.priors.penalties import sparsity
from xbench.priors.run import roc_auc


def _mlp(bias: bool) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16, bias=bias), nn.ReLU(), nn.Linear(16, 8, bias=bias), nn.ReLU(),
                         nn.Linear(8, 1, bias=bias))


def _grads(model: nn.Module, loss: torch.Tensor) -> list[torch.Tensor]:
    return [g.clone() for g in torch.autograd.grad(loss, list(model.parameters()))]


def test_x_gradient_prior_reaches_the_weights_through_double_backward():
    model = _mlp(bias=False)
    torch.manual_seed(1)
    x, y = torch.randn(32, 6), torch.randint(0, 2, (32,)).float()
    target = torch.zeros(32, dtype=torch.long)
    xin = x.clone().requires_grad_(True)
    out = model(xin)
    task = nn.functional.binary_cross_entropy_with_logits(out[:, 0], y)
    a = x_gradient(model, xin, target, outputs=out)
    assert a.requires_grad  # still in the graph: the penalty can be differentiated w.r.t. the weights
    prior_only = _grads(model, sparsity(a))
    assert all(g.abs().sum() > 0 for g in prior_only)  # every layer's weights get a prior gradient
    plain = _grads(model, nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], y))
    xin = x.clone().requires_grad_(True)
    out = model(xin)
    full = _grads(model, nn.functional.binary_cross_entropy_with_logits(out[:, 0], y)
                  + 10.0 * sparsity(x_gradient(model, xin, target, outputs=out)))
    assert all(not torch.allclose(f, p) for f, p in zip(full, plain))
    assert task.requires_grad
    # the value is x * dF/dx of the plain (graph-free) gradient
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xr).sum(), xr)
    assert torch.allclose(x_gradient(model, x, target), x * g, atol=1e-6)


class CountingModel(nn.Module):
    """Counts forward calls and the rows they see."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.calls, self.rows = inner, 0, 0

    def forward(self, x):
        self.calls += 1
        self.rows += len(x)
        return self.inner(x)


@pytest.mark.parametrize("k", [1, 3, 8, 128])
def test_expected_gradients_uses_exactly_k_references(k):
    model = CountingModel(_mlp(bias=True))
    x, refs = torch.randn(5, 6), torch.randn(40, 6)
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    a = expected_gradients(model, x, torch.zeros(5, dtype=torch.long), references=refs, k=k, generator=gen)
    assert a.shape == x.shape and a.requires_grad
    assert (model.calls, model.rows) == (1, 5 * k)  # one pass over exactly N*k interpolation points
    # the generator advanced by exactly k reference indices and k scales per sample
    replay = torch.Generator().set_state(state)
    torch.randint(40, (5 * k,), generator=replay)
    torch.rand(5 * k, generator=replay)
    assert torch.equal(replay.get_state(), gen.get_state())


def test_expected_gradients_rejects_k_out_of_range():
    with pytest.raises(ValueError, match="k: 129"):
        expected_gradients(_mlp(True), torch.randn(2, 6), torch.zeros(2, dtype=torch.long),
                           references=torch.randn(4, 6), k=129)


def test_expected_gradients_on_a_linear_model_is_x_minus_mean_reference_times_w():
    lin = nn.Linear(3, 1, bias=True)
    x, refs = torch.randn(4, 3), torch.randn(1, 3)  # one reference: EG = (x - r) * w exactly
    a = expected_gradients(lin, x, torch.zeros(4, dtype=torch.long), references=refs, k=5)
    assert torch.allclose(a, (x - refs) * lin.weight.detach(), atol=1e-6)


def test_rrr_single_logit_is_one_minus_two_sigmoid_times_gradient():
    lin = nn.Linear(3, 1, bias=True)
    x = torch.randn(4, 3)
    z = lin(x).detach()[:, 0]
    expected = (1 - 2 * torch.sigmoid(z))[:, None] * lin.weight.detach()
    assert torch.allclose(rrr(lin, x, torch.zeros(4, dtype=torch.long)), expected, atol=1e-6)


def test_dispatch_and_bias_check():
    with pytest.raises(ValueError, match="did you mean 'gradient'"):
        prior_attribution("gradent", _mlp(True), torch.randn(2, 6), torch.zeros(2, dtype=torch.long))
    with pytest.raises(NotHomogeneousError, match="bias"):
        require_bias_free(_mlp(True), "x_gradient")
    require_bias_free(_mlp(False), "x_gradient")


def test_roc_auc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    torch.manual_seed(0)
    s = torch.randint(0, 5, (200,)).float()
    y = torch.randint(0, 2, (200,))
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y.numpy(), s.numpy()))
