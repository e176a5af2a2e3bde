"""The randomisation checks end to end: a run's rows, its pass/fail table, and the report regenerating it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from xbench.report import make_report
from xbench.runner import run_suite
from xbench.suite import load_suite, parse_suite


@pytest.mark.slow
def test_a_sanity_run_fails_random_and_passes_the_gradient(tmp_path):
    raw = {"name": "sanity_tiny", "seed": 0, "device": "cpu",
           "data": {"name": "digits", "split": "test", "n_samples": 6, "batch_size": 4},
           "models": ["digits_cnn"], "methods": ["random", "saliency"],
           "metrics": ["mprt", "random_logit", {"name": "data_randomisation", "epochs": 1}]}
    out = tmp_path / "run"
    run_suite(parse_suite(raw), out, progress=False, echo=None)
    rows = pd.read_csv(out / "results.csv")
    curve = rows[(rows.metric == "mprt") & (rows.kind == "curve")]
    assert sorted(curve.point.unique()) == [0, 1, 2, 3] and len(curve) == 2 * 6 * 4
    assert json.loads(curve.metric_params.iloc[0])["layers"] == ["classifier.3", "classifier.1", "features.3",
                                                                 "features.0"]
    sims = rows[(rows.kind == "sample") & (rows.stat == "similarity")]
    assert (sims[sims.method == "random"].value == 1.0).all() and len(sims) == 2 * 3 * 6
    assert (sims[(sims.method == "saliency") & (sims.metric == "mprt")].value < 0.5).all()
    table = (out / "tables" / "sanity.md").read_text()
    assert "| digits_cnn | random |" in table and "mprt, random_logit, data_randomisation |" in table
    summary = (out / "summary.md").read_text()
    assert "## Randomisation sanity checks: which methods fail" in summary
    (out / "tables" / "sanity.md").unlink()
    make_report(out)
    assert (out / "tables" / "sanity.md").read_text() == table


def test_the_builtin_sanity_suites_load():
    digits = load_suite("sanity_digits")
    assert {m.name for m in digits.metrics} == {"mprt", "random_logit", "data_randomisation"}
    assert "random" in {m.name for m in digits.methods} and len(digits.methods) == 15
    photos = load_suite("verdict_photos")
    quality = load_suite("quality_photos")
    assert [(m.name, m.params) for m in photos.methods] == [(m.name, m.params) for m in quality.methods]
    assert [m.name for m in photos.metrics] == [m.name for m in quality.metrics] + ["mprt", "random_logit"]
