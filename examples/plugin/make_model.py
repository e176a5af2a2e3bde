"""Write ``tiny_digits.pt``: a small CNN trained for a few seconds on scikit-learn's digits, saved as TorchScript.

It stands for "your own model": xbench only ever sees the archive (``{name: file, path: tiny_digits.pt}``).
Run: ``python examples/plugin/make_model.py``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from xbench.data import create


def main(out: Path = Path(__file__).with_name("tiny_digits.pt")) -> Path:
    torch.manual_seed(0)
    train = create("digits", "train")
    x, y = train.tensors()
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(256, 10))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(6):
        for i in range(0, len(x), 64):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[i:i + 64]), y[i:i + 64]).backward()
            opt.step()
    net.eval()
    torch.jit.trace(net, x[:2]).save(str(out))
    return out


if __name__ == "__main__":
    print(main())
