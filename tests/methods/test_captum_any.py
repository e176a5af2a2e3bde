"""The Captum adapter: each public attribution class of captum.attr runs end to end or is refused with a reason."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xbench
from xbench.errors import ParamError
from xbench.methods import METHODS
from xbench.methods.captum_any import attribution_classes, feature_grid_mask, support

# Small settings per class so the loop stays fast on 2 cores; anything not listed runs with the class defaults.
SETTINGS = {
    "IntegratedGradients": {"params": {"n_steps": 8}},
    "LayerIntegratedGradients": {"layer": "features.2", "params": {"n_steps": 4}},
    "LayerConductance": {"layer": "features.2", "params": {"n_steps": 4}},
    "InternalInfluence": {"layer": "features.2", "params": {"n_steps": 4}},
    "LayerDeepLift": {"layer": "features.2"},
    "LayerDeepLiftShap": {"layer": "features.2"},
    "LayerGradientShap": {"layer": "features.2", "params": {"n_samples": 3}},
    "LayerGradientXActivation": {"layer": "features.2"},
    "LayerFeatureAblation": {"layer": "features.2"},
    "LayerLRP": {"layer": "features.2"},
    "GradientShap": {"params": {"n_samples": 3}},
    "Lime": {"feature_grid": 4, "params": {"n_samples": 24}},
    "KernelShap": {"feature_grid": 4, "params": {"n_samples": 12}},
    "FeatureAblation": {"feature_grid": 4},
    "FeaturePermutation": {"feature_grid": 4},
    "ShapleyValueSampling": {"feature_grid": 4, "params": {"n_samples": 2}},
    "ShapleyValues": {"feature_grid": 8},  # 4 features: 2^4 coalitions
    "Occlusion": {"params": {"sliding_window_shapes": [1, 4, 4], "strides": [1, 4, 4]}},
    "NoiseTunnel": {"init": {"attribution": "Saliency"}, "params": {"nt_type": "smoothgrad", "nt_samples": 3}},
}


class SmallCNN(nn.Module):
    """Conv-ReLU x2, pooling, linear; flattened functionally (Captum's LRP has no rule for nn.Flatten)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1),
                                      nn.ReLU(), nn.AdaptiveAvgPool2d(4))
        self.classifier = nn.Linear(96, 5)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    model = SmallCNN().eval()
    for p in model.parameters():
        p.requires_grad_(False)  # as the runner leaves a model: only input gradients are needed
    x = torch.randn(5, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    return model, x, model(x).argmax(1)


def test_every_captum_class_is_accepted_or_refused_with_a_reason():
    names = attribution_classes()
    accepted = [n for n in names if support(n)[0]]
    refused = {n: support(n)[1] for n in names if not support(n)[0]}
    assert all(refused.values())
    # the classes the issue names are accepted
    assert {"DeepLift", "FeatureAblation", "Lime", "LayerGradCam", "KernelShap", "LRP", "Deconvolution",
            "NoiseTunnel", "Occlusion"} <= set(accepted)
    assert all(n.startswith(("Neuron", "LLM", "RemoteLLM")) or n in ("Attribution", "GradientAttribution",
               "PerturbationAttribution", "LayerAttribution", "LimeBase", "DataLoaderAttribution", "LayerActivation",
               "LayerFeaturePermutation")
               for n in refused), refused


@pytest.mark.parametrize("name", [n for n in attribution_classes() if support(n)[0]])
def test_accepted_class_runs_end_to_end(cnn, name):
    model, x, t = cnn
    settings = {"class": name, **SETTINGS.get(name, {})}
    attr = xbench.attribute(model, x, t, "captum", **{("cls" if k == "class" else k): v for k, v in settings.items()})
    assert attr.shape == x.shape and torch.isfinite(attr).all()
    if name != "Lime":  # Lime's default Lasso may shrink every coefficient of a random network to zero
        assert attr.abs().sum() > 0


def test_adapter_equals_captum_called_directly_and_chunking_does_not_matter(cnn):
    from captum.attr import DeepLift, FeatureAblation

    model, x, t = cnn
    ours = xbench.attribute(model, x, t, "captum", cls="DeepLift", max_batch=2)
    ref = DeepLift(model).attribute(x.clone(), target=t)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)  # same arithmetic; chunks differ only by BLAS sums
    mask = feature_grid_mask(x, 4)
    ref = FeatureAblation(model).attribute(x.clone(), target=t, feature_mask=mask)
    for mb in (1, 3, 64):
        ours = xbench.attribute(model, x, t, "captum", cls="FeatureAblation", feature_grid=4, max_batch=mb)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_adapter_matches_xbench_methods(cnn):
    model, x, t = cnn
    torch.testing.assert_close(xbench.attribute(model, x, t, "captum", cls="Saliency", params={"abs": False}),
                               xbench.attribute(model, x, t, "saliency"), rtol=1e-6, atol=1e-7)
    # Gauss–Legendre IG with 16 nodes: the same quadrature in both, so agreement to float rounding
    ours = xbench.attribute(model, x, t, "captum", cls="IntegratedGradients",
                            params={"n_steps": 16, "method": "gausslegendre"})
    ref = xbench.attribute(model, x, t, "integrated_gradients", n_steps=16, method="gausslegendre")
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-6)


def test_layer_grad_cam_defaults_to_the_rectified_last_conv(cnn):
    from captum.attr import LayerAttribution, LayerGradCam

    model, x, t = cnn
    ours = xbench.attribute(model, x, t, "captum", cls="LayerGradCam")
    cam = LayerGradCam(model, model.features[3]).attribute(x, target=t)  # the ReLU after the last conv
    ref = LayerAttribution.interpolate(cam, (16, 16), interpolate_mode="bilinear")
    torch.testing.assert_close(ours, ref.expand_as(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("params, message", [
    ({"class": "DeepLiftt"}, "did you mean 'DeepLift'"),
    ({"class": "NeuronGradient"}, "explains one hidden neuron"),
    ({"class": "Lime", "params": {"n_sample": 3}}, "did you mean 'n_samples'"),
    ({"class": "Lime", "params": {"feature_mask": 3}}, "xbench sets 'feature_mask' itself"),
    ({"class": "LayerConductance"}, "attributes to a layer"),
    ({"class": "NoiseTunnel"}, "NoiseTunnel wraps another class"),
    ({"class": "DeepLift", "init": {"eps": 1e-9, "multiply": True}}, "'multiply' is not an argument"),
])
def test_bad_captum_settings_fail_at_validation(params, message):
    with pytest.raises(ParamError, match=message):
        METHODS.get("captum").resolve(params, where="methods[0]")


def test_unknown_layer_names_the_closest_module(cnn):
    model, x, t = cnn
    with pytest.raises(ParamError, match="not a submodule"):
        xbench.attribute(model, x, t, "captum", cls="LayerGradCam", layer="features.9")


def test_batching_knobs_set_by_xbench_are_recorded_and_noise_tunnel_draws_change():
    """max_batch sets NoiseTunnel's nt_samples_batch_size: recorded in params; its noise (not its distribution)
    then differs from a default Captum call with the same seed, and null keeps Captum's default."""
    from captum.attr import NoiseTunnel, Saliency

    from tests.conformance.checks import cnn, inputs

    net, (x, t) = cnn(), inputs(n=4)
    spec = {"cls": "NoiseTunnel", "init": {"attribution": "Saliency"},
            "params": {"nt_type": "smoothgrad", "nt_samples": 8, "stdevs": 0.3}}
    ours, info = xbench.attribute(net, x, t, "captum", max_batch=16, seed=4, return_info=True, **spec)
    assert info["params"]["set_by_xbench"] == {"nt_samples_batch_size": 4}  # 16 inputs per pass / 4 images
    torch.manual_seed(4)
    default = NoiseTunnel(Saliency(net)).attribute(x, target=t, nt_type="smoothgrad", nt_samples=8, stdevs=0.3)
    gap = float((ours - default).abs().max() / default.abs().max())
    assert gap > 0.01  # other noise draws: the maps differ pointwise
    spec["params"]["nt_samples_batch_size"] = None
    kept, info = xbench.attribute(net, x, t, "captum", max_batch=16, seed=4, return_info=True, **spec)
    assert info["params"]["set_by_xbench"] == {}
    torch.testing.assert_close(kept, default, rtol=1e-5, atol=1e-6)  # Captum's own call, same seed


def test_describe_captum_says_max_batch_sets_the_noise_tunnel_knob():
    from xbench.cli import describe_entry

    text = describe_entry("captum")
    assert "nt_samples_batch_size" in text and "set_by_xbench" in text and "NoiseTunnel" in text
