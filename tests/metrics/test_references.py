"""Same inputs and settings as the references: Quantus PixelFlipping, Captum sensitivity_max and infidelity.

Tolerances: the same float32 forward passes in a different batch composition differ by a few
ulps (~1e-7 relative); 1e-5 absolute on probabilities and ratios of order 1 leaves room for that
and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xbench.methods import attribute
from xbench.metrics import deletion, infidelity, max_sensitivity
from xbench.metrics.base import ChunkRNG

captum_metrics = pytest.importorskip("captum.metrics")


@pytest.mark.parametrize("features_in_step", [4, 16])
def test_deletion_curve_equals_quantus_pixel_flipping(cnn, batch, features_in_step):
    quantus = pytest.importorskip("quantus")
    x, t = batch
    # continuous random attributions: no ties, whose order Quantus' unstable argsort would leave open
    a = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    steps = 64 // features_in_step
    _, _, ours = deletion(cnn, x, t, a, steps=steps, substrate="zero", output="softmax", return_curves=True)
    metric = quantus.PixelFlipping(features_in_step=features_in_step, perturb_baseline=0.0, abs=False,
                                   normalise=False, disable_warnings=True, display_progressbar=False)
    theirs = metric(model=cnn, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(), softmax=True,
                    device="cpu", channel_first=True)
    theirs = torch.tensor(np.asarray(theirs), dtype=ours.dtype)
    # Quantus' curve starts after the first step; ours has the clean image as point 0
    assert theirs.shape == ours[:, 1:].shape
    assert (ours[:, 1:] - theirs).abs().max() < 1e-5


def captum_saliency(model):
    """Captum-style explanation function (it passes a tuple of inputs, under no_grad)."""

    def explain(inp, target):
        with torch.enable_grad():
            if isinstance(inp, tuple):
                return (attribute(model, inp[0], target, "saliency"),)
            return attribute(model, inp, target, "saliency")

    return explain


@pytest.mark.parametrize("max_batch", [70, 4])
def test_max_sensitivity_equals_captum_given_same_noise(cnn, batch, max_batch):
    x, t = batch
    seed, radius = 3, 0.05

    def same_noise(inputs, r):  # the draw ChunkRNG makes: one item-major uniform stream from the seed
        return inputs + ChunkRNG(seed, inputs.device).uniform(tuple(inputs.shape), -r, r, inputs.dtype)

    theirs = captum_metrics.sensitivity_max(captum_saliency(cnn), x, perturb_func=same_noise, perturb_radius=radius,
                                            n_perturb_samples=10, target=t)
    # max_batch 4 splits the 70 (image, noise) items unevenly: on CPU the stream does not depend on it
    ours = max_sensitivity(cnn, x, t, method="saliency", radius=radius, n_samples=10, seed=seed,
                           max_batch=max_batch)
    assert (ours - theirs).abs().max() < 1e-5
    # and the default path (no perturb_func) is the same draw
    assert (ours - max_sensitivity(cnn, x, t, radius=radius, seed=seed,
                                   perturb_func=lambda v, r: same_noise(v, r))).abs().max() == 0


@pytest.mark.parametrize("normalize", [False, True])
def test_infidelity_equals_captum_for_same_perturbations(cnn, batch, normalize):
    x, t = batch
    a = attribute(cnn, x, t, "input_x_gradient")

    def perturb(inputs):  # deterministic per element, so chunking cannot change it
        pert = 0.1 * torch.sin(7 * inputs + 1)
        return pert, inputs - pert

    theirs = captum_metrics.infidelity(cnn, perturb, x, a, target=t, n_perturb_samples=5, normalize=normalize)
    ours = infidelity(cnn, x, t, a, n_samples=5, normalize=normalize, perturb_func=perturb, max_batch=4)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-9)


def test_infidelity_default_noise_equals_captum_with_that_noise(cnn, batch):
    x, t = batch
    a = attribute(cnn, x, t, "saliency")

    def gaussian(inputs):
        pert = ChunkRNG(5, inputs.device).normal(tuple(inputs.shape), 0.1, inputs.dtype)
        return pert, inputs - pert

    theirs = captum_metrics.infidelity(cnn, gaussian, x, a, target=t, n_perturb_samples=10, normalize=True)
    ours = infidelity(cnn, x, t, a, seed=5, max_batch=3)  # uneven chunks: Box-Muller on item-major uniforms
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-9)
