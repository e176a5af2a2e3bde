"""Every run's manifest records the SHA-256 of each weight file its models were trained, cached or loaded from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from xbench.cache import cache_dir
from xbench.errors import XBenchError
from xbench.models import create
from xbench.provenance import file_sha256, files_sha256, record_weights, recording_weights
from xbench.runner import run_suite
from xbench.suite import parse_suite


def _suite(models: list[dict]) -> dict:
    return {"name": "w", "seed": 0, "device": "cpu",
            "data": {"name": "digits", "split": "test", "n_samples": 4, "batch_size": 4},
            "models": models, "methods": ["saliency"], "metrics": [{"name": "deletion", "steps": 4}]}


def _weights(raw: dict, out: Path, **kw) -> dict:
    run_suite(parse_suite(raw), out, progress=False, echo=None, report=False, **kw)
    return json.loads((out / "manifest.json").read_text())["weights"]


def test_file_sha256_is_the_hash_of_the_bytes(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc" * 500_000)  # more than one read block
    import hashlib
    assert file_sha256(f) == hashlib.sha256(b"abc" * 500_000).hexdigest()
    assert files_sha256([f]) == {str(f): file_sha256(f)}


def test_recording_collects_only_inside_and_each_file_once(tmp_path):
    f = tmp_path / "w.pt"
    torch.save({"a": torch.zeros(2)}, f)
    record_weights(f, "checkpoint")  # outside a recording: nothing kept anywhere
    with recording_weights() as files:
        record_weights(f, "checkpoint")
        record_weights(f, "checkpoint")
    assert files == [{"file": str(f), "source": "checkpoint", "sha256": file_sha256(f)}]


def test_embedded_model_cache_file_and_checkpoint_hashes_in_the_manifest(tmp_path):
    create("digits_cnn")  # trained (or found) in the session cache
    cached = next(p for p in (cache_dir() / "models").glob("digits_cnn-*.pt")
                  if json.loads(p.with_suffix(".json").read_text())["config"]["x"] is False)
    ckpt = tmp_path / "mine.pt"
    torch.save(create("digits_cnn", weights=None).state_dict(), ckpt)
    raw = _suite([{"name": "digits_cnn", "label": "emb"},
                  {"name": "digits_cnn", "label": "mine", "weights": str(ckpt)},
                  {"name": "digits_cnn", "label": "init", "weights": None}])
    w = _weights(raw, tmp_path / "run")
    assert w["emb"] == [{"file": cached.name, "source": "cache", "sha256": file_sha256(cached)}]
    assert w["mine"] == [{"file": str(ckpt), "source": "checkpoint", "sha256": file_sha256(ckpt)}]
    assert w["init"] == []  # random init: no file

    # a resumed run whose checkpoint changed in between is refused before it mixes the two
    (tmp_path / "run" / "complete").unlink(missing_ok=True)
    parts = tmp_path / "run" / "parts"
    mine = [d for d in parts.rglob("*mine*") if d.is_dir()]
    assert mine
    for d in mine:
        shutil.rmtree(d, ignore_errors=True)  # its model is loaded again
    torch.save({k: v + 1 for k, v in create("digits_cnn", weights=None).state_dict().items()}, ckpt)
    with pytest.raises(XBenchError, match=r"models \(mine\): the weights file .* changed"):
        _weights(raw, tmp_path / "run", resume=True)


def test_a_resumed_run_that_loads_no_model_keeps_the_records(tmp_path):
    create("digits_cnn")
    raw = _suite([{"name": "digits_cnn"}])
    first = _weights(raw, tmp_path / "run")
    assert first["digits_cnn"] and first["digits_cnn"][0]["sha256"]
    assert _weights(raw, tmp_path / "run", resume=True) == first  # every part done: no model loaded
