"""The results schema: the ``metric_name`` column, and results written before it existed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xbench.metrics import METRICS
from xbench.results import COLUMNS, read_results, with_metric_name

REPO = Path(__file__).resolve().parents[1]


def test_metric_name_sits_beside_the_label():
    assert COLUMNS.index("metric_name") == COLUMNS.index("metric") + 1


def test_old_results_get_the_name_from_metric_params():
    df = pd.DataFrame({"metric": ["del_zero", "del_zero", "_info", "odd"],
                       "metric_params": ['{"name":"deletion","steps":8}', '{"name":"deletion","steps":8}', "{}",
                                         "not json"]})
    assert list(with_metric_name(df)["metric_name"]) == ["deletion", "deletion", "_info", "odd"]
    assert "metric_name" not in df.columns  # the input is not modified


def test_rows_of_an_older_part_are_filled_and_new_rows_kept():
    df = pd.DataFrame({"metric": ["a", "b"], "metric_name": ["insertion", float("nan")],
                       "metric_params": ['{"name":"deletion"}', '{"name":"abpc"}']})
    assert list(with_metric_name(df)["metric_name"]) == ["insertion", "abpc"]


def test_a_committed_reference_run_without_the_column_still_reads():
    df = read_results(REPO / "results" / "quickstart")
    names = set(df["metric_name"])
    assert "" not in names and names <= set(METRICS.available()) | {"_info"}
    assert "deletion" in names
