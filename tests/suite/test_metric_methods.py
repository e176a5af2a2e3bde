"""A metric may name the methods it evaluates (an expensive one on a few): the plan's cells follow, unknown labels
are refused in one line, and suites that do not use it keep their recorded settings (resume, manifest)."""

from __future__ import annotations

import pytest

from xbench.errors import SuiteError
from xbench.plan import cell_settings, units
from xbench.suite import parse_suite


def _suite(tiny_suite, **metric):
    raw = dict(tiny_suite, models=tiny_suite["models"][:1], methods=["saliency", "random"])
    raw["metrics"] = ["completeness", {"name": "deletion", "steps": 8, **metric}]
    return parse_suite(raw)


def test_cells_follow_the_methods_a_metric_names(tiny_suite):
    suite = _suite(tiny_suite, methods=["random"])
    cells = {u.label: [c.label for c in u.cells] for u in units(suite, suite.models[0])}
    assert cells == {"saliency": ["completeness", "_info"], "random": ["completeness", "deletion", "_info"]}


def test_settings_of_a_suite_without_it_are_as_before(tiny_suite):
    suite = _suite(tiny_suite)
    assert all("methods" not in m for m in suite.to_dict()["metrics"])
    unit = units(suite, suite.models[0])[0]
    assert all("methods" not in cell_settings(suite, unit, c)["metric"] for c in unit.cells if c.metric)
    named = _suite(tiny_suite, methods=["saliency"])
    assert named.to_dict()["metrics"][1]["methods"] == ["saliency"]


@pytest.mark.parametrize("methods, text", [(["saliencyy"], "'saliencyy' is not a method label of the suite; "
                                                            "allowed: saliency, random"),
                                           ("saliency", "metrics[1].methods")])
def test_unknown_or_malformed_method_labels_are_refused_in_one_line(tiny_suite, methods, text):
    with pytest.raises(SuiteError) as err:
        _suite(tiny_suite, methods=methods)
    assert text in str(err.value) and len(err.value.problems) == 1


def test_a_model_only_metric_names_no_methods(tiny_suite):
    raw = dict(tiny_suite, methods=["saliency"], metrics=[{"name": "accuracy", "methods": ["saliency"]}])
    with pytest.raises(SuiteError, match="evaluates the model, not a method"):
        parse_suite(raw)
