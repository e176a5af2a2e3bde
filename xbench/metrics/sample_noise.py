"""Random numbers seeded per sample: a counter-based generator keyed by the sample's own values.

A stream drawn through one generator for a whole batch gives sample i the draws after those of samples
0..i-1, so its noise changes with the batch's composition.  Here every draw is a hash of (run seed,
the sample's content, a stream index, an element index), computed on the device for all items at
once: the same sample gets the same draws in any batch, any chunking, any thread count.
"""

from __future__ import annotations

import math

import torch

_M32 = 0xFFFFFFFF


def _mix_(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer finaliser (xor-shift-multiply), in place on an int64 tensor holding values in
    [0, 2^32); returns ``x``.  In place because the draws of a chunk of perturbed images are millions of
    elements: a fresh tensor per step would cost more than the arithmetic."""
    tmp = torch.empty_like(x)
    for multiply in (True, True, False):
        x.bitwise_xor_(torch.bitwise_right_shift(x, 16, out=tmp))
        if multiply:
            x.mul_(0x45D9F3B).bitwise_and_(_M32)
    return x


def _mix(x: torch.Tensor) -> torch.Tensor:
    """:func:`_mix_` on a copy of ``x``."""
    return _mix_(x.clone())


def sample_keys(inputs: torch.Tensor, seed: int) -> torch.Tensor:
    """One int64 key per sample [N] in [0, 2^32): a hash of the run seed and the sample's float32 values."""
    bits = inputs.detach().float().flatten(1).contiguous().view(torch.int32).long() & _M32
    pos = _mix(torch.arange(bits.shape[1], device=inputs.device, dtype=torch.long))
    content = _mix_(bits ^ pos).sum(1) & _M32  # order-aware: each value is hashed with its position first
    return _mix(content ^ _mix(torch.tensor(int(seed) & _M32, device=inputs.device)))


def uniform(keys: torch.Tensor, stream: torch.Tensor, n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """U(0, 1) draws [B, n] for items with sample keys ``keys`` [B] and stream indices ``stream`` [B].

    Draw e of item b depends only on (keys[b], stream[b], e): values in (0, 1), never 0 or 1.
    """
    return _draws(keys, stream, torch.arange(n, device=keys.device, dtype=torch.long)[None, :], dtype)


def uniform_at(keys: torch.Tensor, stream: torch.Tensor, index: torch.Tensor,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The draws of :func:`uniform` at element indices ``index`` [B, m] only: ``uniform(keys, stream, n)[b,
    index[b]]`` without drawing the other elements (for noise that replaces a small part of an input)."""
    return _draws(keys, stream, index.long(), dtype)


def _draws(keys: torch.Tensor, stream: torch.Tensor, index: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    head = _mix((keys + _mix(stream.long() & _M32) * 0x27D4EB2D) & _M32)
    e = _mix_(index + 0x632BE5AB)
    h = _mix_(torch.bitwise_xor(head[:, None], e).bitwise_and_(_M32))
    return h.to(torch.float64).add_(0.5).div_(2.0**32).to(dtype)


def normal(keys: torch.Tensor, stream: torch.Tensor, n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """N(0, 1) draws [B, n] by Box-Muller from :func:`uniform` (streams 2s and 2s + 1 of item b)."""
    u1 = uniform(keys, 2 * stream.long(), n)
    u2 = uniform(keys, 2 * stream.long() + 1, n)
    return (torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * math.pi * u2)).to(dtype)
