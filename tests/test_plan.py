"""The plan: typed unit kinds, suite order, rank assignment, and the settings each cell is stamped with."""

from __future__ import annotations

import subprocess
import sys

from xbench.plan import INFO, MODEL_ONLY, CellKind, cell_settings, rank_batches, units
from xbench.provenance import stable_seed
from xbench.suite import parse_suite

RAW = {"name": "p", "device": "cpu", "data": {"name": "digits", "n_samples": 10, "batch_size": 3},
       "models": ["digits_cnn", {"name": "digits_cnn", "x": True}],
       "methods": ["saliency", "x_gradient"], "metrics": ["accuracy", "completeness"]}


def test_units_are_typed_and_in_suite_order():
    from xbench.preflight import preflight

    suite = parse_suite(dict(RAW))
    preflight(suite)  # decides which models each method runs on (x_gradient: the homogeneous ones)
    biased, xmodel = suite.models
    u = units(suite, biased)
    assert [x.label for x in u] == [MODEL_ONLY, "saliency"]  # x_gradient does not run on the biased model
    assert u[0].method is None and [c.kind for c in u[0].cells] == [CellKind.METRIC]
    assert [(c.kind, c.label) for c in u[1].cells] == [(CellKind.METRIC, "completeness"), (CellKind.INFO, INFO)]
    assert [x.label for x in units(suite, xmodel)] == [MODEL_ONLY, "saliency", "x_gradient"]


def test_rank_batches_cover_every_batch_once():
    got = sorted(b for r in range(3) for b in rank_batches(10, 3, r, 3))
    assert got == [0, 1, 2, 3] and rank_batches(10, 3, 1, 3) == [1]


def test_cell_settings_name_what_changes_values():
    suite = parse_suite(dict(RAW))
    unit = units(suite, suite.models[0])[1]
    s = cell_settings(suite, unit, unit.cells[0])
    assert s["data"]["n_samples"] == 10 and "num_workers" not in s["data"]
    assert s["method"]["name"] == "saliency" and s["metric"]["name"] == "completeness"


def test_stable_seed_is_the_same_in_another_process():
    code = "from xbench.provenance import stable_seed; print(stable_seed(0, 'digits_cnn', 'saliency', 3))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(other) == stable_seed(0, "digits_cnn", "saliency", 3)


def test_first_batches_is_a_declared_policy_of_the_plan(tmp_path):
    """timing declares ``first_batches=1``: the plan gives it the first ``batches`` batches only (null: all),
    every other cell every batch; the merge expects exactly those parts (no empty stub parts)."""
    from xbench.metrics import METRICS
    from xbench.plan import all_parts, todo

    assert METRICS.get("timing").meta["first_batches"] == 1 and METRICS.get("timing").params["batches"].default == 1
    for batches, timed in ((None, [0, 1, 2, 3]), (2, [0, 1]), (1, [0])):
        raw = dict(RAW, metrics=["completeness", {"name": "timing", "batches": batches}])
        suite = parse_suite(raw)
        work, total = todo(suite, [0, 1, 2, 3], lambda u, c, b: False)
        cells = {(b, c.label) for (_, _, missing) in work for (b, _), cs in missing.items() for c in cs}
        assert sorted(b for b, label in cells if label == "timing") == timed
        assert sorted(b for b, label in cells if label == "completeness") == [0, 1, 2, 3]
        n_method_units = sum(u.method is not None for m in suite.models for u in units(suite, m))
        parts = all_parts(suite, tmp_path, 4)
        assert sum(p.parent.name == "metric=timing" for p in parts) == len(timed) * n_method_units
        assert sum(p.parent.name == "metric=completeness" for p in parts) == 4 * n_method_units
        assert total == sum(len(cs) for (_, _, missing) in work for cs in missing.values())  # nothing done yet


def test_part_paths_are_namespaced_so_no_label_names_an_internal_file(tmp_path):
    """Labels that spell xbench's own names (or its folders) get parts of their own: ``info/`` and ``no-method/``
    are spellings no label folder can take, and the reserved labels themselves are refused by the schema."""
    from pathlib import Path

    from xbench.plan import part_path
    from xbench.suite.schema import RESERVED_LABELS

    assert {MODEL_ONLY, INFO} <= set(RESERVED_LABELS)
    labels = ["info", "no-method", "model", "metric=x", "times.rank0.json", "-x", "_info_", "parts"]
    paths = {part_path(tmp_path, "m", me, mt, 0) for me in [*labels, MODEL_ONLY] for mt in [*labels, INFO]}
    assert len(paths) == (len(labels) + 1) ** 2
    only = part_path(tmp_path, "m", MODEL_ONLY, "accuracy", 0)
    assert only == tmp_path / "parts/model=m/no-method/metric=accuracy/b00000.csv"
    assert part_path(tmp_path, "m", "saliency", INFO, 3) == tmp_path / "parts/model=m/method=saliency/info/b00003.csv"
    for p in paths:  # every part lies in a model=/ folder: never beside parts/times.rank<r>.json
        assert Path(p).relative_to(tmp_path / "parts").parts[0].startswith("model=")


def test_reserved_labels_are_refused_in_one_line_each():
    import pytest

    from xbench.errors import SuiteError

    raw = {"name": "t", "device": "cpu", "data": {"name": "digits", "n_samples": 4, "batch_size": 4},
           "models": ["digits_cnn"], "methods": [{"name": "saliency", "label": "-"}],
           "metrics": [{"name": "completeness", "label": "_info"}, {"name": "insertion", "label": "_preview"}]}
    with pytest.raises(SuiteError) as err:
        parse_suite(raw)
    assert [p.split(":")[0] for p in err.value.problems] == ["methods[0].label", "metrics[0].label",
                                                             "metrics[1].label"]
