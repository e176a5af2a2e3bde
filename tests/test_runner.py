"""The runner end to end on tiny suites: outputs, schema, determinism, resume, non-finite values."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from xbench import methods
from xbench.metrics import METRICS
from xbench.results import COLUMNS, read_results
from xbench.runner import run_suite
from xbench.suite import parse_suite

KEY = ["model", "method", "metric", "stat", "sample", "point", "batch"]


def run(raw: dict, out: Path, **kw) -> pd.DataFrame:
    run_suite(parse_suite(raw), out, progress=False, echo=None, **kw)
    return read_results(out)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict, Path, pd.DataFrame]:
    raw = {
        "name": "tiny", "seed": 0, "device": "cpu",
        "data": {"name": "digits", "split": "test", "n_samples": 12, "batch_size": 5},
        "models": [{"name": "digits_cnn"}, {"name": "digits_cnn", "x": True}],
        "methods": ["saliency", {"name": "integrated_gradients", "n_steps": 8}, "x_gradient", "random"],
        "metrics": ["completeness", {"name": "deletion", "steps": 8}, {"name": "insertion", "steps": 8}],
    }
    out = tmp_path_factory.mktemp("ref") / "tiny"
    return raw, out, run(raw, out)


def test_run_directory_contents(reference):
    _, out, _ = reference
    for name in ("results.csv", "summary.csv", "summary.md", "manifest.json", "index.md", "tables/summary.tex"):
        assert (out / name).is_file(), name
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert "curves_digits_cnn.png" in pngs and "heatmaps_digits_cnn_x.png" in pngs
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["suite"]["name"] == "tiny" and manifest["seed"] == 0
    assert {"python", "torch", "torchvision", "captum", "xbench"} <= set(manifest["versions"])
    assert manifest["device"] == "cpu" and manifest["device_name"].startswith("cpu")
    assert any(k.endswith("/deletion") for k in manifest["cell_seconds_this_invocation"])
    assert any("x_gradient on digits_cnn" in s for s in manifest["skipped_pairs"])
    # a CPU run says what it did to the host allocator (tuned on glibc; otherwise why not)
    assert isinstance(manifest["cpu_allocator"]["tuned"], bool)
    assert manifest["cpu_allocator"]["tuned"] or manifest["cpu_allocator"]["reason"]
    summary = (out / "summary.md").read_text()
    assert "mean ± 95% CI" in summary and "deletion.auc" in summary


def test_results_schema_and_settings(reference):
    _, _, df = reference
    assert list(df.columns) == COLUMNS
    assert not df.duplicated(KEY).any()
    assert set(df["kind"]) == {"sample", "curve"}
    # every (model, method) cell that runs, every metric, every sample
    pairs = set(zip(df["model"], df["method"]))
    assert ("digits_cnn", "x_gradient") not in pairs and ("digits_cnn_x", "x_gradient") in pairs
    assert len(pairs) == 7
    aucs = df[(df["metric"] == "deletion") & (df["stat"] == "auc")]
    assert aucs.groupby(["model", "method"]).size().eq(12).all()
    curve = df[(df["metric"] == "deletion") & (df["kind"] == "curve")]
    assert curve.groupby(["model", "method", "sample"]).size().eq(9).all()  # steps + 1 points
    ig = df[df["method"] == "integrated_gradients"].iloc[0]
    assert json.loads(ig["method_params"]) == {"name": "integrated_gradients", "n_steps": 8,
                                               "method": "gausslegendre", "baseline": "zero", "max_batch": 128,
                                               "schedule": "uniform"}
    d = json.loads(df[df["metric"] == "deletion"]["metric_params"].iloc[0])
    assert d["steps"] == 8 and d["substrate"] == "zero" and d["output"] == "softmax"
    assert set(df["device"]) == {"cpu"} and set(df["dtype"]) == {"float32"} and set(df["batch_size"]) == {5}
    # the registered name beside the label, as written (not recovered from metric_params)
    raw_names = pd.read_csv(reference[1] / "results.csv", usecols=["metric", "metric_name"]).drop_duplicates()
    assert dict(zip(raw_names["metric"], raw_names["metric_name"])) == {
        "completeness": "completeness", "deletion": "deletion", "insertion": "insertion", "_info": "_info"}


def test_paper_a_property_visible_in_results(reference):
    """On the X-model, X-Gradient is complete (gap ~ 0); on the biased model Input x Gradient is not."""
    _, _, df = reference
    gap = df[(df["metric"] == "completeness") & (df["stat"] == "relative_gap")]
    xg = gap[(gap["model"] == "digits_cnn_x") & (gap["method"] == "x_gradient")]["value"]
    assert xg.max() < 1e-4  # float32 rounding of a sum over 1024 pixels
    ig = gap[(gap["model"] == "digits_cnn") & (gap["method"] == "integrated_gradients")]["value"]
    assert ig.median() < 0.05  # 8 Gauss-Legendre steps on a ReLU net: small, not exact


def test_same_seed_same_values(reference, tmp_path):
    raw, _, df = reference
    again = run(raw, tmp_path / "again")
    pd.testing.assert_frame_equal(df, again)


def test_resume_after_interruption_recomputes_only_unfinished(reference, tmp_path, monkeypatch):
    raw, _, df = reference
    out = tmp_path / "interrupted"
    entry = METRICS.get("insertion")
    original = entry.fn
    calls = {"n": 0}

    def dying(ctx, **params):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # as if the process were stopped mid-run
        return original(ctx, **params)

    monkeypatch.setattr(entry, "fn", dying)
    with pytest.raises(KeyboardInterrupt):
        run(raw, out)
    monkeypatch.setattr(entry, "fn", original)
    assert not (out / "results.csv").exists()
    n_parts = len(list((out / "parts").rglob("*.csv")))
    assert n_parts > 0

    attributed = []
    real_attr = methods.base.attribute

    def counting(model, inputs, target, method, /, **kw):
        attributed.append(method)
        return real_attr(model, inputs, target, method, **kw)

    monkeypatch.setattr("xbench.executor.attribute", counting)
    resumed = run(raw, out, resume=True)
    pd.testing.assert_frame_equal(df, resumed)
    assert 0 < len(attributed) < 7 * 3  # finished (model, method, batch) units were not recomputed


def test_resume_refuses_a_changed_suite(reference, tmp_path):
    raw, _, _ = reference
    out = tmp_path / "r"
    small = copy.deepcopy(raw)
    small["data"]["n_samples"] = 5
    small["methods"] = ["saliency"]
    run(small, out)
    small["data"]["n_samples"] = 6
    from xbench.errors import XBenchError

    with pytest.raises(XBenchError, match="the suite differs.*data.n_samples: 5 -> 6.*--fresh"):
        run(small, out, resume=True)


def test_rerun_without_resume_starts_over(tmp_path):
    raw = {"name": "t", "device": "cpu", "data": {"name": "digits", "n_samples": 4, "batch_size": 4},
           "models": ["digits_cnn"], "methods": ["saliency"], "metrics": ["completeness"]}
    out = tmp_path / "t"
    a = run(raw, out)
    parts = {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("*.csv")}
    assert parts
    b = run(raw, out)
    pd.testing.assert_frame_equal(a, b)
    # every old part was deleted and computed again (rewritten, not kept)
    assert all(p.stat().st_mtime_ns != m for p, m in parts.items())
    assert json.loads((out / "manifest.json").read_text())["invocations"] == 1


def test_nonfinite_attributions_are_recorded_and_flagged(tmp_path):
    name = "_test_nan_method"
    if name not in methods.METHODS:
        @methods.register(name, description="test only: NaN for the first sample")
        def nan_method(model, inputs, target):
            a = torch.ones_like(inputs)
            a[0] = float("nan")
            return a

    raw = {"name": "nan", "device": "cpu", "data": {"name": "digits", "n_samples": 4, "batch_size": 4},
           "models": ["digits_cnn"], "methods": [name], "metrics": ["completeness"]}
    df = run(raw, tmp_path / "nan")
    gap = df[(df["metric"] == "completeness") & (df["stat"] == "relative_gap")]
    assert gap["flag"].tolist()[0] == "nan" and (gap["flag"].iloc[1:] == "").all()
    summary = pd.read_csv(tmp_path / "nan" / "summary.csv")
    row = summary[(summary["metric"] == "completeness") & (summary["stat"] == "relative_gap")].iloc[0]
    assert row["n_nonfinite"] == 1 and row["n"] == 3
    assert "1 non-finite" in (tmp_path / "nan" / "summary.md").read_text()


@pytest.mark.slow
def test_sigkill_and_resume_give_the_same_rows(reference, tmp_path):
    """A real SIGKILL mid-run, then the same command again (it resumes): bit-identical rows (chunk_size included)
    to an uninterrupted run.

    Both runs are subprocesses with the same thread count, so they compute with the same kernels; ig_distance
    is in the suite because its cached 128-step reference once made a resumed unit record another chunk size."""
    raw = copy.deepcopy(reference[0])
    raw["metrics"] = [*raw["metrics"], {"name": "ig_distance", "n_steps": 16}]
    suite = tmp_path / "tiny.yaml"
    suite.write_text(yaml.safe_dump(raw))
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(torch.get_num_threads()))

    def cmd(out: Path) -> list[str]:
        return [sys.executable, "-m", "xbench", "run", str(suite), "--out", str(out), "--quiet"]

    whole = subprocess.run(cmd(tmp_path / "whole"), env=env, capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "parts").rglob("*.csv"))) < 20 and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "complete").exists()
    done = subprocess.run(cmd(out), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"resuming the interrupted run in {out}" in done.stderr
    pd.testing.assert_frame_equal(read_results(tmp_path / "whole"), read_results(out), check_exact=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["invocations"] == 2 and manifest["resumed"]  # the killed invocation counts too
    assert (out / "complete").exists() and not (out / ".xbench-lock").exists()


def test_small_memory_budget_gives_the_same_values(tmp_path):
    """Forcing tiny chunks (max_batch) changes how the work is split, not the results."""
    base = {"name": "budget", "device": "cpu", "data": {"name": "digits", "n_samples": 7, "batch_size": 7},
            "models": [{"name": "digits_cnn"}],
            "methods": [{"name": "integrated_gradients", "n_steps": 6}],
            "metrics": [{"name": "deletion", "steps": 6}]}
    small = copy.deepcopy(base)
    small["methods"][0]["max_batch"] = 5
    small["metrics"][0]["max_batch"] = 4
    a = run(base, tmp_path / "a")
    b = run(small, tmp_path / "b")
    assert set(b["chunk_size"]) <= {4, 5} and min(a["chunk_size"]) > 5
    pd.testing.assert_frame_equal(a.drop(columns=["value", "chunk_size", "method_params", "metric_params"]),
                                  b.drop(columns=["value", "chunk_size", "method_params", "metric_params"]))
    # Other chunks run the CNN on other batch shapes, whose float32 kernels round differently (and differently
    # on each machine's BLAS). Curve values are outputs of the model: relative rounding. IG's `delta` is
    # sum(A) - (F(x) - F(0)), a small difference of large float32 sums: its rounding is relative to the
    # terms, |F(x)| + |F(0)| + sum|A|, accumulated over the input's d elements (~sqrt(d) ulps each).
    delta = ((a["metric"] == "_info") & (a["stat"] == "delta")).to_numpy()
    pd.testing.assert_series_equal(a["value"][~delta], b["value"][~delta], rtol=1e-5, atol=1e-7)
    from xbench.data import create as create_data
    from xbench.models import create as create_model

    ds = create_data("digits", "test")
    x = torch.stack([torch.as_tensor(ds.dataset[i][0]) for i in range(7)])
    model = create_model("digits_cnn")
    with torch.no_grad():
        t = model(x).argmax(1)
        f = model(torch.cat([x, torch.zeros_like(x)])).gather(1, t.repeat(2)[:, None])[:, 0]
    attr = methods.attribute(model, x, t, "integrated_gradients", n_steps=6)
    terms = f[:7].abs() + f[7:].abs() + attr.flatten(1).abs().sum(1)
    eps = torch.finfo(torch.float32).eps
    tol = 4 * x[0].numel() ** 0.5 * eps * terms.double().numpy()
    gap = (a["value"][delta].to_numpy() - b["value"][delta].to_numpy())
    order = a["sample"][delta].to_numpy()
    assert (abs(gap) <= tol[order]).all(), (gap, tol[order])


def test_rows_record_settings_a_method_decides_at_run_time(tmp_path, tiny_suite):
    """Grad-CAM's default layer is chosen from the model; each row says which layer was used."""
    import json

    from xbench.results import read_results
    from xbench.runner import run_suite
    from xbench.suite import parse_suite

    tiny_suite.update(models=[{"name": "digits_cnn"}], methods=["grad_cam"], metrics=["completeness"])
    tiny_suite["data"].update(n_samples=4, batch_size=4)
    df = read_results(run_suite(parse_suite(tiny_suite), tmp_path / "run", progress=False, report=False))
    layers = {json.loads(p).get("layer") for p in df["method_params"]}
    assert layers == {"features.4"}  # the ReLU after the digits CNN's last convolution


def test_ctrl_c_then_the_same_command_again_resumes(reference, tmp_path):
    """A real SIGINT (Ctrl-C) mid-run: exit 130 and a message saying to rerun; the same command again keeps every
    finished part (untouched), says so in one line, and completes with the rows of an uninterrupted run."""
    raw, _, df = reference
    suite = tmp_path / "tiny.yaml"
    suite.write_text(yaml.safe_dump(raw))
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(torch.get_num_threads()),
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "xbench", "run", str(suite), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "parts").rglob("*.csv"))) < 10 and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command again to continue" in err and "Traceback" not in err
    kept = {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("*.csv")}
    assert kept and not (out / "results.csv").exists()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"resuming the interrupted run in {out}: {len(kept)} finished parts are kept" in again.stderr
    assert all(p.stat().st_mtime_ns == m for p, m in kept.items())  # nothing finished was recomputed
    pd.testing.assert_frame_equal(df, read_results(out), rtol=1e-5, atol=1e-6)


def test_plain_rerun_resumes_fresh_starts_over_and_a_changed_setting_is_refused(tmp_path, capsys):
    from xbench.cli import main

    raw = {"name": "t", "device": "cpu", "data": {"name": "digits", "n_samples": 4, "batch_size": 2},
           "models": ["digits_cnn"], "methods": ["saliency"], "metrics": ["completeness"]}
    suite = tmp_path / "t.yaml"
    suite.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    args = ["run", str(suite), "--out", str(out), "--quiet"]
    assert main(args) == 0
    parts = {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("*.csv")}
    capsys.readouterr()
    assert main(args) == 0  # a finished run: kept, results rebuilt from its parts
    assert f"resuming the finished run in {out}: {len(parts)} finished parts are kept" in capsys.readouterr().err
    assert all(p.stat().st_mtime_ns == m for p, m in parts.items())
    assert main([*args, "--resume"]) == 0  # the old flag is still accepted (the default)
    capsys.readouterr()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main([*args, "--set", "data.n_samples=6"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.n_samples: 4 -> 6" in err[0] and "--fresh" in err[0], err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".xbench-lock"} == before
    assert main([*args, "--fresh", "--resume"]) == 2
    assert "contradict" in capsys.readouterr().err
    assert main([*args, "--fresh", "--set", "data.n_samples=6"]) == 0
    assert "resuming" not in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text())["invocations"] == 1
    assert sorted(read_results(out)["sample"].unique()) == list(range(6))
