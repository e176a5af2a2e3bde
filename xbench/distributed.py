"""Several processes under ``torchrun``: each rank's device, rank discovery, the process group, barriers,
gathering files."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from .errors import XBenchError


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local rank>`` when CUDA is available, else ``cpu``; other specs as given."""
    if spec == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise XBenchError(f"device: '{spec}' was asked for but CUDA is not available here; use device: auto or cpu")
    return torch.device(spec)


def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) in a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


@contextlib.contextmanager
def process_group(world: int, device: torch.device) -> Iterator[None]:
    """Initialise the process group (nccl on CUDA, gloo on CPU) if several ranks run and none exists yet."""
    own = False
    if world > 1 and not torch.distributed.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        own = True
    try:
        yield
    finally:
        if own and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def barrier(world: int) -> None:
    """Wait for every rank (a no-op in a single process)."""
    if world > 1 and torch.distributed.is_initialized():
        torch.distributed.barrier()


def gather_files(root: Path, written: list[Path], rank: int, world: int) -> list[tuple[Path, bytes]]:
    """Send the files each rank wrote under ``root`` to rank 0 (no shared disk needed).

    Returns, on rank 0, (path, bytes) of every gathered file (the caller writes those it lacks and
    records them all); on other ranks an empty list.
    """
    if world == 1:
        return []
    payload = [(str(p.relative_to(root)), p.read_bytes()) for p in written if p.exists()]
    gathered: list | None = [None] * world if rank == 0 else None
    torch.distributed.gather_object(payload, gathered, dst=0)
    if rank != 0:
        return []
    return [(root / rel, blob) for files in gathered or [] for rel, blob in files or []]
