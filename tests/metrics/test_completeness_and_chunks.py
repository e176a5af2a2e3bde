"""Completeness on regular and X-models; chunking and the registered cells on a small CNN."""

from __future__ import annotations

import pytest
import torch

from xbench.methods import attribute
from xbench.metrics import (
    METRICS,
    abpc,
    completeness,
    deletion,
    infidelity,
    keep_remove,
    max_sensitivity,
    sensitivity_axiom,
    sensitivity_n,
)
from xbench.models.digits import DigitsCNN


def _big_biases(model: torch.nn.Module, value: float = 0.5) -> torch.nn.Module:
    with torch.no_grad():
        for m in model.modules():
            if getattr(m, "bias", None) is not None:
                m.bias.fill_(value)  # biases the size of the activations: sum(x * grad) misses their share
    return model


def test_completeness_ig_on_a_biased_model(cnn, batch):
    x, t = batch
    ig = attribute(cnn, x, t, "integrated_gradients", n_steps=128)
    gap = completeness(cnn, x, t, ig)
    # The integrand has ReLU kinks, so Gauss-Legendre converges slowly: 128 points leave ~1e-3 of
    # |F(x) - F(x')| typically and <0.1 on the worst of these images (0.02 with 512 points).
    assert gap.median() < 1e-2 and gap.max() < 0.1
    ixg = completeness(cnn, x, t, attribute(cnn, x, t, "input_x_gradient"))
    assert gap.median() < ixg.median() / 10


def test_completeness_x_gradient_exact_on_x_models_not_on_biased(batch):
    x, t = batch
    torch.manual_seed(0)
    xnet = DigitsCNN(num_classes=4, size=8, bias=False).eval()
    xg = attribute(xnet, x, t, "x_gradient")
    assert completeness(xnet, x, t, xg).max() < 1e-4  # float32 rounding only (Euler's theorem is exact)
    torch.manual_seed(0)
    biased = _big_biases(DigitsCNN(num_classes=4, size=8).eval())
    gap = completeness(biased, x, t, attribute(biased, x, t, "input_x_gradient"))
    # the bias share of F varies by image (from ~1% to > 100% here): every image is off by at least ten times
    # the float32 rounding the X-model shows above, and typically by > 10%
    assert gap.min() > 1e-3 and gap.median() > 0.1


def _all_metrics(model, x, t, a, max_batch):
    return {
        "deletion": deletion(model, x, t, a, steps=8, max_batch=max_batch),
        "keep_remove": torch.stack(list(keep_remove(model, x, t, a, max_batch=max_batch).values())),
        "abpc": abpc(model, x, t, a, max_batch=max_batch),
        "sensitivity_n": sensitivity_n(model, x, t, a, ns=[1, 8], n_subsets=6, max_batch=max_batch),
        "sensitivity_axiom": sensitivity_axiom(model, x, t, n_patches=5, max_batch=max_batch),
        "max_sensitivity": max_sensitivity(model, x, t, n_samples=4, max_batch=max_batch),
        "infidelity": infidelity(model, x, t, a, n_samples=4, max_batch=max_batch),
    }


def test_chunk_size_does_not_change_values(cnn, batch):
    # In float64: these tests check the chunk bookkeeping (indices, per-chunk random draws), not the kernels.
    # Another chunk runs the CNN on another batch shape, which float32 BLAS kernels round differently (by
    # machine); sensitivity_n's correlation of tiny output drops (one pixel of 64 removed) amplifies that
    # rounding ~1e3-fold (0.3483 vs 0.3482 in float32 here). In float64 the same amplification of ~1e-16
    # rounding stays far below the 1e-5 tolerance on any machine.
    cnn, x, t = cnn.double(), batch[0].double(), batch[1]
    a = attribute(cnn, x, t, "saliency")
    one_chunk = _all_metrics(cnn, x, t, a, max_batch=1000)
    odd_chunks = _all_metrics(cnn, x, t, a, max_batch=3)  # 7 images x k items: never divisible by 3
    for name, v in one_chunk.items():
        assert torch.allclose(v, odd_chunks[name], atol=1e-5, equal_nan=True), name


def test_single_sample_equals_its_row_in_the_batch(cnn, batch):
    cnn, x, t = cnn.double(), batch[0].double(), batch[1]  # float64: batch shape must not matter (see above)
    a = attribute(cnn, x, t, "saliency")
    full = _all_metrics(cnn, x, t, a, max_batch=64)
    single = _all_metrics(cnn, x[:1], t[:1], a[:1], max_batch=64)
    for name in ("deletion", "keep_remove", "abpc"):  # the noise-free metrics: same row
        assert torch.allclose(full[name][..., :1], single[name], atol=1e-5), name
    for name, v in single.items():
        assert v.shape[-1] == 1 or v.shape[0] == 1, name


@pytest.mark.parametrize("name", ["max_sensitivity", "sensitivity_axiom"])
def test_method_and_context_names_are_not_user_parameters(name):
    params = METRICS.get(name).params
    assert "method" not in params and "method_params" not in params and "perturb_func" not in params
