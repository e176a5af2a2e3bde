"""logit_path: F_t along x' + a (x - x') equals direct forward passes at each a, and its reach points are exact."""

from __future__ import annotations

import torch
from torch import nn

from xbench.metrics.path_logits import _first_reach, logit_path


def test_logit_path_equals_direct_forward_passes_in_any_chunking():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.Tanh(), nn.Linear(6, 3)).eval()
    x = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0, 1, 2, 0])
    a, norm, raw = logit_path(net, x, t, n_points=11, max_batch=5)
    with torch.no_grad():
        direct = torch.stack([net(ak * x).gather(1, t[:, None]).squeeze(1) for ak in a], 1)
    torch.testing.assert_close(raw, direct, rtol=1e-6, atol=1e-6)  # same forward, other batch shapes
    torch.testing.assert_close(norm[:, 0], torch.zeros(4))
    torch.testing.assert_close(norm[:, -1], torch.ones(4))
    _, _, raw_one = logit_path(net, x, t, n_points=11, max_batch=1)
    torch.testing.assert_close(raw_one, raw, rtol=1e-6, atol=1e-6)


def test_first_reach_is_the_first_point_above_the_level():
    a = torch.linspace(0, 1, 5)
    curve = torch.tensor([[0.0, 0.2, 0.6, 0.9, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert _first_reach(a, curve, 0.5).tolist() == [0.5, 1.0]  # never reached: 1
