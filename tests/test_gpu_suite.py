"""benchmarks/gpu_suite.sh: the one-call GPU run of a suite refuses an output folder inside the checkout and, on a
CPU (DEVICE=cpu), runs a small suite into the folder it is given, so the script a GPU session runs cannot rot."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_suite.sh"


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEVICE": "cpu", "WHEELS": "/nonexistent", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_script_parses_and_refuses_an_output_folder_inside_the_checkout():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    r = _run("split_ig_paper", str(ROOT / "runs" / "paper"))
    assert r.returncode == 2 and "inside the checkout" in r.stderr
    assert subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout == before


@pytest.mark.slow
def test_a_small_suite_runs_into_the_given_folder(tmp_path, tiny_suite):
    suite = tmp_path / "tiny.yaml"
    tiny_suite.update(models=tiny_suite["models"][:1], methods=["saliency", "random"], metrics=["completeness"])
    suite.write_text(yaml.safe_dump(tiny_suite))
    r = _run(str(suite), str(tmp_path / "out"), "--limit", "5")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "finished in" in r.stdout and (tmp_path / "out" / "results.csv").is_file()
