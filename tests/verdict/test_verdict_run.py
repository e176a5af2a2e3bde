"""Every run writes its verdict; `xbench verdict` and `xbench report` regenerate the same one."""

from __future__ import annotations

import pandas as pd
import pytest

from xbench.cli import main
from xbench.report import make_report
from xbench.runner import run_suite
from xbench.suite import parse_suite
from xbench.verdict import FILES
from xbench.verdict.compare import COLUMNS

TEXT = [f for f in FILES if not f.endswith(".png")]


pytestmark = pytest.mark.slow  # one small run (about 20 s on 2 idle cores)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    suite = {"name": "verdict_tiny", "seed": 0, "device": "cpu",
             "data": {"name": "digits", "split": "test", "n_samples": 12, "batch_size": 6},
             "models": ["digits_cnn"],
             "methods": ["saliency", "random", {"name": "random", "seed": 1, "label": "random_b"}],
             "metrics": [{"name": "deletion", "steps": 8}, {"name": "insertion", "steps": 8}, "completeness"]}
    out = tmp_path_factory.mktemp("v") / "run"
    run_suite(parse_suite(suite), out, progress=False, echo=None)
    return out


def test_run_writes_the_verdict_and_random_never_beats_random(run_dir):
    for f in FILES:
        assert (run_dir / f).stat().st_size > 0, f
    v = pd.read_csv(run_dir / "verdict.csv", keep_default_na=False)
    assert list(v.columns) == COLUMNS
    assert set(v["method"]) == {"saliency", "random", "random_b"}
    assert (v[v["method"] == "random"]["beats_random"] == "n/a").all()
    other = v[v["method"] == "random_b"]  # a second, differently seeded random: in the family, never a win
    assert len(other) == 4 and (other["correction"] == "holm").all() and (other["beats_random"] == "false").all()
    assert "verdict.md" in (run_dir / "index.md").read_text()
    assert "comparisons" in (run_dir / "verdict.md").read_text()


def test_verdict_and_report_regenerate_the_same_files(run_dir, capsys):
    first = {f: (run_dir / f).read_bytes() for f in TEXT}
    for f in FILES:
        (run_dir / f).unlink()
    assert main(["verdict", str(run_dir)]) == 0
    assert "method x metric cells beat random" in capsys.readouterr().out
    assert {f: (run_dir / f).read_bytes() for f in TEXT} == first
    assert (run_dir / "verdict.png").stat().st_size > 10_000
    journal = (run_dir / ".xbench-written").read_text().splitlines()
    assert journal.count("verdict.png") == 1  # journaled as xbench's own file, once however often regenerated
    make_report(run_dir)
    assert {f: (run_dir / f).read_bytes() for f in TEXT} == first


def test_verdict_options_and_refusals(run_dir, tmp_path, capsys):
    assert main(["verdict", str(run_dir), "--test", "t", "--correction", "bh"]) == 0
    v = pd.read_csv(run_dir / "verdict.csv", keep_default_na=False)
    assert set(v["correction"]) == {"bh", "excluded"}
    assert main(["verdict", str(tmp_path)]) == 2
    assert "has no results.csv" in capsys.readouterr().err
    main(["verdict", str(run_dir)])  # leave the default verdict for other tests
