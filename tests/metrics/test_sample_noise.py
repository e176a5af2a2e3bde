"""Per-sample draws: the in-place hash equals its definition, and a sample's draws ignore its batch."""

from __future__ import annotations

import torch

from xbench.metrics import sample_noise

M32 = 0xFFFFFFFF


def mix_by_definition(x: torch.Tensor) -> torch.Tensor:
    """The finaliser written out-of-place, one fresh tensor per step."""
    x = (((x >> 16) ^ x) * 0x45D9F3B) & M32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & M32
    return (x >> 16) ^ x


def uniform_by_definition(keys: torch.Tensor, stream: torch.Tensor, n: int) -> torch.Tensor:
    head = mix_by_definition((keys + mix_by_definition(stream.long() & M32) * 0x27D4EB2D) & M32)
    e = mix_by_definition(torch.arange(n, dtype=torch.long) + 0x632BE5AB)
    return (mix_by_definition((head[:, None] ^ e[None, :]) & M32).double() + 0.5) / 2.0**32


def test_in_place_hash_equals_its_definition():
    x = torch.randint(0, 2**32, (1000,), generator=torch.Generator().manual_seed(0))
    y = x.clone()
    assert torch.equal(sample_noise._mix(x), mix_by_definition(x))
    assert torch.equal(x, y)  # the copying form leaves its argument alone
    keys = sample_noise.sample_keys(torch.rand(4, 3, 5, 5, generator=torch.Generator().manual_seed(1)), seed=7)
    stream = torch.tensor([0, 3, 5, 2**31 + 3])
    assert torch.equal(sample_noise.uniform(keys, stream, 257), uniform_by_definition(keys, stream, 257))


def test_a_samples_draws_do_not_depend_on_its_batch():
    x = torch.rand(6, 2, 4, 4, generator=torch.Generator().manual_seed(2))
    keys = sample_noise.sample_keys(x, seed=0)
    assert torch.equal(sample_noise.sample_keys(x[3:5], seed=0), keys[3:5])
    u = sample_noise.uniform(keys, torch.arange(6), 100)
    assert torch.equal(sample_noise.uniform(keys[[4, 1]], torch.tensor([4, 1]), 100), u[[4, 1]])
    assert 0 < u.min() and u.max() < 1
    assert not torch.equal(sample_noise.sample_keys(x, seed=1), keys)
