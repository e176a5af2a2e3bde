"""CPU allocator tuning: keep freed large blocks in the process heap instead of handing them back to the OS.

Why: glibc's malloc serves every block above ``M_MMAP_THRESHOLD`` (128 KiB, raised dynamically to at most
32 MiB) with a fresh ``mmap`` and unmaps it on ``free``, and it returns the heap's free top to the OS past
``M_TRIM_THRESHOLD``.  A CNN's forward (+ backward) on a chunk of 224-px images allocates and frees
activations of tens of MB each, so every chunk maps, zero-fills (one page fault per 4 KiB) and unmaps
gigabytes.  Measured on the 2-core development machine with EfficientNet-Lite0, forward+backward at
batch 32: 50-53 -> 23-28 ms per image in two runs (the kernel's time had equalled the user time), peak
resident memory 2,647 -> 2,768 MiB; RISE deletion (224 steps, 2 photos, chunks of 75): 16.4 -> 9.4 s.
See ``benchmarks/README.md``.  PyTorch's CPU performance guide
reaches the same end by preloading jemalloc or tcmalloc; two ``mallopt`` calls do it without a preload.

The tuning changes no number that is computed, only where freed memory goes.  It is process-wide, so
xbench applies it only in its own entry points (``run_suite``, ``xbench.evaluate``, the benchmarks) when
the run's device is the CPU, and records the outcome in the manifest.  ``XBENCH_CPU_ALLOCATOR=system``
leaves the allocator alone.  The cost: memory freed after the peak stays with the process until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30
"""Blocks below 1 GiB come from the heap (activations of a 224-px chunk are 10-100 MB)."""
TRIM_THRESHOLD = -1
"""-1: never trim the heap's top (glibc's documented value; 1 GiB still refaulted a 75-image forward chunk)."""
ENV = "XBENCH_CPU_ALLOCATOR"

_state: dict[str, Any] | None = None


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (the only one with these ``mallopt`` parameters), else None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return None
    return libc


def retain_freed_memory() -> dict[str, Any]:
    """Raise glibc's mmap and trim thresholds once per process (see the module docstring).

    Returns ``{"tuned": bool, ...}``: on success the glibc version and both thresholds (bytes), otherwise
    ``reason`` (opted out through the environment, not glibc, or ``mallopt`` refused).  Idempotent: later
    calls return the first call's outcome.
    """
    global _state
    if _state is not None:
        return dict(_state)
    if os.environ.get(ENV, "").strip().lower() == "system":
        _state = {"tuned": False, "reason": f"{ENV}=system"}
        return dict(_state)
    libc = _glibc()
    if libc is None:
        _state = {"tuned": False, "reason": "not glibc: allocator left as it is"}
        return dict(_state)
    libc.gnu_get_libc_version.restype = ctypes.c_char_p
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    version = libc.gnu_get_libc_version().decode()
    # order matters: setting the trim threshold alone also freezes the mmap threshold at 128 KiB
    ok = (libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
          and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    _state = ({"tuned": True, "glibc": version, "mmap_threshold": MMAP_THRESHOLD, "trim_threshold": TRIM_THRESHOLD}
              if ok else {"tuned": False, "reason": f"glibc {version} refused mallopt"})
    return dict(_state)


def tune_for(device: Any) -> dict[str, Any]:
    """:func:`retain_freed_memory` when ``device`` (a ``torch.device`` or its name) is the CPU; else untouched."""
    kind = getattr(device, "type", str(device).split(":")[0])
    if kind != "cpu":
        return {"tuned": False, "reason": f"device {kind}: host allocator not on the hot path"}
    return retain_freed_memory()
