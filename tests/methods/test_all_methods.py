"""Every registered method on the quickstart digits models and a torchvision ResNet-18 at 32x32 (CPU).

Shapes, dtypes and devices are preserved, results are finite and deterministic, and chunking
(``max_batch``) does not change them.  Settings are cut down so that each case takes ~1 s.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

import xbench
from xbench.errors import NotHomogeneousError, ParamError, UnknownNameError
from xbench.methods import available

# cheap settings per method (defaults for the rest)
FAST = {
    "integrated_gradients": {"n_steps": 8}, "split_ig": {"n_steps": 8}, "expected_gradients": {"k": 4},
    "smoothgrad": {"n_samples": 4}, "gradient_shap": {"n_samples": 4}, "occlusion": {"window": 16, "stride": 16},
    "guided_ig": {"n_steps": 4}, "idg": {"n_steps": 6}, "blur_ig": {"n_steps": 6, "max_sigma": 8.0},
}
# methods whose random draws come from a noise stream that Captum splits by chunk: same seed, same
# max_batch -> same result; another max_batch -> another draw of the same distribution
CHUNK_DEPENDENT = {"smoothgrad", "gradient_shap"}
# float32 sums regrouped into other chunks: ~1e-7 relative per term; 1e-4 relative bounds it for
# ResNet-18's deeper accumulation (BatchNorm in eval mode does not couple samples)
RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def digits_inputs():
    from xbench.data import create

    x, y = create("digits", "test").tensors(4)[:2]
    refs = create("digits", "train").tensors(32)[0]
    return x.float(), y.long(), refs.float()


@pytest.fixture(scope="module", params=[False, True], ids=["digits_cnn", "digits_cnn_x"])
def digits_model(request):
    return request.param, xbench.models.create("digits_cnn", x=request.param)


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval()


def run(model, x, t, name, refs, **extra):
    # a method with a required parameter (captum's class) declares an example setting at register
    params = {**xbench.methods.METHODS.get(name).meta.get("example", {}), **FAST.get(name, {}), **extra}
    if name == "x_gradient" and not xbench.models.is_homogeneous(model):
        params["check"] = False  # the refusal itself is tested below and in test_path.py
    return xbench.attribute(model, x, t, name, references=refs, return_info=True, **params)


def check_runs(model, x, t, name, refs):
    attr, info = run(model, x, t, name, refs)
    assert attr.shape == x.shape and attr.dtype == x.dtype and attr.device == x.device
    assert torch.isfinite(attr).all() and not attr.requires_grad and not x.requires_grad
    for key, value in info.items():
        if key != "params":
            assert value.shape == (x.shape[0],), key
    again, _ = run(model, x, t, name, refs)
    torch.testing.assert_close(attr, again, rtol=0, atol=0)  # deterministic (seeded where random)
    if name not in CHUNK_DEPENDENT and "max_batch" in xbench.methods.METHODS.get(name).params:
        small, _ = run(model, x, t, name, refs, max_batch=3)
        torch.testing.assert_close(small, attr, rtol=RTOL, atol=ATOL * max(1.0, attr.abs().max().item()))


@pytest.mark.parametrize("name", available())
def test_every_method_on_digits(digits_model, digits_inputs, name):
    _, model = digits_model
    x, y, refs = digits_inputs
    check_runs(model, x, y, name, refs)


@pytest.mark.parametrize("name", available())
def test_every_method_on_resnet18_32px(resnet, name):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 32, 32, generator=gen)
    refs = torch.randn(8, 3, 32, 32, generator=gen)
    check_runs(resnet, x, torch.tensor([3, 7]), name, refs)


def test_x_gradient_refuses_resnet_naming_a_layer(resnet):
    with pytest.raises(NotHomogeneousError, match="layer '"):
        xbench.attribute(resnet, torch.randn(2, 3, 32, 32), 0, "x_gradient")


@pytest.mark.parametrize("name", ["smoothgrad", "gradient_shap", "expected_gradients", "random"])
def test_seed_changes_random_methods(cnn, batch, references, name):
    x, t = batch
    a = xbench.attribute(cnn, x, t, name, seed=0, references=references, **FAST.get(name, {}))
    b = xbench.attribute(cnn, x, t, name, seed=1, references=references, **FAST.get(name, {}))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("call, error, text", [
    (dict(method="split_igg"), UnknownNameError, "did you mean 'split_ig'"),
    (dict(method="split_ig", ratio=1.5), ParamError, "ratio: 1.5 is out of range"),
    (dict(method="split_ig", part="middle"), ParamError, "allowed: 'left' | 'right' | 'full'"),
    (dict(method="expected_gradients", k=0, references=torch.zeros(1, 3, 8, 8)), ParamError, "k: 0 is out of range"),
    (dict(method="occlusion", windw=3), ParamError, "did you mean 'window'"),
    (dict(method="guided_ig", fraction="a lot"), ParamError, "fraction: 'a lot' has type str"),
    (dict(method="integrated_gradients", baseline="grey"), ParamError, "'grey' is not a baseline"),
])
def test_bad_names_and_params_are_one_line_errors(cnn, batch, call, error, text):
    x, t = batch
    call = dict(call)
    with pytest.raises(error) as err:
        xbench.attribute(cnn, x, t, call.pop("method"), **call)
    assert text in str(err.value) and "\n" not in str(err.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", available())
def test_cuda_matches_cpu(cnn, batch, references, name):
    x, t = batch
    cpu, _ = run(cnn, x, t, name, references)
    gpu, _ = run(cnn.cuda(), x.cuda(), t.cuda(), name, references)
    assert gpu.device.type == "cuda"
    if name not in {"smoothgrad", "gradient_shap", "random"}:  # those draw from the device's own generator
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-4)  # TF32/cuDNN reorderings
