"""Malformed suites: every problem is one line naming the field path and what is allowed."""

from __future__ import annotations

import copy

import pytest
import yaml

from xbench.errors import SuiteError
from xbench.preflight import preflight
from xbench.suite import builtin_suites, load_suite, parse_suite


def problems(raw, planned: bool = False) -> list[str]:
    """The problem lines of validation (and of preflight with ``planned``)."""
    with pytest.raises(SuiteError) as err:
        suite = parse_suite(raw)
        if planned:
            preflight(suite)
    return err.value.problems


def with_(base: dict, path: str, value) -> dict:
    raw = copy.deepcopy(base)
    node = raw
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return raw


def test_valid_tiny_suite_resolves_defaults(tiny_suite):
    before = copy.deepcopy(tiny_suite)
    s = parse_suite(tiny_suite)
    assert tiny_suite == before  # validation never mutates its input
    xg = next(m for m in s.methods if m.name == "x_gradient")
    assert xg.models is None and s.skipped == []  # validation builds no model: fit is preflight's job
    # the factory's defaults are resolved in the spec, never "default" or null
    assert [(m.x, m.weights, m.num_classes) for m in s.models] == [(False, "trained", 10), (True, "trained", 10)]
    preflight(s)
    ig = next(m for m in s.methods if m.name == "integrated_gradients")
    assert ig.params["n_steps"] == 8 and ig.params["method"] == "gausslegendre" and ig.params["baseline"] == "zero"
    dele = next(m for m in s.metrics if m.name == "deletion")
    assert dele.params["substrate"] == "zero" and dele.params["output"] == "softmax"
    # x_gradient is kept for the X-model only, and the skip is recorded with the offending layer
    xg = next(m for m in s.methods if m.name == "x_gradient")
    assert xg.models == ["digits_cnn_x"]
    assert any("features.0" in line for line in s.skipped)


@pytest.mark.parametrize("path,value,expect", [
    ("methods.1", {"name": "integrated_gradient"}, "methods[1].name: 'integrated_gradient' is not a method"),
    ("methods.1", {"name": "integrated_gradient"}, "did you mean 'integrated_gradients'"),
    ("methods.1", {"name": "integrated_gradients", "n_step": 3}, "methods[1].n_step: 'n_step' is not a parameter"),
    ("methods.1", {"name": "integrated_gradients", "n_steps": 0}, "methods[1].n_steps: 0 is out of range"),
    ("methods.1", {"name": "integrated_gradients", "n_steps": "ten"}, "methods[1].n_steps: 'ten' has type str"),
    ("methods.1", {"name": "integrated_gradients", "method": "simpson"},
     "allowed: 'riemann_left' | 'riemann_right'"),
    ("metrics.1", {"name": "deletion", "substrate": "gray"}, "metrics[1].substrate: 'gray' is not allowed"),
    ("metrics.1", {"name": "deletion", "output": "prob"}, "allowed: 'softmax' | 'logit'"),
    ("metrics.0", "completness", "did you mean 'completeness'"),
    ("models.0", {"name": "digits_cn"}, "models[0].name: 'digits_cn' is not a model"),
    ("models.0", {"name": "digits_cnn", "x": "yes"}, "models[0].x: 'yes' has type str; expected bool"),
    ("models.0", {"name": "digits_cnn", "depth": 3}, "models[0].depth: unknown key"),
    ("data.n_samples", 0, "data.n_samples: 0 is out of range"),
    ("data.batch_size", 2.5, "data.batch_size: 2.5 has type float; expected int"),
    ("data.split", "valid", "data.split: 'valid' is not allowed; allowed: 'train' | 'test' | 'all'"),
    ("data.name", "digit", "did you mean 'digits'"),
    ("data.target", "truth", "data.target: 'truth' is not allowed; allowed: 'predicted' | 'label'"),
    ("device", "gpu", "device: 'gpu' is not allowed; allowed: auto, cpu, cuda, cuda:N, mps"),
    ("dtype", "float16", "dtype: 'float16' is not allowed"),
    ("seed", -1, "seed: -1 is out of range"),
    ("name", "my suite", "name: 'my suite' is not allowed; allowed: 1-100 letters"),
    ("name", "..", "name: '..' is not allowed"),
    ("name", "../x", "name: '../x' is not allowed"),
    ("seed", 2**70, "seed: 1180591620717411303424 does not fit in 64 bits"),
    ("models.0", {"name": "digits_cnn", "num_classes": -3}, "models[0].num_classes: -3 is out of range"),
    ("models.0", {"name": "digits_cnn", "width": 0}, "models[0].width: 0 is out of range"),
    ("models.0", {"name": "digits_cnn", "label": ".."}, "models[0].label: '..' is not allowed"),
    ("metrics.1", {"name": "max_sensitivity", "radius": float("nan")}, "metrics[1].radius: nan is not a finite"),
    ("metrics.1", {"name": "max_sensitivity", "n_samples": 10**9}, "metrics[1].n_samples: 1000000000 is out of"),
    ("methods.0", {"name": "smoothgrad", "stdev": float("inf")}, "methods[0].stdev: inf is not a finite number"),
    ("metrics.1", {"name": "deletion", "steps": 10**9}, "metrics[1].steps: 1000000000 is out of range"),
    ("metrics.1", {"name": "contrast", "scales": [1.0, [2.0]]}, "metrics[1].scales[1]: [2.0] has type list"),
    ("data.num_workers", 10**6, "data.num_workers: 1000000 is out of range"),
    ("methods", [], "methods: expected a non-empty list"),
    ("models", "digits_cnn", "models: expected a non-empty list"),
    ("metrics.0", 3, "metrics[0]: 3 has type int"),
    ("metrics.0", {"substrate": "zero"}, "metrics[0]: missing 'name'"),
])
def test_one_line_errors(tiny_suite, path, value, expect):
    lines = problems(with_(tiny_suite, path, value))
    assert any(expect in line for line in lines), lines
    assert all("\n" not in line for line in lines)


def test_unknown_top_level_key_suggests(tiny_suite):
    raw = dict(tiny_suite, metrcs=[])
    assert any("metrcs: unknown key" in p and "did you mean 'metrics'" in p for p in problems(raw))


def test_missing_required_keys():
    lines = problems({"name": "x"})
    for key in ("data", "models", "methods", "metrics"):
        assert f"{key}: required but missing" in lines


def test_all_problems_reported_at_once(tiny_suite):
    raw = with_(with_(tiny_suite, "seed", "zero"), "data.n_samples", -3)
    lines = problems(raw)
    assert len(lines) >= 2


def test_x_gradient_without_any_homogeneous_model_is_refused(tiny_suite):
    raw = dict(tiny_suite, models=[{"name": "digits_cnn"}])
    (line,) = [p for p in problems(raw, planned=True) if "x_gradient" in p]
    assert line.startswith("methods[2]:") and "homogeneous" in line and "x: true" in line


def test_x_gradient_pinned_to_biased_model_names_layer(tiny_suite):
    raw = copy.deepcopy(tiny_suite)
    raw["methods"][2] = {"name": "x_gradient", "models": ["digits_cnn"]}
    (line,) = problems(raw, planned=True)
    assert "'digits_cnn': needs a homogeneous model but it has layer 'features.0'" in line


def test_method_models_must_be_labels(tiny_suite):
    raw = copy.deepcopy(tiny_suite)
    raw["methods"][0] = {"name": "saliency", "models": ["digits_cnn_y"]}
    assert any("'digits_cnn_y' is not a model label" in p and "did you mean" in p for p in problems(raw))


def test_duplicate_methods_get_labels_from_their_params(tiny_suite):
    raw = copy.deepcopy(tiny_suite)
    raw["methods"] = [{"name": "integrated_gradients", "n_steps": 8},
                      {"name": "integrated_gradients", "n_steps": 16}]
    s = parse_suite(raw)
    assert [m.label for m in s.methods] == ["integrated_gradients[n_steps=8]", "integrated_gradients[n_steps=16]"]
    raw["methods"][1]["n_steps"] = 8
    assert any("duplicate label" in p for p in problems(raw))


def test_yaml_files_and_builtins(tmp_path, tiny_suite):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(tiny_suite))
    assert load_suite(str(f)).name == "tiny"
    assert "quickstart" in builtin_suites()
    assert load_suite("quickstart").data.n_samples == 64
    with pytest.raises(SuiteError, match="did you mean 'quickstart'"):
        load_suite("quickstrat")
    with pytest.raises(SuiteError, match="no such suite file"):
        load_suite(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodels: [a\n")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(str(bad))


def test_yaml_is_read_with_safe_load(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(str(f))


def test_overrides_apply_before_validation(tmp_path, tiny_suite):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(tiny_suite))
    s = load_suite(str(f), {"device": "cpu", "data.n_samples": 3})
    assert s.data.n_samples == 3
    with pytest.raises(SuiteError, match="device"):
        load_suite(str(f), {"device": "tpu"})


def test_split_defaults_to_the_datasets_own_default(tiny_suite):
    from xbench.data import DATASETS

    raw = copy.deepcopy(tiny_suite)
    raw["data"] = {"name": "imagenet", "root": "/nonexistent"}
    assert parse_suite(raw).data.split == DATASETS.get("imagenet").params["split"].default == "val"
    raw["data"] = {"name": "digits"}
    assert parse_suite(raw).data.split == "test"
