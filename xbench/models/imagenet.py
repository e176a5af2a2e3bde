"""ImageNet models: torchvision's (paper B) and paper A's X-AlexNet, X-VGG16 and (X-)Fixup ResNet-50.

``weights`` is one of: None (random init), a torchvision weight name (``"IMAGENET1K_V1"``,
``"DEFAULT"`` or ``"ResNet50_Weights.IMAGENET1K_V2"``) read from the local torch hub cache
(``$TORCH_HOME/hub/checkpoints``; downloaded only when the file is absent, the machine is online and
``$XBENCH_OFFLINE`` is unset), or a path to a state dict / checkpoint file.

The authors' regular ``alexnet`` and ``vgg16`` checkpoints use torchvision's layout: load them with
``alexnet``/``vgg16`` and ``weights: path``.  Their X-models load with ``xalexnet``, ``xvgg16`` and
``xfixup_resnet50``, their Fixup ResNet-50 with ``fixup_resnet50``.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..errors import DataNotFoundError, ParamError
from ..provenance import record_weights
from .base import MODELS
from .checkpoints import load_into, load_state_dict_file
from .fixup import fixup_resnet50_net
from .homogeneity import to_x

log = logging.getLogger(__name__)

_ENUM_LIKE = re.compile(r"^([A-Za-z0-9]+_Weights\.)?[A-Z][A-Z0-9_]*$")


def _online(host: str = "download.pytorch.org", timeout: float = 2.0) -> bool:
    """True when downloads are allowed (``$XBENCH_OFFLINE`` unset) and ``host`` answers on port 443."""
    if os.environ.get("XBENCH_OFFLINE"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def is_weight_name(weights: str) -> bool:
    """True when ``weights`` looks like a torchvision weight enum name rather than a file path."""
    return bool(_ENUM_LIKE.match(weights)) and not Path(weights).expanduser().exists()


def torchvision_state_dict(arch: str, weights: str, progress: bool = False) -> dict[str, torch.Tensor]:
    """The state dict of torchvision's ``arch`` weights ``weights`` from the hub cache (or downloaded).

    Raises ParamError for an unknown weight name and DataNotFoundError (one line: expected file, how
    to provide it) when the file is absent and cannot be downloaded.
    """
    from torchvision.models import get_model_weights

    enum = get_model_weights(arch)
    name = weights.split(".")[-1]
    names = [w.name for w in enum]
    if name == "DEFAULT":
        w = enum.DEFAULT
    elif name in names:
        w = enum[name]
    else:
        raise ParamError(f"weights: '{weights}' is not a torchvision weight of {arch}; "
                         f"known: {', '.join(names + ['DEFAULT'])}, or a path to a checkpoint file")
    filename = os.path.basename(w.url)
    path = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not path.is_file():
        if not _online():
            raise DataNotFoundError(
                f"weights: {arch} {w.name} is not in the torch hub cache ({path}) and downloads are off or the "
                f"machine is offline; copy {filename} (from {w.url}) there, or give weights: /path/to/file.pth")
        log.info("downloading %s %s to %s", arch, w.name, path)
        torch.hub.load_state_dict_from_url(w.url, progress=progress, check_hash=True)
    record_weights(path, "torch hub", filename)
    return torch.load(path, map_location="cpu", weights_only=True)


def _drop_biases(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # The authors initialise X-AlexNet / X-VGG16 from torchvision's weights with every bias removed.
    return {k: v for k, v in state.items() if not k.endswith("bias")}


def _load(model: nn.Module, arch: str, weights: str | None, x: bool, progress: bool,
          keep: Callable[[str], bool] = lambda k: True) -> nn.Module:
    """Load ``weights`` (None / torchvision name / path) into ``model``; bias-free when ``x``."""
    if weights is None:
        return model
    if is_weight_name(weights):
        state = torchvision_state_dict(arch, weights, progress)
        if x:
            state = _drop_biases(state)
        source = f"torchvision {arch} {weights}"
    else:
        state, source = load_state_dict_file(weights), f"'{weights}'"
    state = {k: v for k, v in state.items() if keep(k)}
    return load_into(model, state, source)


def _check_classes(weights: str | None, num_classes: int) -> None:
    if weights is not None and is_weight_name(weights) and num_classes != 1000:
        raise ParamError(f"num_classes: torchvision weights '{weights}' have 1000 classes, not {num_classes}; "
                         "use weights: null (random init) or a checkpoint trained for your classes")


def _torchvision(arch: str, *, x: bool, num_classes: int, weights: str | None, progress: bool,
                 **kwargs) -> nn.Module:
    """Build torchvision's ``arch`` (random init), convert to X when asked, then load ``weights``."""
    from torchvision import models as tvm

    _check_classes(weights, num_classes)
    model = getattr(tvm, arch)(weights=None, num_classes=num_classes, **kwargs)
    if x:
        # Raises NotHomogeneousError naming the first BatchNorm for ResNets and Inception.
        model = to_x(model)
    return _load(model, arch, weights, x, progress)


def _torchvision_factory(arch: str, always_x: bool = False,
                         default_weights: str | None = "IMAGENET1K_V1") -> Callable[..., nn.Module]:
    """A registry factory for torchvision's ``arch`` (the same signature for every architecture)."""

    def factory(*, x: bool = always_x, num_classes: int = 1000, weights: str | None = default_weights,
                device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
        return _torchvision(arch, x=x or always_x, num_classes=num_classes, weights=weights,
                            progress=progress).to(device)

    factory.__name__ = f"x{arch}" if always_x else arch
    factory.__doc__ = (f"torchvision {arch}. ``weights``: None | torchvision name (IMAGENET1K_V1, DEFAULT) | "
                       "checkpoint path; ``x=True`` removes the biases or raises NotHomogeneousError (BatchNorm).")
    return factory


for _arch, _desc in [
    ("alexnet", "torchvision AlexNet (no BatchNorm; x=True removes biases)"),
    ("vgg16", "torchvision VGG16 without BatchNorm (x=True removes biases)"),
    ("resnet18", "torchvision ResNet-18 (BatchNorm: no X-variant)"),
    ("resnet50", "torchvision ResNet-50, weights also IMAGENET1K_V2 (BatchNorm: no X-variant; see xfixup_resnet50)"),
]:
    MODELS.register(_arch, description=_desc, input_size=224, dataset="imagenet")(_torchvision_factory(_arch))


@MODELS.register("inception_v3", description="torchvision Inception-v3 (paper B fed it 224 px; native 299 px)",
                 input_size=299, min_input_size=75, dataset="imagenet")
def inception_v3(*, x: bool = False, num_classes: int = 1000, weights: str | None = "IMAGENET1K_V1",
                 transform_input: bool | None = None, device: str | torch.device = "cpu",
                 progress: bool = False) -> nn.Module:
    """torchvision Inception-v3 without the auxiliary head (inputs >= 75 px).

    ``transform_input`` (None: True for torchvision weights, as torchvision does) re-normalises
    ImageNet-normalised inputs to the [-1, 1] scaling Google's weights expect.
    """
    tvw = weights is not None and is_weight_name(weights)
    _check_classes(weights, num_classes)
    from torchvision.models import Inception3

    model = Inception3(num_classes=num_classes, aux_logits=False, init_weights=weights is None,
                       transform_input=tvw if transform_input is None else transform_input)
    if x:
        model = to_x(model)
    # The auxiliary classifier is only used in training; checkpoints may or may not have it.
    model = _load(model, "inception_v3", weights, x, progress, keep=lambda k: not k.startswith("AuxLogits."))
    return model.to(device)


for _arch, _title in (("alexnet", "AlexNet"), ("vgg16", "VGG16")):
    # Paper A's X-AlexNet / X-VGG16: torchvision's layout without biases (the authors' checkpoint keys).  Always
    # bias-free whatever ``x``; a torchvision weight name loads those weights minus biases (the authors' init).
    MODELS.register(f"x{_arch}", description=f"Paper A's X-{_title}: {_title} without biases (authors' checkpoint "
                    "layout; weights: their x*_model_best.pth.tar)", input_size=224, dataset="imagenet", paper="A")(
        _torchvision_factory(_arch, always_x=True, default_weights=None))


def _fixup(*, x: bool, num_classes: int, weights: str | None) -> nn.Module:
    if weights is not None and is_weight_name(weights):
        raise ParamError(f"weights: '{weights}': torchvision has no Fixup ResNet weights; give the authors' "
                         "checkpoint file (fixup_resnet50_model_best.pth.tar / xfixup_...) or None")
    model = fixup_resnet50_net(num_classes=num_classes, x=x)
    return model if weights is None else load_into(model, load_state_dict_file(weights), f"'{weights}'")


@MODELS.register("fixup_resnet50", description="Paper A's Fixup ResNet-50 (no BatchNorm; x=True: xfixup_resnet50)",
                 input_size=224, dataset="imagenet", paper="A")
def fixup_resnet50(*, x: bool = False, num_classes: int = 1000, weights: str | None = None,
                   device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
    """Fixup ResNet-50 with scalar biases; ``x=True`` gives the bias-free X-variant.  ``weights``: a checkpoint
    path (the authors' ``fixup_resnet50_model_best.pth.tar``) or None (Fixup init)."""
    return _fixup(x=x, num_classes=num_classes, weights=weights).to(device)


@MODELS.register("xfixup_resnet50", description="Paper A's X-Fixup ResNet-50: bias-free, homogeneous",
                 input_size=224, dataset="imagenet", paper="A")
def xfixup_resnet50(*, x: bool = True, num_classes: int = 1000, weights: str | None = None,
                    device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
    """X-Fixup ResNet-50 (always bias-free, whatever ``x``).  ``weights``: the authors'
    ``xfixup_resnet50_model_best.pth.tar`` (or any path) or None."""
    return _fixup(x=True, num_classes=num_classes, weights=weights).to(device)
