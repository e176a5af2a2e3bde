"""Issue 15 end to end: a suite ranks a TorchScript model and a plugin method against the built-ins and Captum
classes, through the CLI; plugins are recorded and never loaded by ``report``; ``compare`` diffs two runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from xbench.cli import main
from xbench.results import read_results

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "plugin"


def _example(tmp_path: Path, copy_plugin: bool = False, **changes) -> Path:
    """A copy of the example suite (paths made absolute) with ``changes``; ``copy_plugin``: its plugin copied beside
    it under another name (a plugin is imported once per file, and one name can be registered once)."""
    raw = yaml.safe_load((EXAMPLE / "suite.yaml").read_text())
    raw["plugins"] = [str(EXAMPLE / "gradient_sign.py")]
    if copy_plugin:
        text = (EXAMPLE / "gradient_sign.py").read_text().replace('"gradient_x_sign"', '"gradient_x_sign_copy"')
        (tmp_path / "sign_copy.py").write_text(text)
        raw["plugins"] = ["sign_copy.py"]
        raw["methods"] = ["gradient_x_sign_copy" if m == "gradient_x_sign" else m for m in raw["methods"]]
    raw["models"][0]["path"] = str(EXAMPLE / "tiny_digits.pt")
    raw["data"].update(n_samples=8, batch_size=4)
    raw.update(changes)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_example_suite_ranks_your_model_and_method(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    suite = _example(tmp_path, copy_plugin=True)
    plugin_file = tmp_path / "sign_copy.py"
    sha = hashlib.sha256(plugin_file.read_bytes()).hexdigest()
    assert main(["run", str(suite), "--out", "run", "--quiet"]) == 0
    df = read_results(tmp_path / "run")
    assert {"gradient_x_sign_copy", "saliency", "captum.FeatureAblation", "random"} <= set(df["method"])
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    (plugin,) = [p for p in manifest["plugins"] if p["spec"] == "sign_copy.py"]
    assert plugin["sha256"] == sha and plugin["registered"] == {"methods": ["gradient_x_sign_copy"]}
    assert manifest["suite"]["plugins"] == ["sign_copy.py"]
    # report regenerates without importing the plugin: delete it first
    plugin_file.unlink()
    assert main(["report", "run"]) == 0
    # compare the run with itself: nothing changes significantly
    capsys.readouterr()
    assert main(["compare", "run", "run", "--out", "cmp"]) == 0
    assert "0 of" in capsys.readouterr().out and (tmp_path / "cmp" / "compare.csv").exists()


def test_hooked_captum_class_on_a_torchscript_model_is_refused_before_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    suite = _example(tmp_path, methods=[{"name": "captum", "class": "DeepLift"}], metrics=["completeness"])
    assert main(["run", str(suite), "--out", "run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "methods[0]" in err[0] and "TorchScript" in err[0]
    assert not (tmp_path / "run").exists()


def test_plugin_failure_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.py").write_text("raise ImportError('needs foo')\n")
    assert main(["list", "methods", "--plugin", "bad.py"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["xbench: error: --plugin[0]: plugin 'bad.py' failed to import: ImportError: needs foo"]


def test_list_and_describe_show_plugin_entries(tmp_path, capsys):
    assert main(["list", "methods", "--plugin", str(EXAMPLE / "gradient_sign.py")]) == 0
    assert "gradient_x_sign" in capsys.readouterr().out
    assert main(["describe", "gradient_x_sign", "--plugin", str(EXAMPLE / "gradient_sign.py")]) == 0
    assert "scale" in capsys.readouterr().out


@pytest.mark.slow
def test_captum_classes_end_to_end_in_a_suite(tmp_path, tiny_suite):
    """DeepLift, FeatureAblation, Lime and LayerGradCam through the runner (labels from their classes)."""
    from xbench.runner import run_suite
    from xbench.suite import parse_suite

    tiny_suite.update(methods=["captum.DeepLift", {"name": "captum.FeatureAblation", "feature_grid": 8},
                               {"name": "captum", "class": "Lime", "feature_grid": 8, "params": {"n_samples": 16}},
                               {"name": "captum", "class": "LayerGradCam"}],
                      metrics=["completeness", {"name": "deletion", "steps": 8}], models=[{"name": "digits_cnn"}])
    tiny_suite["data"].update(n_samples=4, batch_size=4)
    out = run_suite(parse_suite(tiny_suite), tmp_path / "run", progress=False, report=False)
    df = read_results(out)
    labels = {"captum.DeepLift", "captum.FeatureAblation", "captum.Lime", "captum.LayerGradCam"}
    assert set(df["method"]) == labels
    auc = df[(df.metric == "deletion") & (df.stat == "auc")]
    assert auc.groupby("method").value.count().to_dict() == dict.fromkeys(labels, 4)
    assert json.loads(df[df.method == "captum.Lime"].method_params.iloc[0])["cls"] == "Lime"
