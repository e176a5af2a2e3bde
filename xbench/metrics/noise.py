"""Noise seeded per sample: draw j of sample x is a function of (seed, x's values, j) only.

A stream generator (:class:`~xbench.metrics.base.ChunkRNG`) gives an image the draws of its position in the
batch, so the same image in another batch, or alone, sees other noise.  Here every value is a counter-based
hash (SplitMix64's finaliser, vectorised in int64 tensor arithmetic on the device, no Python loop): the key of
a sample is a hash of the seed and its input's bit pattern, the counter the (draw, element) index.  The values
are the same on any chunking, batch composition or thread count; they differ from ``torch.rand``'s.
"""

from __future__ import annotations

from typing import Literal

import torch

_M1 = 0xBF58476D1CE4E5B9 - (1 << 64)  # SplitMix64's constants as signed int64
_M2 = 0x94D049BB133111EB - (1 << 64)
_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)


def _shr(z: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 values (torch's >> is arithmetic: mask the sign-extended bits)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def _mix(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's finaliser (int64 multiplications wrap around, as the unsigned original)."""
    z = (z ^ _shr(z, 30)) * _M1
    z = (z ^ _shr(z, 27)) * _M2
    return z ^ _shr(z, 31)


def sample_keys(inputs: torch.Tensor, seed: int) -> torch.Tensor:
    """One int64 key per sample [N]: a hash of ``seed`` and the bits of the sample's values (float32)."""
    bits = inputs.detach().flatten(1).float().contiguous().view(torch.int32).to(torch.int64)
    pos = torch.arange(bits.shape[1], device=inputs.device, dtype=torch.int64)
    # each value hashed with its position, summed (wrapping): equal inputs give equal keys, anything else not
    return _mix(_mix(bits + pos * _GOLDEN).sum(1) + _mix(torch.tensor(int(seed), device=inputs.device)))


def uniform01(keys: torch.Tensor, draw: torch.Tensor, n: int) -> torch.Tensor:
    """U[0, 1) values [k, n] (float64, 53 random bits) for items with sample ``keys`` [k] and ``draw`` numbers [k]."""
    counter = draw.to(torch.int64)[:, None] * n + torch.arange(n, device=keys.device, dtype=torch.int64)
    z = _mix(_mix(keys[:, None] ^ (counter * _GOLDEN)) + _GOLDEN)
    return _shr(z, 11).double() * 2.0 ** -53


def sample_noise(keys: torch.Tensor, draw: torch.Tensor, shape: tuple[int, ...], radius: float,
                 kind: Literal["uniform", "gaussian"], dtype: torch.dtype) -> torch.Tensor:
    """Noise [k, *shape] in ``dtype``: U[-radius, radius] (``uniform``) or N(0, radius^2) (``gaussian``, by
    Box-Muller on two uniforms per value) for items (sample key, draw number)."""
    n = 1
    for s in shape:
        n *= int(s)
    if kind == "uniform":
        e = (2.0 * uniform01(keys, draw, n) - 1.0) * radius
    else:
        u = uniform01(keys, draw, 2 * n)
        e = radius * torch.sqrt(-2.0 * torch.log1p(-u[:, :n])) * torch.cos(2 * torch.pi * u[:, n:])
    return e.to(dtype).view(len(keys), *shape)
