"""Fixup ResNets (Zhang et al. 2019): residual networks without normalisation layers.

Paper A replaces the BatchNorm ResNet-50 by a Fixup ResNet-50 because BatchNorm's shift breaks
homogeneity.  The regular Fixup network has scalar biases (``bias1a``, ``bias1b``, ...) and a
scalar ``scale`` per block; the X-variant (``x=True``) has neither, and no fc bias.  Parameter
names follow the authors' ``imagenet/models/fixup_resnet.py`` (github visinf/fast-axiomatic-attribution)
so their released ``*fixup_resnet50_model_best.pth.tar`` checkpoints load into these classes.
The same classes, with a 3x3 stem and 16/32/64 channels, give the CIFAR ResNet-20.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _scalar(value: float, enabled: bool) -> nn.Parameter | None:
    """A learnable scalar (shape [1]) or None when the block is bias-free."""
    return nn.Parameter(torch.full((1,), float(value))) if enabled else None


def _add(t: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    # None after to_x() or in the X-variant: the additive term is gone, homogeneity holds.
    return t if bias is None else t + bias


def _he_std(conv: nn.Conv2d) -> float:
    """He-normal standard deviation for ``conv`` over its fan-out (as Fixup's reference code)."""
    return math.sqrt(2.0 / (conv.weight.shape[0] * conv.weight[0, 0].numel()))


class FixupBasicBlock(nn.Module):
    """Two 3x3 convolutions with Fixup scalar biases and scale (regular) or none (``x=True``)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 x: bool = False):
        super().__init__()
        biased = not x
        self.bias1a = _scalar(0.0, biased)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bias1b = _scalar(0.0, biased)
        self.relu = nn.ReLU(inplace=True)
        self.bias2a = _scalar(0.0, biased)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.scale = _scalar(1.0, biased)
        self.bias2b = _scalar(0.0, biased)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = _add(x, self.bias1a)
        out = self.relu(_add(self.conv1(x_in), self.bias1b))
        out = self.conv2(_add(out, self.bias2a))
        if self.scale is not None:
            out = out * self.scale
        out = _add(out, self.bias2b)
        identity = x if self.downsample is None else self.downsample(x_in)
        return self.relu(out + identity)

    def fixup_init(self, num_layers: int) -> None:
        nn.init.normal_(self.conv1.weight, 0.0, _he_std(self.conv1) * num_layers ** -0.5)
        nn.init.zeros_(self.conv2.weight)  # each residual branch starts as the identity


class FixupBottleneck(nn.Module):
    """1x1-3x3-1x1 bottleneck with Fixup scalar biases and scale (regular) or none (``x=True``)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 x: bool = False):
        super().__init__()
        biased = not x
        self.bias1a = _scalar(0.0, biased)
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bias1b = _scalar(0.0, biased)
        self.bias2a = _scalar(0.0, biased)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bias2b = _scalar(0.0, biased)
        self.bias3a = _scalar(0.0, biased)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.scale = _scalar(1.0, biased)
        self.bias3b = _scalar(0.0, biased)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = _add(x, self.bias1a)
        out = self.relu(_add(self.conv1(x_in), self.bias1b))
        out = self.relu(_add(self.conv2(_add(out, self.bias2a)), self.bias2b))
        out = self.conv3(_add(out, self.bias3a))
        if self.scale is not None:
            out = out * self.scale
        out = _add(out, self.bias3b)
        identity = x if self.downsample is None else self.downsample(x_in)
        return self.relu(out + identity)

    def fixup_init(self, num_layers: int) -> None:
        for conv in (self.conv1, self.conv2):
            nn.init.normal_(conv.weight, 0.0, _he_std(conv) * num_layers ** -0.25)
        nn.init.zeros_(self.conv3.weight)


class FixupResNet(nn.Module):
    """A Fixup ResNet; ``stem="imagenet"`` (7x7/2 conv + max-pool, widths 64..512) or ``"cifar"``
    (3x3 conv, widths 16/32/64).  ``x=True`` builds the bias-free X-variant.  Returns logits."""

    def __init__(self, block: type[FixupBasicBlock] | type[FixupBottleneck], layers: list[int],
                 num_classes: int = 1000, x: bool = False, stem: str = "imagenet", in_channels: int = 3):
        super().__init__()
        self.num_layers = sum(layers)
        widths = (64, 128, 256, 512) if stem == "imagenet" else (16, 32, 64)
        self.inplanes = widths[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bias1 = _scalar(0.0, not x)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if stem == "imagenet" else nn.Identity()
        for i, (w, n) in enumerate(zip(widths, layers)):
            setattr(self, f"layer{i + 1}", self._make_layer(block, w, n, stride=1 if i == 0 else 2, x=x))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.bias2 = _scalar(0.0, not x)
        self.fc = nn.Linear(widths[len(layers) - 1] * block.expansion, num_classes, bias=not x)
        self._stages = len(layers)
        for m in self.modules():
            if isinstance(m, (FixupBasicBlock, FixupBottleneck)):
                m.fixup_init(self.num_layers)
                if m.downsample is not None:
                    nn.init.normal_(m.downsample.weight, 0.0, _he_std(m.downsample))
        nn.init.zeros_(self.fc.weight)
        if self.fc.bias is not None:
            nn.init.zeros_(self.fc.bias)

    def _make_layer(self, block, planes: int, blocks: int, stride: int, x: bool) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            # A bare 1x1 convolution (no Sequential): the checkpoints call it 'downsample.weight'.
            downsample = nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False)
        layers = [block(self.inplanes, planes, stride, downsample, x=x)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, x=x) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(_add(self.conv1(x), self.bias1)))
        for i in range(self._stages):
            x = getattr(self, f"layer{i + 1}")(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(_add(x, self.bias2))


def fixup_resnet50_net(num_classes: int = 1000, x: bool = False) -> FixupResNet:
    """Fixup ResNet-50 (bottleneck blocks 3-4-6-3), the authors' ``fixup_resnet50``/``xfixup_resnet50``."""
    return FixupResNet(FixupBottleneck, [3, 4, 6, 3], num_classes=num_classes, x=x)


def fixup_resnet20_cifar(num_classes: int = 10, x: bool = False, in_channels: int = 3) -> FixupResNet:
    """Fixup ResNet-20 for 32x32 inputs (3 stages of 3 basic blocks, 16/32/64 channels)."""
    return FixupResNet(FixupBasicBlock, [3, 3, 3], num_classes=num_classes, x=x, stem="cifar",
                       in_channels=in_channels)
