"""The one chunking policy: split a flat batch of work items into chunks, halve on CUDA OOM.

Methods and metrics flatten their work (images x path points, images x perturbations) into
``total`` items and hand a function ``fn(start, stop)`` to :func:`for_chunks`.  Nobody else
writes a chunk loop, so every memory bound and every OOM retry is recorded in one place.

``fn`` must only apply side effects (e.g. ``index_add_`` into an accumulator) after its forward
and backward passes succeeded, so that a chunk that ran out of memory can be retried cleanly.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

DEFAULT_MAX_BATCH = 128
"""Default number of model inputs per forward pass (images x steps) when a method or metric is not told."""


@dataclass
class ChunkStats:
    """What one :func:`for_chunks` call did: the chunk size it ended with and the OOM halvings."""

    total: int
    chunk_size: int
    n_chunks: int = 0
    oom_retries: int = 0


_recorder: contextvars.ContextVar[list[ChunkStats] | None] = contextvars.ContextVar("xbench_chunks", default=None)
_progress: contextvars.ContextVar[Callable[[int, int], None] | None] = contextvars.ContextVar("xbench_progress",
                                                                                             default=None)


@contextlib.contextmanager
def record() -> Iterator[list[ChunkStats]]:
    """Collect the :class:`ChunkStats` of every chunked call made inside the ``with`` block."""
    events: list[ChunkStats] = []
    token = _recorder.set(events)
    try:
        yield events
    finally:
        _recorder.reset(token)


def replay(events: list[ChunkStats]) -> None:
    """Record ``events`` again in the enclosing :func:`record` block: a cached result reports the chunk
    schedule that computed it, so what a cell records does not depend on whether the cache was warm."""
    current = _recorder.get()
    if current is not None:
        current.extend(events)


@contextlib.contextmanager
def on_chunk(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Call ``callback(items done, items total)`` after every chunk of every chunked call in the block
    (the progress bar's per-chunk tick)."""
    token = _progress.set(callback)
    try:
        yield
    finally:
        _progress.reset(token)


CPU_CHUNK_BYTES = 8 * 2**20
"""Most input bytes a forward-only chunk holds on the CPU when the caller sets no ``max_batch``: 13 photos of
3 x 224 x 224 float32.  A CPU pass over a big batch streams every activation through memory; chunks whose
activations stay near the cache run each image faster (EfficientNet-Lite0 at one thread: 96 images in
chunks of 6-16 take 10-15% less time than in one chunk of 96) and bound the peak memory.  Small inputs
(digits, CIFAR, tables) stay at :data:`DEFAULT_MAX_BATCH`."""


def default_max_batch(inputs: torch.Tensor) -> int:
    """Items per forward-only chunk when none is set: :data:`DEFAULT_MAX_BATCH`, on the CPU at most
    :data:`CPU_CHUNK_BYTES` of ``inputs`` rows (each item one row of ``inputs`` [N, ...]); at least 1."""
    if inputs.device.type != "cpu" or inputs.dim() == 0 or inputs.shape[0] == 0:
        return DEFAULT_MAX_BATCH
    item_bytes = inputs[:1].numel() * inputs.element_size()
    return max(1, min(DEFAULT_MAX_BATCH, CPU_CHUNK_BYTES // max(1, item_bytes)))


MEMORY_HEADROOM = 0.8
"""Share of the free device memory a memory-sized chunk may plan to use (the rest absorbs fragmentation and
the estimate's error; an OOM still halves the chunk)."""
MEMORY_CHUNK_CAP = 8192
"""Most items a memory-sized chunk holds (beyond this a GPU pass gains nothing and progress ticks get rare)."""

_from_memory: contextvars.ContextVar[bool] = contextvars.ContextVar("xbench_memory_chunks", default=False)


@contextlib.contextmanager
def memory_sized(on: bool = True) -> Iterator[None]:
    """Inside the block, on CUDA, :func:`for_chunks` resizes its chunks from free device memory after the
    first chunk (see :func:`chunk_for_memory`); on other devices nothing changes."""
    token = _from_memory.set(on)
    try:
        yield
    finally:
        _from_memory.reset(token)


def chunk_for_memory(item_bytes: float, limit: int = MEMORY_CHUNK_CAP, device: torch.device | int | None = None,
                     headroom: float = MEMORY_HEADROOM) -> int:
    """Items per chunk that fit in ``headroom`` x the free CUDA memory at ``item_bytes`` bytes each.

    Returns an int in [1, limit]; ``limit`` itself when CUDA is not available or the estimate is not positive.
    Free memory: ``torch.cuda.mem_get_info`` (bytes free on ``device``, default the current one) plus what the
    caching allocator reserved but does not use.
    """
    limit = max(1, int(limit))
    if not torch.cuda.is_available() or not item_bytes > 0:
        return limit
    free, _total = torch.cuda.mem_get_info(device)
    # memory the caching allocator holds but no tensor uses is free to this process too
    free += max(0, torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    return max(1, min(limit, int(headroom * free // item_bytes)))


def _is_oom(err: BaseException) -> bool:
    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


def for_chunks(fn: Callable[[int, int], None], total: int, max_batch: int | None = None) -> ChunkStats:
    """Call ``fn(start, stop)`` over ``range(total)`` in chunks of at most ``max_batch`` items.

    On an out-of-memory error the chunk is halved and the same range retried; the final chunk
    size and the number of halvings are returned (and recorded, see :func:`record`).
    """
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    size = max(1, int(max_batch or DEFAULT_MAX_BATCH))
    if 0 < total:
        # even chunks: 160 items at a budget of 128 run as 80 + 80, not 128 + 32 (a small tail chunk
        # costs nearly a full pass on a GPU and leaves cores idle on a CPU)
        n_chunks = -(-total // size)
        size = -(-total // n_chunks)
    stats = ChunkStats(total=total, chunk_size=min(size, max(total, 1)))
    start = 0
    measure = _from_memory.get() and torch.cuda.is_available() and total > size
    if measure:  # peak memory of the first chunk, per item, sizes the rest
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    while start < total:
        stop = min(total, start + size)
        try:
            fn(start, stop)
        except Exception as err:  # noqa: BLE001 - only OOM is handled, everything else re-raised
            if not _is_oom(err) or size == 1:
                raise
            del err
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            size = max(1, size // 2)
            stats.oom_retries += 1
            stats.chunk_size = size
            continue
        stats.n_chunks += 1
        if measure:
            measure = False
            item_bytes = (torch.cuda.max_memory_allocated() - base) / (stop - start)
            if item_bytes > 0:  # 0: the work ran elsewhere (a CPU run on a CUDA machine): keep the budget
                size = chunk_for_memory(item_bytes, limit=min(MEMORY_CHUNK_CAP, total - stop))
                stats.chunk_size = size
        start = stop
        tick = _progress.get()
        if tick is not None:
            tick(stop, total)
    events = _recorder.get()
    if events is not None:
        events.append(stats)
    return stats


def map_chunks(fn: Callable[[int, int], torch.Tensor], total: int, max_batch: int | None = None) -> torch.Tensor:
    """Like :func:`for_chunks` but concatenates the tensors ``fn`` returns along dim 0."""
    parts: list[torch.Tensor] = []

    def run(start: int, stop: int) -> None:
        out = fn(start, stop)  # computed first: an OOM leaves ``parts`` untouched
        parts.append(out)

    for_chunks(run, total, max_batch)
    if not parts:
        raise ValueError("map_chunks over zero items")
    return torch.cat(parts, dim=0)
