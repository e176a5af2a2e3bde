"""The randomisation checks' pass/fail table reads the metric rows and applies the stated threshold."""

from __future__ import annotations

import pandas as pd

from xbench.report.sanity import FAIL_THRESHOLD, sanity_table


def _rows(method: str, metric: str, values: list[float], stat: str = "similarity") -> pd.DataFrame:
    return pd.DataFrame({"model": "m", "method": method, "metric": metric, "metric_name": metric, "stat": stat,
                         "kind": "sample", "value": values, "metric_params": "{}", "method_params": "{}"})


def test_methods_at_or_above_the_threshold_fail():
    df = pd.concat([_rows("random", "mprt", [1.0, 1.0]), _rows("random", "random_logit", [1.0, 1.0]),
                    _rows("saliency", "mprt", [0.1, 0.2]), _rows("saliency", "random_logit", [0.4, 0.8]),
                    _rows("saliency", "mprt", [9.0], stat="other"), _rows("saliency", "deletion", [0.9])])
    heading, table, note = sanity_table(df)
    assert list(table.columns) == ["model", "method", "mprt", "random_logit", "fails"]
    by = table.set_index("method")
    assert by.loc["random", "fails"] == "mprt, random_logit"
    assert by.loc["saliency", "mprt"].startswith("0.15 ± ") and by.loc["saliency", "mprt"].endswith("(passes)")
    assert by.loc["saliency", "random_logit"].endswith("(fails)")  # mean 0.6 >= 0.5
    assert by.loc["saliency", "fails"] == "random_logit"
    assert f"at least {FAIL_THRESHOLD}" in note


def test_no_table_without_randomisation_checks():
    assert sanity_table(_rows("saliency", "deletion", [0.3])) is None
