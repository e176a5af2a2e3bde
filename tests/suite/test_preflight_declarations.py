"""Preflight reads what entries declare (inputs, consumes, hooks, fits, data-bounded counts), never their names
or descriptions: every mismatch is one line before any work."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from xbench.errors import SuiteError
from xbench.preflight import preflight
from xbench.suite import parse_suite


class Net(nn.Module):
    """A digits-sized CNN with ReLU modules (what DeepLift/Guided Backprop hook) and an unused layer."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                  nn.Linear(16, 10))
        self.unused = nn.ReLU()

    def forward(self, x):
        return self.body(x)


def _suite(tiny_suite: dict, model: dict, methods: list, metrics: list | None = None) -> dict:
    return dict(tiny_suite, models=[model], methods=methods, metrics=metrics or ["completeness"],
                data={"name": "digits", "split": "test", "n_samples": 6, "batch_size": 4})


def _problems(raw: dict) -> list[str]:
    with pytest.raises(SuiteError) as err:
        preflight(parse_suite(raw))
    return err.value.problems


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, str]:
    """The same network saved with torch.export: with a dynamic batch dimension and with a static batch of 1."""
    net, x = Net().eval(), torch.zeros(4, 1, 32, 32)
    root = tmp_path_factory.mktemp("exported")
    paths = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.export.export(net, (x,), dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},))
        torch.export.save(prog, str(root / "dynamic.pt2"))
        torch.export.save(torch.export.export(net, (x[:1],)), str(root / "static.pt2"))
    paths["dynamic"], paths["static"] = str(root / "dynamic.pt2"), str(root / "static.pt2")
    return paths


def _file(path: str) -> dict:
    return {"name": "file", "path": path, "input_shape": [1, 32, 32]}


@pytest.mark.parametrize("method", [{"name": "captum", "class": "DeepLift"}, "guided_backprop", "grad_cam",
                                    {"name": "captum", "class": "LayerGradCam", "layer": "program.body.0"}])
def test_hooked_methods_are_refused_on_an_exported_program(tiny_suite, exported, method):
    """An exported program has no hookable ReLU/layer modules: DeepLift would silently equal Input x Gradient and
    Guided Backprop the gradient, a layer hook would never fire.  Refused in one line, naming the method."""
    problems = _problems(_suite(tiny_suite, _file(exported["dynamic"]), [method]))
    name = method if isinstance(method, str) else method["name"]
    assert len(problems) == 1 and f"'{name}'" in problems[0] and "torch.export program" in problems[0], problems


def test_unhooked_methods_run_on_an_exported_program(tiny_suite, exported):
    s = parse_suite(_suite(tiny_suite, _file(exported["dynamic"]), ["saliency", {"name": "captum",
                                                                                 "class": "IntegratedGradients"}]))
    preflight(s)
    assert all(m.models == ["file"] for m in s.methods)


def test_a_static_batch_export_is_refused_with_the_fix(tiny_suite, exported):
    """One input passes the dry forward; the run's batch of 4 would fail on the export's guard."""
    problems = _problems(_suite(tiny_suite, _file(exported["static"]), ["saliency"]))
    assert len(problems) == 1 and "batch of" in problems[0] and "torch.export.Dim" in problems[0], problems


def test_a_layer_that_never_runs_is_refused(tiny_suite, tmp_path):
    """The layer exists but is not used by forward: its hook would never fire mid-run."""
    import sys

    mod = tmp_path / "netmod_decl.py"
    mod.write_text("from tests.suite.test_preflight_declarations import Net\n\ndef build():\n    return Net()\n")
    sys.path.insert(0, str(tmp_path))
    try:
        model = {"name": "python", "factory": "netmod_decl:build", "input_shape": [1, 32, 32]}
        problems = _problems(_suite(tiny_suite, model, [{"name": "captum", "class": "LayerGradCam",
                                                          "layer": "unused"}]))
        assert len(problems) == 1 and "layer 'unused' does not run as a module" in problems[0], problems
        s = parse_suite(_suite(tiny_suite, model, [{"name": "captum", "class": "LayerGradCam", "layer": "body.1"},
                                                   {"name": "grad_cam", "layer": "body.1"}]))
        preflight(s)  # a layer that runs is accepted
    finally:
        sys.path.remove(str(tmp_path))


def test_a_metric_consuming_masks_is_refused_by_its_declaration(tiny_suite):
    """What a metric consumes is read from ``consumes``, not from words in its description."""
    from xbench.metrics import METRICS
    from xbench.metrics.base import register_metric

    def inside(model, inputs, target, attributions, *, masks=None):
        return (attributions.flatten(1) * masks.flatten(1)).sum(1)

    inside.__module__ = "my_plugin"
    register_metric("_inside", inside, description="attribution inside the object", direction="higher",
                    consumes=("attributions", "masks"), units="u", label="l", inputs="any")
    try:
        problems = _problems(dict(tiny_suite, metrics=["_inside"]))
    finally:
        METRICS.unregister("_inside")
    assert problems == ["metrics[0]: '_inside': consumes ground-truth masks and digits has none; use a dataset "
                        "with masks (synthetic) or drop it"]


def test_image_only_entries_are_refused_on_tabular_data_one_line_each(tiny_suite):
    raw = dict(tiny_suite, data={"name": "breast_cancer", "split": "test", "n_samples": 4, "batch_size": 4},
               models=["mlp"], methods=["saliency", "grad_cam", "blur_ig"],
               metrics=["keep_remove", "localisation", {"name": "abpc", "substrate": "blur"}, "completeness",
                        {"name": "sensitivity_n", "ns": [1, 31]}])
    problems = _problems(raw)
    assert [p.split(":")[0] for p in problems] == ["methods[1]", "methods[2]", "metrics[0]", "metrics[1]",
                                                   "metrics[2]", "metrics[4].ns"], problems
    assert "the data is tabular" in problems[0] and "30 features of one input" in problems[-1]
