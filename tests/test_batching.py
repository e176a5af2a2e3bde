"""The chunking policy: exact coverage, OOM halving with retry, recording."""

from __future__ import annotations

import pytest
import torch

from xbench import batching


def test_chunks_cover_every_item_once():
    seen = []
    sizes = []
    stats = batching.for_chunks(lambda a, b: (seen.extend(range(a, b)), sizes.append(b - a)), 23, max_batch=5)
    assert seen == list(range(23)) and stats.n_chunks == 5
    assert sizes == [5, 5, 5, 5, 3] and stats.chunk_size == 5
    sizes.clear()
    batching.for_chunks(lambda a, b: sizes.append(b - a), 160, max_batch=128)
    assert sizes == [80, 80]  # even chunks, never a small tail


def test_oom_halves_and_retries_the_same_range():
    calls = []

    def fn(a, b):
        calls.append((a, b))
        if b - a > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate")

    with batching.record() as events:
        stats = batching.for_chunks(fn, 10, max_batch=16)
    assert calls[0] == (0, 10) and calls[1] == (0, 5) and calls[2] == (0, 2)
    done = [c for c in calls if c[1] - c[0] <= 3]
    assert sorted(i for a, b in done for i in range(a, b)) == list(range(10))
    assert stats.oom_retries == 2 and stats.chunk_size == 2 and events == [stats]


def test_other_errors_propagate_and_oom_at_size_one_raises():
    with pytest.raises(ValueError):
        batching.for_chunks(lambda a, b: (_ for _ in ()).throw(ValueError("boom")), 4, 2)
    with pytest.raises(torch.OutOfMemoryError):
        batching.for_chunks(lambda a, b: (_ for _ in ()).throw(torch.OutOfMemoryError("out of memory")), 4, 1)


def test_map_chunks_concatenates():
    out = batching.map_chunks(lambda a, b: torch.arange(a, b) * 2, 7, max_batch=3)
    assert torch.equal(out, torch.arange(7) * 2)


def test_on_chunk_ticks_after_every_chunk():
    ticks = []
    with batching.on_chunk(lambda done, total: ticks.append((done, total))):
        batching.for_chunks(lambda a, b: None, 10, max_batch=4)
    assert ticks == [(4, 10), (8, 10), (10, 10)]  # 3 chunks of at most 4: 4 + 4 + 2
    batching.for_chunks(lambda a, b: None, 10, max_batch=4)
    assert len(ticks) == 3  # outside the block nothing ticks


def test_a_warm_cache_records_the_chunks_that_computed_it(tiny_linear):
    """The chunk size a cell records is a pure function of the cell, not of what ran before it."""
    from xbench.metrics import ig_distance

    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    t = torch.tensor([0, 1, 2])
    a = torch.zeros_like(x)
    with batching.record() as cold:
        ig_distance(tiny_linear.double(), x, t, a, n_steps=16, max_batch=8)
    with batching.record() as warm:  # the 16-step reference is cached now: not recomputed, but recorded
        ig_distance(tiny_linear.double(), x, t, a, n_steps=16, max_batch=8)
    assert [e.chunk_size for e in cold] == [e.chunk_size for e in warm] == [8]


def test_default_chunk_bounds_the_input_bytes_on_the_cpu():
    photos = torch.zeros(2, 3, 224, 224)
    per_item = 3 * 224 * 224 * 4
    assert batching.default_max_batch(photos) == batching.CPU_CHUNK_BYTES // per_item == 13
    assert batching.default_max_batch(torch.zeros(2, 3, 224, 224, dtype=torch.float64)) == 6
    # small inputs keep the general default: digits, CIFAR-sized images, tables
    for small in (torch.zeros(4, 1, 32, 32), torch.zeros(4, 3, 32, 32), torch.zeros(4, 30)):
        assert batching.default_max_batch(small) == batching.DEFAULT_MAX_BATCH
    assert batching.default_max_batch(torch.zeros(1, 3, 4096, 4096)) == 1


def test_forward_only_metrics_chunk_by_the_default_when_told_none():
    from xbench.metrics.faithfulness import faithfulness_estimate

    class Mean(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1).mean(1, keepdim=True).expand(-1, 3)

    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    a = torch.rand(2, 1, 224, 224, generator=torch.Generator().manual_seed(1))
    with batching.record() as events:
        default = faithfulness_estimate(Mean(), x, torch.tensor([0, 1]), a, features_in_step=224 * 8)
    assert max(e.chunk_size for e in events) <= 13
    with batching.record() as events:
        given = faithfulness_estimate(Mean(), x, torch.tensor([0, 1]), a, features_in_step=224 * 8, max_batch=64)
    assert max(e.chunk_size for e in events) > 13
    torch.testing.assert_close(default, given, rtol=1e-5, atol=1e-6)
