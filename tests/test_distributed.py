"""torch.distributed (gloo on CPU): 2 ranks give the rows of 1 process; a failing rank fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import yaml

from xbench.results import read_results

SUITE = {
    "name": "dist", "seed": 0, "device": "cpu",
    "data": {"name": "digits", "split": "test", "n_samples": 10, "batch_size": 3},
    "models": [{"name": "digits_cnn", "x": True}],
    "methods": ["saliency", {"name": "integrated_gradients", "n_steps": 4}, "x_gradient"],
    "metrics": ["completeness", {"name": "deletion", "steps": 4}],
}
KEY = ["model", "method", "metric", "stat", "sample", "point"]


# torchrun gives each rank one thread; the single process gets the same, so both run the same kernels (a
# thread count changes how float32 reductions are split, and the tolerance below would depend on the machine)
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def torchrun(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)


@pytest.mark.slow
def test_two_ranks_match_one_process(tmp_path):
    f = tmp_path / "dist.yaml"
    f.write_text(yaml.safe_dump(SUITE))
    single = subprocess.run([sys.executable, "-m", "xbench", "run", str(f), "--out", str(tmp_path / "one"),
                             "--quiet"], capture_output=True, text=True, timeout=300, env=ENV)
    assert single.returncode == 0, single.stderr
    two = torchrun("-m", "xbench", "run", str(f), "--out", str(tmp_path / "two"), "--quiet")
    assert two.returncode == 0, two.stderr[-3000:]
    a = read_results(tmp_path / "one").sort_values(KEY).reset_index(drop=True)
    b = read_results(tmp_path / "two").sort_values(KEY).reset_index(drop=True)
    assert len(a) == len(b) and not b.duplicated(KEY).any()
    pd.testing.assert_frame_equal(a.drop(columns="value"), b.drop(columns="value"))
    pd.testing.assert_series_equal(a["value"], b["value"], rtol=1e-6, atol=1e-9)
    import json

    assert json.loads((tmp_path / "two" / "manifest.json").read_text())["world_size"] == 2
    assert set(b["batch"]) == {0, 1, 2, 3}  # batches 0, 2 from rank 0 and 1, 3 from rank 1 are all there


@pytest.mark.slow
def test_a_failing_rank_fails_the_run_with_its_error(tmp_path):
    suite = dict(SUITE, methods=["_fails_on_rank_1"], metrics=["completeness"])
    f = tmp_path / "fail.yaml"
    f.write_text(yaml.safe_dump(suite))
    script = tmp_path / "entry.py"
    script.write_text(textwrap.dedent("""
        import os, sys, torch
        import xbench.methods as M

        @M.register("_fails_on_rank_1", description="test only")
        def fails(model, inputs, target):
            if os.environ.get("RANK") == "1":
                raise RuntimeError("rank 1 failed on purpose")
            return torch.zeros_like(inputs)

        from xbench.cli import main
        sys.exit(main(sys.argv[1:]))
    """))
    r = torchrun(str(script), "run", str(f), "--out", str(tmp_path / "o"), "--quiet")
    assert r.returncode != 0
    assert "rank 1 failed on purpose" in r.stderr + r.stdout
    assert not (tmp_path / "o" / "results.csv").exists()  # never a silent partial result
