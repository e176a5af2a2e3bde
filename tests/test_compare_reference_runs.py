"""benchmarks/compare_reference_runs.py: the check that a refactor leaves the committed reference runs unchanged."""

from __future__ import annotations

import importlib.util
import json
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


def _run_dir(path: Path, weights: dict | None, means: dict[str, float], ci: float = 0.1) -> Path:
    """A minimal run folder: manifest (with ``weights`` unless None), results.csv, summary.csv per model."""
    path.mkdir(parents=True)
    manifest = {} if weights is None else {"weights": {m: [{"file": f"{m}.pt", "source": "cache", "sha256": h}]
                                                       for m, h in weights.items()}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    rows = [{"model": m, "metric": "deletion", "value": str(v), "seed": "0"} for m, v in means.items()]
    pd.DataFrame(rows).to_csv(path / "results.csv", index=False)
    pd.DataFrame([{"model": m, "method": "saliency", "metric": "deletion", "stat": "auc", "mean": v, "ci95": ci,
                   "n": 64, "metric_params": "{}", "method_params": "{}"} for m, v in means.items()]
                 ).to_csv(path / "summary.csv", index=False)
    return path


def test_rows_compare_exactly_where_the_weights_match_and_by_ci_where_not(tmp_path):
    old = _run_dir(tmp_path / "old", {"a": "1", "b": "2"}, {"a": 0.5, "b": 0.5})
    same = _run_dir(tmp_path / "same", {"a": "1", "b": "2"}, {"a": 0.5, "b": 0.5})
    ok, row = crr.compare_runs(old, same)
    assert ok and "exact (same weights)" in row and "none: identical" in row
    # b trained to other bits: its rows differ, its mean lies within the two CIs (0.1 + 0.1) -> accepted, by CI
    near = _run_dir(tmp_path / "near", {"a": "1", "b": "3"}, {"a": 0.5, "b": 0.65})
    ok, row = crr.compare_runs(old, near)
    assert ok and "CI overlap for b (other weights): 1 means, 0 outside" in row and "none: identical" in row
    far = _run_dir(tmp_path / "far", {"a": "1", "b": "3"}, {"a": 0.5, "b": 0.75})
    ok, row = crr.compare_runs(old, far)
    assert not ok and "1 outside (b/saliency/deletion/auc)" in row
    # float32 rounding residues (an X-model's completeness gap) are the same zero, whatever their CIs
    tiny = _run_dir(tmp_path / "tiny", {"a": "1", "b": "2"}, {"a": 0.5, "b": 5e-8}, ci=1e-8)
    tiny2 = _run_dir(tmp_path / "tiny2", {"a": "1", "b": "3"}, {"a": 0.5, "b": 9e-8}, ci=1e-8)
    ok, row = crr.compare_runs(tiny, tiny2)
    assert ok and "0 outside, 1 at rounding level" in row
    # a changed row of a model with the same weights is still a difference
    a_changed = _run_dir(tmp_path / "a_changed", {"a": "1", "b": "3"}, {"a": 0.51, "b": 0.5})
    assert not crr.compare_runs(old, a_changed)[0]
    # a run without recorded hashes: exact everywhere, as before the hashes existed
    unhashed = _run_dir(tmp_path / "unhashed", None, {"a": 0.5, "b": 0.65})
    ok, row = crr.compare_runs(old, unhashed)
    assert not ok and "exact (no weight hashes recorded)" in row


@pytest.mark.slow
def test_localisation_synthetic_regenerates_identically(tmp_path, capsys):
    """The smallest committed run (~20 s), regenerated with this checkout: identical on every non-timing column
    where the weights' hashes match the committed run's (any core count), within the CIs where they do not
    (another CPU's kernels); the line printed says which."""
    rc = crr.main(["--scratch", str(tmp_path), "--suites", "localisation_synthetic"])
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out.splitlines()[-1])
    assert rc == 0
    assert "exact (same weights)" in out and "none: identical" in out or "CI overlap" in out
