"""X-Gradient's homogeneity check: what its tolerance lets through, and that it says so."""

from __future__ import annotations

import warnings

import pytest
import torch

import xbench
from tests.conformance.checks import cnn, inputs
from xbench.errors import NotHomogeneousError
from xbench.methods.gradient import HOMOGENEITY_TOL, HomogeneityWarning
from xbench.models.homogeneity import homogeneity_error


def _tiny_biases(size: float, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    net = cnn(bias=True, dtype=dtype)
    with torch.no_grad():
        for m in net.modules():
            if getattr(m, "bias", None) is not None:
                m.bias.copy_(size * torch.sign(torch.randn(m.bias.shape, generator=torch.Generator().manual_seed(1))))
    return net


def test_accepted_small_biases_warn_with_the_ig_error_they_allow():
    net, (x, t) = _tiny_biases(1e-5), inputs(n=8, dtype=torch.float64)
    err = homogeneity_error(net, x)
    assert 1e-5 < err < HOMOGENEITY_TOL  # accepted by the check
    with pytest.warns(HomogeneityWarning, match=r"deviates from a\*F\(x\) by 6\.\de-05 .*accepted, tolerance 0\.0001"
                                                r".*differs from IG") as rec:
        xg = xbench.attribute(net, x, t, "x_gradient")
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    ig = xbench.attribute(net, x, t, "integrated_gradients", n_steps=256, method="gausslegendre")
    # what the docstring states: the map is off IG by far more than err (0.49% of IG's max measured)
    rel = float(((xg - ig).abs().flatten(1).max(1).values / ig.abs().flatten(1).max(1).values).max())
    assert 10 * err < rel < 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xbench.attribute(net, x, t, "x_gradient")  # checked once per model state: no second warning


def test_bias_free_model_gives_no_warning_and_equals_ig():
    net, (x, t) = cnn(bias=False, dtype=torch.float64), inputs(n=4, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xg = xbench.attribute(net, x, t, "x_gradient")
    ig = xbench.attribute(net, x, t, "integrated_gradients", n_steps=8)
    torch.testing.assert_close(xg, ig, atol=1e-12, rtol=1e-9)


def test_refusal_states_tolerance_and_ig_error():
    net, (x, t) = _tiny_biases(1e-2), inputs(n=4, dtype=torch.float64)
    with pytest.raises(NotHomogeneousError, match=r"tolerance 0\.0001.*differs from IG.*X-variant") as err:
        xbench.attribute(net, x, t, "x_gradient")
    assert "\n" not in str(err.value)
