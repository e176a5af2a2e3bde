"""Preflight: what needs the data or a built model is checked before any work, and resolved in the suite."""

from __future__ import annotations

import copy
import json
import logging

import pandas as pd
import pytest
import torch

from xbench.errors import SuiteError
from xbench.preflight import estimate_bytes, preflight
from xbench.suite import parse_suite


def test_validation_reads_no_file_and_builds_no_model(tiny_suite, monkeypatch):
    import xbench.models.base as base

    def boom(*a, **k):
        raise AssertionError("validation built a model")

    monkeypatch.setattr(base, "create", boom)
    raw = copy.deepcopy(tiny_suite)
    raw["models"][0] = {"name": "digits_cnn", "weights": "/nonexistent/ckpt.pt"}
    s = parse_suite(raw)  # a missing checkpoint is preflight's finding, not validation's
    assert s.models[0].weights == "/nonexistent/ckpt.pt" and s.models[0].x is None  # the checkpoint decides x
    assert raw["models"][0] == {"name": "digits_cnn", "weights": "/nonexistent/ckpt.pt"}


def test_n_samples_beyond_the_split_is_resolved_and_recorded(tiny_suite, caplog):
    from xbench.data import create

    n = len(create("digits", "test"))
    raw = dict(tiny_suite, data={"name": "digits", "split": "test", "n_samples": 10**6, "batch_size": 5})
    s = parse_suite(raw)
    with caplog.at_level(logging.WARNING, logger="xbench.preflight"):
        preflight(s)
    assert s.data.n_samples == n and s.to_dict()["data"]["n_samples"] == n  # the manifest records what runs
    assert f"evaluating (and recording) {n}" in caplog.text


def test_checkpoint_config_decides_x_and_num_classes(tiny_suite, tmp_path):
    from xbench.models.digits import DigitsCNN

    path = tmp_path / "x.pt"
    torch.save({"state_dict": DigitsCNN(bias=False).state_dict(),
                "config": {"model": "digits_cnn", "x": True, "model_params": {"num_classes": 10}}}, path)
    raw = dict(tiny_suite, models=[{"name": "digits_cnn", "weights": str(path)}])
    s = parse_suite(raw)
    assert s.models[0].x is None
    preflight(s)
    assert (s.models[0].x, s.models[0].num_classes) == (True, 10)
    assert next(m for m in s.methods if m.name == "x_gradient").models == ["digits_cnn"]  # homogeneous: it fits


def test_rows_record_resolved_model_settings(tiny_suite, tmp_path):
    from xbench.runner import run_suite

    raw = dict(tiny_suite, methods=["saliency"], metrics=["completeness"], models=["digits_cnn"],
               data={"name": "digits", "n_samples": 2, "batch_size": 2})
    out = run_suite(parse_suite(raw), tmp_path / "run", progress=False, report=False, echo=None)
    params = pd.read_csv(out / "results.csv")["model_params"].unique()
    assert len(params) == 1
    recorded = json.loads(params[0])
    assert (recorded["x"], recorded["weights"], recorded["num_classes"]) == (False, "trained", 10)


def test_memory_estimate_counts_model_weights_and_batches(tiny_suite):
    s = parse_suite(dict(tiny_suite, metrics=[{"name": "deletion", "steps": 100}]))
    preflight(s)
    x0 = torch.zeros(1, 32, 32)
    from xbench.models import create

    with torch.device("meta"):
        built = {m.label: create(m.name, x=m.x, weights=None, device="meta") for m in s.models}
    est = estimate_bytes(s, x0, built)
    n_params = sum(p.numel() for p in built["digits_cnn"].parameters())
    assert est["models[0]"] == 4 * n_params  # float32
    assert est["data.batch_size"] == 2 * 5 * 32 * 32 * 4  # inputs and attributions of one batch
    assert est["metrics[0].steps"] == 5 * 101 * 8


def test_errors_are_collected_one_line_each(tiny_suite):
    raw = dict(tiny_suite, models=[{"name": "digits_cnn", "size": 64}, {"name": "digits_cnn", "x": True, "size": 16}])
    with pytest.raises(SuiteError) as err:
        preflight(parse_suite(raw))
    assert [line.split(":")[0] for line in err.value.problems] == ["models[0]", "models[1]"]
    assert all("\n" not in line for line in err.value.problems)


OFFLINE = ("digits", "synthetic", "breast_cancer")


@pytest.mark.parametrize("name", sorted(__import__("xbench.suite", fromlist=["x"]).builtin_suites()))
def test_every_builtin_suite_validates_and_the_offline_ones_pass_preflight(name):
    from xbench.suite import load_suite

    suite = load_suite(name)
    assert all(m.weights != "default" for m in suite.models)
    if suite.data.name in OFFLINE:
        preflight(suite)  # meta-device dry forward of every model, every method matched to its models
        assert all(me.models for me in suite.methods)
