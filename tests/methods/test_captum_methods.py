"""The Captum wrappers give Captum's numbers, chunk over images, and seed without touching global RNG state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import GuidedBackprop, LayerAttribution, LayerGradCam, NoiseTunnel, Occlusion, Saliency

import xbench
from xbench.errors import ParamError
from xbench.methods.base import target_outputs

ATOL = 1e-5  # same arithmetic as Captum, only the grouping of inputs into passes differs


def test_smoothgrad_equals_noise_tunnel_and_leaves_rng_alone(cnn, batch):
    x, t = batch
    torch.manual_seed(123)
    np.random.seed(123)
    before, np_before = torch.get_rng_state(), np.random.get_state()[1].copy()
    ours = xbench.attribute(cnn, x, t, "smoothgrad", n_samples=4, stdev=0.3, seed=7)
    assert torch.equal(torch.get_rng_state(), before) and (np.random.get_state()[1] == np_before).all()
    torch.manual_seed(7)  # one Captum call for the whole batch (max_batch 128 >= 5 images x 4 samples)
    ref = NoiseTunnel(Saliency(cnn)).attribute(x, nt_type="smoothgrad", nt_samples=4, stdevs=0.3,
                                               nt_samples_batch_size=4, target=t, abs=False)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=1e-4)


def test_smoothgrad_without_noise_is_the_gradient(cnn, batch):
    x, t = batch
    sg = xbench.attribute(cnn, x, t, "smoothgrad", n_samples=3, stdev=0.0, max_batch=2)
    torch.testing.assert_close(sg, xbench.attribute(cnn, x, t, "saliency"), atol=ATOL, rtol=1e-4)


def test_gradient_shap_seeded_and_uses_references(cnn, batch, references):
    x, t = batch
    a = xbench.attribute(cnn, x, t, "gradient_shap", n_samples=8, seed=1, references=references)
    b = xbench.attribute(cnn, x, t, "gradient_shap", n_samples=8, seed=1, references=references)
    c = xbench.attribute(cnn, x, t, "gradient_shap", n_samples=8, seed=1)  # zero baseline
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_occlusion_equals_captum_and_whole_window_is_output_drop(cnn, batch):
    x, t = batch
    ours = xbench.attribute(cnn, x, t, "occlusion", window=4, stride=2, max_batch=4)
    ref = Occlusion(cnn).attribute(x, sliding_window_shapes=(3, 4, 4), strides=(3, 2, 2), baselines=0.0, target=t)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=1e-4)
    whole = xbench.attribute(cnn, x, t, "occlusion", window=8, stride=8)
    drop = target_outputs(cnn, x, t) - target_outputs(cnn, torch.zeros_like(x), t)
    torch.testing.assert_close(whole, drop.view(-1, 1, 1, 1).expand_as(x), atol=ATOL, rtol=1e-4)


def test_grad_cam_default_layer_upsampled_over_channels(cnn, batch):
    x, t = batch
    ours, info = xbench.attribute(cnn, x, t, "grad_cam", max_batch=2, return_info=True)
    # cnn[4]: the ReLU after the last Conv2d (cnn[3]), the rectified output of the last conv block
    assert info["params"]["layer"] == "4"
    cam = LayerGradCam(cnn, cnn[4]).attribute(x, target=t, relu_attributions=True)
    ref = LayerAttribution.interpolate(cam, (8, 8), interpolate_mode="bilinear").expand_as(x)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=1e-4)
    assert (ours >= 0).all() and torch.equal(ours[:, 0], ours[:, 2])
    named = xbench.attribute(cnn, x, t, "grad_cam", layer="0")
    assert not torch.allclose(named, ours)
    # the pre-ReLU conv (the old default) gives a different map: Grad-CAM's weights are the mean
    # gradients w.r.t. the feature map, and the ReLU zeroes the gradient of the negative activations
    pre = xbench.attribute(cnn, x, t, "grad_cam", layer="3")
    assert not torch.allclose(pre, ours, atol=1e-4)


def test_grad_cam_default_layer_is_post_activation_on_digits_and_resnet_blocks():
    from torchvision.models import resnet18

    from xbench.methods.captum_methods import cam_layer
    from xbench.models.digits import DigitsCNN

    assert cam_layer(DigitsCNN(size=32).eval(), torch.zeros(1, 1, 32, 32)) == "features.4"
    # a ResNet's block output (after the residual add and its ReLU), as pytorch-grad-cam's layer4[-1]
    assert cam_layer(resnet18(num_classes=3).eval(), torch.zeros(1, 3, 64, 64)) == "layer4"


def test_grad_cam_unknown_layer_is_one_line(cnn, batch):
    x, t = batch
    with pytest.raises(ParamError) as err:
        xbench.attribute(cnn, x, t, "grad_cam", layer="O")
    assert "'O' is not a submodule" in str(err.value) and "\n" not in str(err.value)


def test_guided_backprop_equals_captum(cnn, batch):
    x, t = batch
    ref = GuidedBackprop(cnn).attribute(x.clone(), target=t)
    torch.testing.assert_close(xbench.attribute(cnn, x, t, "guided_backprop", max_batch=3), ref)
