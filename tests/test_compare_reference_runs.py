"""benchmarks/compare_reference_runs.py: the check that a refactor leaves the committed reference runs unchanged."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

_spec = importlib.util.spec_from_file_location(
    "compare_reference_runs", Path(__file__).resolve().parents[1] / "benchmarks" / "compare_reference_runs.py")
crr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crr)


def _rows(values: list[str], metric: str = "deletion") -> pd.DataFrame:
    return pd.DataFrame({"metric": [metric] * len(values), "value": values, "seed": ["0"] * len(values)})


def test_timing_rows_and_one_sided_columns_are_left_out_and_every_other_value_compared():
    committed = pd.concat([_rows(["0.1", "0.2"]), _rows(["9"], "timing")], ignore_index=True)
    same = pd.concat([_rows(["0.1", "0.2"]), _rows(["3"], "timing")], ignore_index=True).assign(metric_name="x")
    r = crr.compare(committed, same)
    assert r["differing"] == {} and r["only_new"] == ["metric_name"] and r["rows"] == (2, 2)
    changed = same.copy()
    changed.loc[1, "value"] = "0.20000001"  # text as written: the last digit counts
    assert crr.compare(committed, changed)["differing"] == {"value": 1}
    assert crr.compare(committed, same.iloc[:1])["differing"] == {"(row count)": 1}
    prior = pd.DataFrame({"rep": ["0"], "test": ["0.9"], "step_ms": ["1.0"]})
    assert crr.compare(prior, prior.assign(step_ms="2.0"))["differing"] == {}  # wall clock, not a result


def test_default_suites_are_the_committed_runs_without_the_photo_suites():
    suites = crr.reference_suites()
    assert "quickstart" in suites and not set(crr.SKIPPED) & set(suites)
    assert crr.is_prior("priors_digits_smoothness") and not crr.is_prior("quickstart")


@pytest.mark.slow
def test_localisation_synthetic_regenerates_identically(tmp_path, capsys):
    """The smallest committed run (~20 s), regenerated with this checkout: identical on every non-timing column."""
    assert crr.main(["--scratch", str(tmp_path), "--suites", "localisation_synthetic"]) == 0
    assert "none: identical" in capsys.readouterr().out
