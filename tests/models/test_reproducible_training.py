"""The embedded models train to the same weights, bit for bit, with any number of torch threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xbench.models.training import reproducible

ROOT = Path(__file__).resolve().parents[2]

# Trains in a fresh cache with n threads and prints the SHA-256 of every state-dict tensor's bytes.
_TRAIN = """
import hashlib, json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from xbench.models import create
out = {}
for name in sys.argv[2:]:
    state = create(name).state_dict()
    out[name] = {k: hashlib.sha256(v.contiguous().numpy().tobytes()).hexdigest() for k, v in state.items()}
out["threads_after"] = torch.get_num_threads()
print(json.dumps(out))
"""


def _train(threads: int, cache: Path, names: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "XBENCH_CACHE": str(cache), "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _TRAIN, str(threads), *names], env=env, capture_output=True,
                          text=True, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_one_and_two_threads_train_identical_weights(tmp_path):
    # a convolutional net (conv, max-pool, linear) and the MLP (matmuls): the kernels whose sums split by thread
    names = ["synthetic_cnn", "mlp"]
    one = _train(1, tmp_path / "one", names)
    two = _train(2, tmp_path / "two", names)
    assert two.pop("threads_after") == 2 and one.pop("threads_after") == 1  # the caller's setting is restored
    for name in names:
        differing = [k for k in one[name] if one[name][k] != two[name][k]]
        assert not differing, f"{name}: {differing} differ between 1 and 2 threads"


def test_reproducible_restores_the_callers_settings():
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with reproducible():
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == old_threads
    assert torch.are_deterministic_algorithms_enabled() == old_det
    with pytest.raises(ValueError), reproducible():
        raise ValueError  # restored on an error too
    assert torch.get_num_threads() == old_threads
