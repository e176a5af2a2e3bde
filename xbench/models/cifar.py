"""CIFAR-scale models (32x32 inputs): a Fixup ResNet-20 and a plain VGG-style CNN, each with an X-variant.

Neither uses BatchNorm by default, so the X-variant is the same network without additive terms,
as paper A does at ImageNet scale (Fixup ResNet-50, VGG16 without BN).  ``weights``: None (random
init, seeded) or a checkpoint path, e.g. from ``python -m xbench train cifar_vgg --data cifar10``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .base import MODELS
from .checkpoints import load_weights
from .fixup import fixup_resnet20_cifar
from .homogeneity import to_x

VGG_CFGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class CifarVGG(nn.Module):
    """VGG feature stack (3x3 conv + ReLU, 2x2 max-pool), global average pool, one linear layer.

    ``width`` scales every channel count (0.25 gives a fast model for tests); ``bias=False`` is the
    X-variant; ``batch_norm=True`` adds BatchNorm (then no X-variant exists).
    """

    def __init__(self, cfg: str = "vgg11", num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                 bias: bool = True, batch_norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for v in VGG_CFGS[cfg]:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            out = max(1, int(round(int(v) * width)))
            layers.append(nn.Conv2d(c, out, 3, padding=1, bias=bias and not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            c = out
        self.features = nn.Sequential(*layers)
        # Average pooling is homogeneous and lets the model take any input size >= 32.
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes, bias=bias)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


@MODELS.register("cifar_resnet20", description="Fixup ResNet-20 for 32x32 images (no BatchNorm; x=True: bias-free)",
                 input_size=32, dataset="cifar10")
def cifar_resnet20(*, x: bool = False, num_classes: int = 10, weights: str | None = None, in_channels: int = 3,
                   seed: int = 0, device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
    """Fixup ResNet-20 (3 stages x 3 basic blocks, 16/32/64 channels, 0.27 M parameters); regular: Fixup
    scalar biases and fc bias; ``x=True``: none of them.  ``weights``: None (Fixup init) or a checkpoint path."""
    torch.manual_seed(seed)
    model = fixup_resnet20_cifar(num_classes=num_classes, x=x, in_channels=in_channels)
    return (model if weights is None else load_weights(model, weights)).to(device)


@MODELS.register("cifar_vgg", description="Plain VGG-style CNN for 32x32 images (x=True: bias-free)",
                 input_size=32, dataset="cifar10", bounds={"width": (0.01, 4.0)})
def cifar_vgg(*, x: bool = False, num_classes: int = 10, weights: str | None = None,
              cfg: Literal["vgg11", "vgg13", "vgg16"] = "vgg11", width: float = 1.0, batch_norm: bool = False,
              in_channels: int = 3, seed: int = 0, device: str | torch.device = "cpu",
              progress: bool = False) -> nn.Module:
    """VGG-style CNN (``cfg`` layers, channels x ``width``).  ``x=True`` removes every bias (with
    ``batch_norm=True`` it raises NotHomogeneousError).  ``weights``: None or a checkpoint path."""
    torch.manual_seed(seed)
    model = CifarVGG(cfg, num_classes=num_classes, in_channels=in_channels, width=width, batch_norm=batch_norm)
    if x:
        model = to_x(model)
    return (model if weights is None else load_weights(model, weights)).to(device)
