"""Counter-based uniform numbers keyed by a tensor's values: the same draws for the same input on any device,
in any batch, at any thread count.

A stateful generator hands out numbers in call order, so sample *i*'s draws depend on how many samples came
before it in its batch.  Here each number is a hash of (seed, the sample's values, the element's index),
computed with int64 arithmetic whose intermediates stay below 2**63 (exact on CPU and GPU alike):

- the hash ``_mix`` is three rounds of a Lehmer step modulo the Mersenne prime 2**31 - 1 followed by an
  xor-shift, on values in [0, 2**31);
- a sample's key hashes the bit pattern of its float32 values: the low and high 16 bits of each value,
  weighted by 16-bit hashes of the element index, summed (below 2**52 for up to 2**20 elements per sample,
  reduced modulo the prime), and mixed with the seed;
- element j's number is ``_mix(_mix(j) xor key)``, its top 24 bits scaled to [0, 1).
"""

from __future__ import annotations

import torch

_P = 2**31 - 1
_ROUNDS = ((48271, 12345), (69621, 2654435), (16807, 97531))
_MAX_ELEMENTS = 2**20  # keeps the per-sample weighted sums below 2**52


def _mix(a: torch.Tensor) -> torch.Tensor:
    """Hash of int64 values in [0, 2**31): three (a * m + c) mod (2**31 - 1) steps, each followed by an
    xor-shift; returns int64 in [0, 2**31)."""
    for m, c in _ROUNDS:
        a = (a * m + c) % _P
        a = a ^ (a >> 13)
    return a


def sample_keys(inputs: torch.Tensor, seed: int) -> torch.Tensor:
    """int64 key in [0, 2**31) per sample (first dimension) of ``inputs``: a function of ``seed`` and the
    sample's float32 bit patterns only."""
    flat = inputs.detach().reshape(len(inputs), -1).to(torch.float32).contiguous()
    if flat.shape[1] > _MAX_ELEMENTS:
        raise ValueError(f"keyed random maps support up to {_MAX_ELEMENTS} values per sample, "
                         f"not {flat.shape[1]}")
    bits = flat.view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    h = _mix(torch.arange(1, flat.shape[1] + 1, device=flat.device, dtype=torch.int64))
    lo = ((bits & 0xFFFF) * (h & 0xFFFF)).sum(1) % _P
    hi = ((bits >> 16) * (h >> 15)).sum(1) % _P
    seed = int(seed)
    key = _mix(_mix(lo) ^ hi)
    key = _mix(key ^ (seed % _P))
    return _mix(key ^ ((seed // _P) % _P))


def keyed_uniform(inputs: torch.Tensor, seed: int) -> torch.Tensor:
    """U[0, 1) values shaped like ``inputs`` (its dtype, its device, 24-bit resolution); sample i's values are a
    function of ``seed`` and ``inputs[i]`` alone."""
    keys = sample_keys(inputs, seed)
    n = inputs[0].numel() if len(inputs) else 0
    idx = _mix(torch.arange(1, n + 1, device=inputs.device, dtype=torch.int64))
    u = _mix(idx[None, :] ^ keys[:, None]) >> 7
    return (u.to(torch.float64) / 2**24).to(inputs.dtype).reshape(inputs.shape)
