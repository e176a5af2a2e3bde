"""``compare_runs``: paired differences over common samples, Welch otherwise, direction from the registry."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xbench.report.compare import compare_frames, compare_runs, paired_interval, welch_interval
from xbench.results import COLUMNS


def _rows(method: str, metric: str, values, stat: str = "auc", kind: str = "sample", params: str | None = None):
    n = len(values)
    return pd.DataFrame({"suite": "s", "model": "m", "method": method, "metric": metric, "stat": stat, "kind": kind,
                         "sample": range(n) if kind == "sample" else -1, "point": -1, "x": np.nan,
                         "value": values, "flag": "", "model_params": "{}", "method_params": f'{{"name":"{method}"}}',
                         "metric_params": params or f'{{"name":"{metric}"}}', "target": "predicted", "device": "cpu",
                         "dtype": "float32", "batch_size": 8, "batch": 0, "chunk_size": 8, "seed": 0}
                        ).reindex(columns=COLUMNS)


def _run(tmp_path, name, frames):
    d = tmp_path / name
    d.mkdir()
    pd.concat(frames, ignore_index=True).to_csv(d / "results.csv", index=False)
    return d


def test_intervals_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=12), rng.normal(0.3, 2.0, size=9)
    diff, ci = welch_interval(a, b)
    res = stats.ttest_ind(b, a, equal_var=False)
    lo, hi = res.confidence_interval(0.95)
    assert diff == pytest.approx((lo + hi) / 2, rel=1e-12) and ci == pytest.approx((hi - lo) / 2, rel=1e-9)
    b2 = a + rng.normal(0.1, 0.05, size=12)
    diff, ci = paired_interval(a, b2)
    lo, hi = stats.ttest_rel(b2, a).confidence_interval(0.95)
    assert diff == pytest.approx((lo + hi) / 2, rel=1e-12) and ci == pytest.approx((hi - lo) / 2, rel=1e-9)


def test_paired_change_is_detected_and_judged_by_direction(tmp_path):
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.8, size=20)
    # deletion: lower is better; b lowers every sample by ~0.05 with little spread -> significant, b better.
    # The per-sample spread (0.17) hides the change from an unpaired test; pairing finds it.
    shift = base - 0.05 + rng.normal(0, 0.01, size=20)
    a = _run(tmp_path, "a", [_rows("ig", "deletion", base), _rows("saliency", "deletion", base),
                             _rows("ig", "timing", [1.0, 1.1], stat="seconds", kind="batch")])
    b = _run(tmp_path, "b", [_rows("ig", "deletion", shift), _rows("saliency", "deletion", base),
                             _rows("ig", "timing", [1.0, 1.05], stat="seconds", kind="batch"),
                             _rows("x_gradient", "deletion", base)])
    df, text = compare_runs(a, b, out=tmp_path / "cmp")
    ig = df[(df.method == "ig") & (df.metric == "deletion")].iloc[0]
    assert ig.test == "paired t" and ig.n == 20 and ig.significant and ig.better == "b"
    assert ig["diff"] == pytest.approx(float(np.mean(shift - base)), abs=1e-12)
    assert not welch_interval(base, shift)[1] < abs(ig["diff"])  # unpaired, the same change is not significant
    same = df[(df.method == "saliency")].iloc[0]
    assert same["diff"] == 0 and not same.significant and same.better == ""
    timing = df[df.metric == "timing"].iloc[0]
    assert timing.test == "Welch" and not timing.significant
    only = df[df.method == "x_gradient"].iloc[0]
    assert only.only_in == "b" and math.isnan(only["diff"])
    assert (tmp_path / "cmp" / "compare.csv").exists()
    assert (tmp_path / "cmp" / "compare.md").read_text() == text
    assert "1 of 4 cells changed significantly" in text


def test_settings_change_is_flagged():
    a = _rows("ig", "deletion", [0.1, 0.2, 0.3], params='{"name":"deletion","steps":16}')
    b = _rows("ig", "deletion", [0.1, 0.2, 0.3], params='{"name":"deletion","steps":32}')
    row = compare_frames(a, b).iloc[0]
    assert row.settings_changed and not row.significant


def _manifest(run, **data):
    import json

    base = {"name": "photos", "split": "test", "n_samples": 8, "subset": "first", "target": "predicted",
            "batch_size": 8, "params": {"size": 224}}
    seed = data.pop("seed", 0)
    (run / "manifest.json").write_text(json.dumps({"suite": {"seed": seed, "data": {**base, **data}}}))


@pytest.mark.parametrize("change", [{"n_samples": 16}, {"split": "train"}, {"seed": 1}, {"subset": "random"},
                                    {"params": {"size": 112}}])
def test_a_changed_data_subset_is_flagged_in_every_cell(tmp_path, change):
    a = _run(tmp_path, "a", [_rows("ig", "deletion", [0.1, 0.2, 0.3])])
    b = _run(tmp_path, "b", [_rows("ig", "deletion", [0.1, 0.2, 0.3])])
    _manifest(a)
    _manifest(b, **dict(change))
    df, text = compare_runs(a, b)
    assert df["settings_changed"].all()
    field = next(iter(change))
    assert "different data" in text and (f"data.{field}" if field != "seed" else "seed: 0 -> 1") in text
    assert "(settings differ)" in text


def test_same_data_and_batch_size_change_is_not_a_data_change(tmp_path):
    a = _run(tmp_path, "a", [_rows("ig", "deletion", [0.1, 0.2, 0.3])])
    b = _run(tmp_path, "b", [_rows("ig", "deletion", [0.1, 0.2, 0.3])])
    _manifest(a)
    _manifest(b, batch_size=2)  # how the samples are batched, not which
    df, text = compare_runs(a, b)
    assert not df["settings_changed"].any() and "different data" not in text


def test_other_sample_ids_are_flagged_without_a_manifest(tmp_path):
    a = _run(tmp_path, "a", [_rows("ig", "deletion", [0.1, 0.2, 0.3])])
    rows = _rows("ig", "deletion", [0.1, 0.2, 0.3])
    rows["sample"] = [0, 1, 5]
    b = _run(tmp_path, "b", [rows])
    df, _ = compare_runs(a, b)
    assert df["settings_changed"].all()
