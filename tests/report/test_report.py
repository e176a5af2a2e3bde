"""The report regenerates identically from results.csv alone; summary statistics are right."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from xbench.report import make_report, summarise
from xbench.runner import run_suite
from xbench.suite import parse_suite


def test_summary_mean_and_t_interval():
    df = pd.DataFrame({"model": "m", "method": "a", "metric": "k", "stat": "s", "kind": "sample",
                       "value": [1.0, 2.0, 3.0, float("nan")], "metric_params": "{}", "method_params": "{}"})
    row = summarise(df).iloc[0]
    assert row["mean"] == 2.0 and row["n"] == 3 and row["n_nonfinite"] == 1
    # 95% t interval with 2 dof: t = 4.303, sd = 1, n = 3
    assert math.isclose(row["ci95"], 4.302653 / math.sqrt(3), rel_tol=1e-4)


def test_report_regenerates_identically(tmp_path, tiny_suite):
    tiny_suite["methods"] = ["saliency", "random"]
    tiny_suite["models"] = ["digits_cnn"]
    out = tmp_path / "r"
    run_suite(parse_suite(tiny_suite), out, progress=False, echo=None)
    first = {p.name: p.read_bytes() for p in [out / "summary.csv", out / "summary.md", out / "index.md"]}
    for p in [out / "summary.csv", out / "summary.md", out / "index.md"]:
        p.unlink()
    for png in ("curves_digits_cnn.png", "heatmaps_digits_cnn.png"):
        (out / "plots" / png).unlink()
    text = make_report(out)
    assert "deletion.auc" in text
    assert {p.name: p.read_bytes() for p in [out / "summary.csv", out / "summary.md", out / "index.md"]} == first
    assert (out / "plots" / "curves_digits_cnn.png").stat().st_size > 10_000  # regenerated, not left over
    assert (out / "plots" / "heatmaps_digits_cnn.png").stat().st_size > 10_000
    # the regenerated summary is the per-sample rows' mean, for every method (not only finite)
    s = pd.read_csv(out / "summary.csv")
    rows = pd.read_csv(out / "results.csv")
    for method in ("saliency", "random"):
        got = s[(s.method == method) & (s.metric == "deletion") & (s.stat == "auc")]
        raw = rows[(rows.method == method) & (rows.metric == "deletion") & (rows.stat == "auc")
                   & (rows.kind == "sample")]["value"]
        assert len(raw) == 12 and got["n"].item() == 12
        assert got["mean"].item() == pytest.approx(raw.mean(), rel=1e-8)  # summary.csv keeps 9 significant digits
        assert got["metric_name"].item() == "deletion"


def test_heatmap_columns_follow_the_run_not_file_times(tmp_path, tiny_suite):
    """A committed run (results.csv.gz, previews copied in any order) regenerates the same heatmap grid."""
    import gzip
    import os
    import shutil

    tiny_suite.update(methods=["saliency", "random", "input_x_gradient"], models=["digits_cnn"],
                      metrics=["completeness"])
    tiny_suite["data"]["n_samples"] = 4
    out = tmp_path / "r"
    run_suite(parse_suite(tiny_suite), out, progress=False, echo=None)
    grid = (out / "plots" / "heatmaps_digits_cnn.png").read_bytes()
    copied = tmp_path / "committed"
    shutil.copytree(out, copied)
    csv = copied / "results.csv"
    (copied / "results.csv.gz").write_bytes(gzip.compress(csv.read_bytes(), mtime=0))
    csv.unlink()
    for i, f in enumerate(sorted((copied / "previews" / "digits_cnn").glob("*.pt"))):
        os.utime(f, (1_000_000 + i, 1_000_000 + i))  # alphabetical: not the suite's order
    make_report(copied)
    assert (copied / "plots" / "heatmaps_digits_cnn.png").read_bytes() == grid


def test_report_title_is_the_suite_name_from_the_manifest(tmp_path, tiny_suite):
    import shutil

    tiny_suite.update(methods=["saliency"], models=["digits_cnn"], metrics=["completeness"])
    tiny_suite["data"]["n_samples"] = 5
    out = tmp_path / "r"
    run_suite(parse_suite(tiny_suite), out, progress=False, echo=None)
    copied = tmp_path / "a_copy"
    shutil.copytree(out, copied)
    make_report(copied)
    assert (copied / "summary.md").read_text().startswith("# Summary: tiny\n")  # not "a_copy"
    for name in ("summary.md", "index.md", "summary.csv"):
        assert (copied / name).read_bytes() == (out / name).read_bytes(), name
