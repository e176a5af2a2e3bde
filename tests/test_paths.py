"""One rule for paths in a suite: relative to the suite file; command-line paths relative to the current folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from xbench.cli import main
from xbench.errors import SuiteError
from xbench.suite import load_suite

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plugin"
BASE = {"name": "p", "device": "cpu", "data": {"name": "digits", "n_samples": 4, "batch_size": 4},
        "methods": ["saliency"], "metrics": ["completeness"]}


def _suite(folder: Path, models: list, **more) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump({**BASE, "models": models, **more}))
    return path


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xbench: error: "), err
    return lines[0]


def test_relative_paths_in_a_suite_file_are_relative_to_it(tmp_path, monkeypatch):
    from xbench.models.digits import DigitsCNN

    (tmp_path / "suites" / "ckpt").mkdir(parents=True)
    torch.save(DigitsCNN().state_dict(), tmp_path / "suites" / "ckpt" / "m.pt")
    suite = _suite(tmp_path / "suites", [{"name": "digits_cnn", "weights": "ckpt/m.pt"}])
    monkeypatch.chdir(tmp_path)  # another folder than the suite's
    s = load_suite(str(suite.relative_to(tmp_path)))
    assert s.models[0].weights == str(tmp_path / "suites" / "ckpt" / "m.pt")
    # the command line's paths are the shell's: relative to the current folder
    s = load_suite(str(suite), {"models.0.weights": "suites/ckpt/m.pt"})
    assert s.models[0].weights == "suites/ckpt/m.pt"


def test_a_missing_relative_file_names_the_resolved_path(tmp_path, monkeypatch, capsys):
    suite = _suite(tmp_path / "s", [{"name": "digits_cnn", "weights": "ckpt/none.pt"},
                                    {"name": "file", "path": "m.pt", "input_shape": [1, 32, 32]}])
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"'{tmp_path / 's' / 'ckpt' / 'none.pt'}' does not exist" in err
    assert f"'{tmp_path / 's' / 'm.pt'}' does not exist" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field,value,expect", [
    ("weights", "~nosuchuser_xb/x.pt", "models[0].weights: '~nosuchuser_xb/x.pt': cannot expand '~nosuchuser_xb'"),
    ("weights", "bad\ud800/x.pt", "the text 'bad\\ud800/x.pt' holds a lone surrogate"),
    ("path", "m\x00.pt", "models[0].path: 'm\\x00.pt' is not a valid file name"),
])
def test_a_path_no_file_system_can_hold_is_one_line(tmp_path, monkeypatch, capsys, field, value, expect):
    model = {"name": "digits_cnn", field: value} if field == "weights" else {"name": "file", field: value}
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({**BASE, "models": [model]}, allow_unicode=False), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(suite), "--out", "out"]) == 2
    assert expect in _one_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suite.yaml"]
    with pytest.raises(SuiteError, match="cannot expand|not a valid file name|lone surrogate"):
        load_suite(str(suite))


@pytest.mark.parametrize("spec", ["bad\ud800.py", "~nosuchuser_xb/p.py", "p\x00.py"])
def test_a_bad_plugin_path_is_one_line(tmp_path, monkeypatch, capsys, spec):
    monkeypatch.chdir(tmp_path)
    assert main(["list", "methods", "--plugin", spec]) == 2
    assert "--plugin[0]: " in _one_line(capsys.readouterr().err)


def test_the_shipped_example_runs_from_any_folder(tmp_path, monkeypatch):
    """From its own folder, from the repository root and from elsewhere: the same suite file works."""
    for cwd in (EXAMPLE, tmp_path):
        monkeypatch.chdir(cwd)
        s = load_suite(str(EXAMPLE / "suite.yaml") if cwd == tmp_path else "suite.yaml")
        assert s.models[0].params["path"] == str(EXAMPLE / "tiny_digits.pt")
    checkout = {p: p.stat().st_mtime_ns for p in EXAMPLE.iterdir()}
    monkeypatch.chdir(EXAMPLE)
    out = tmp_path / "run"
    assert main(["run", "suite.yaml", "--out", str(out), "--quiet", "--limit", "4",
                 "--set", "methods=[gradient_x_sign, saliency]", "--set", "metrics=[completeness]"]) == 0
    assert (out / "results.csv").is_file()
    assert {p: p.stat().st_mtime_ns for p in EXAMPLE.iterdir()} == checkout  # nothing written beside the example
    shutil.rmtree(out)
