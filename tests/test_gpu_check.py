"""The prepared GPU check runs end to end in its tiny mode, so the script a GPU session runs cannot rot."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

import xbench.models

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_full_config_names_registered_models():
    """Every model the GPU run asks for (and its bias-free twin) is in the registry: a typo would cost a lease."""
    gc = _load()
    names = [n for pair in gc.FULL.models for n in pair if n is not None]
    missing = [n for n in names if n not in xbench.models.list_models()]
    assert missing == [] or missing == ["efficientnet_lite0"], missing


@pytest.mark.slow
def test_tiny_mode_writes_every_case(tmp_path):
    gc = _load()
    assert gc.main(["--tiny", "--device", "cpu", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "gpu_check.json").read_text())
    rows = data["rows"]
    assert data["environment"]["config"] == "tiny"
    assert [r for r in rows if r["error"]] == []
    got = {(r["what"], r["impl"]) for r in rows}
    cfg = gc.TINY
    want = {("forward", "torch"), ("forward+backward", "torch"), ("input_x_gradient", "xbench"),
            ("x_gradient", "xbench"), (f"split_ig-{cfg.split_steps}", "xbench"),
            (f"deletion+insertion-{cfg.curve_steps}", "xbench"), (f"max_sensitivity-{cfg.sens_samples}", "xbench"),
            ("train_step[none]", "xbench"), ("train_step[x_gradient]", "xbench")}
    want |= {(f"integrated_gradients-{s}", "xbench") for s in cfg.ig_steps}
    want |= {(f"expected_gradients-k{k}", "xbench") for k in cfg.eg_k}
    want |= {(f"speed[{v}] {w}", "xbench") for v in ("off", "autocast_bf16", "channels_last", "inference_mode",
                                                     "memory_chunks") for w in ("input_x_gradient",
                                                                                f"deletion+insertion-{cfg.curve_steps}")}
    assert want <= got, want - got
    for r in rows:
        assert r["images_per_s"] > 0 and math.isfinite(r["images_per_s"]), r
        if r["what"] not in ("forward", "forward+backward", "train_step[none]") and not r["what"].startswith(
                "speed[off]"):  # the options' baseline is their limit
            assert r["ratio_to_limit"] is not None and r["ratio_to_limit"] > 0, r
    # xbench's chunked methods say which chunk sizes they chose
    ig = next(r for r in rows if r["what"].startswith("integrated_gradients") and r["impl"] == "xbench")
    assert ig["chunk_sizes"] and max(ig["chunk_sizes"]) <= cfg.max_batch
    assert (tmp_path / "gpu_check.md").read_text().startswith("# GPU check on")
    assert (tmp_path / "gpu_check.csv").stat().st_size > 0


def test_moonshot_suite_validates():
    """The command benchmarks/README.md gives for the moonshot runs a suite that validates."""
    from xbench.suite import load_suite

    suite = load_suite(str(SCRIPT.parent / "moonshot.yaml"))
    assert [m.name for m in suite.methods] == ["x_gradient"]
    assert {m.name: m.params["steps"] for m in suite.metrics if m.name != "timing"} == {"deletion": 224,
                                                                                       "insertion": 224}


def test_tiny_mode_without_out_writes_outside_the_checkout():
    """A documented smoke command leaves the checkout as it was: --tiny's default folder is a temporary one."""
    gc = _load()
    cpu = gc.torch.device("cpu")
    assert gc.ROOT not in gc.output_folder(None, True, cpu).resolve().parents
    assert gc.output_folder(None, False, cpu) == gc.ROOT / "results" / "timing_cpu"  # the committed figures
    assert gc.output_folder("x", True, cpu) == Path("x")
