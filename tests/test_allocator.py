"""xbench.allocator: freed large blocks stay in the heap (no page faults on reuse), opt-out, CPU only.

Each case runs in a fresh interpreter: the tuning is process-wide and cannot be undone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from xbench.allocator import _glibc, tune_for

PROBE = """
import json, resource, torch
import xbench.api  # what a run has loaded when it tunes (the heap's layout decides whether a freed block is reused)
from xbench.allocator import retain_freed_memory
state = retain_freed_memory() if {tune} else None
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):  # 64 MiB: allocated, touched, freed; the heap settles within a few rounds (after 2 rounds, 0-2
    # of the next 8 blocks still faulted in afresh, 12 probes; after 8 rounds, 0 in 10 probes)
    torch.empty(16 << 20).fill_(1.0)
before = faults()
for _ in range(8):
    torch.empty(16 << 20).fill_(1.0)
print(json.dumps({{"state": state, "faults": faults() - before, "again": retain_freed_memory()}}))
"""
PAGES = (64 << 20) // 4096  # pages a fresh 64 MiB block faults in when first touched


def probe(tune: bool, env_value: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XBENCH_CPU_ALLOCATOR"}
    env["XBENCH_CPU_ALLOCATOR"] = env_value or ""
    out = subprocess.run([sys.executable, "-c", PROBE.format(tune=tune)], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


needs_glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or _glibc() is None,
                                 reason="the tuning is glibc's mallopt")


@needs_glibc
def test_retained_blocks_are_reused_without_page_faults():
    plain = probe(tune=False)
    if plain["faults"] < 4 * PAGES:
        pytest.skip(f"this interpreter's allocator already keeps freed blocks ({plain['faults']} faults)")
    tuned = probe(tune=True)
    assert tuned["state"]["tuned"] is True and tuned["state"]["mmap_threshold"] >= 64 << 20
    # untuned, every one of the 8 allocations maps and faults in its 16,384 pages afresh (measured
    # 131,080); tuned, the heap hands the same pages back: measured 0 after the warm-up rounds, one fresh
    # block (16,384) allowed for a small allocation landing behind the freed block once, a quarter on top
    assert tuned["faults"] < PAGES + PAGES // 4 and plain["faults"] > 6 * PAGES
    assert tuned["again"] == tuned["state"]  # idempotent


@needs_glibc
def test_opt_out_through_the_environment():
    out = probe(tune=True, env_value="system")
    assert out["state"] == {"tuned": False, "reason": "XBENCH_CPU_ALLOCATOR=system"}


def test_only_cpu_runs_are_tuned():
    out = tune_for("cuda:0")
    assert out["tuned"] is False and "cuda" in out["reason"]
