"""The command line as a user types it: exit codes, one-line errors, listings."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from xbench.cli import main


def test_list_prints_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for header in ("methods:", "metrics:", "models:", "datasets:", "suites:"):
        assert header in out
    assert "x_gradient" in out and "quickstart" in out and "digits_cnn" in out


def test_list_one_kind(capsys):
    assert main(["list", "metrics"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("metrics:") and "deletion" in out and "methods:" not in out


def test_bad_suite_exits_2_with_one_line_per_problem(tmp_path, capsys, tiny_suite):
    tiny_suite["methods"][1] = {"name": "integrated_gradients", "n_step": 8}
    tiny_suite["data"]["n_samples"] = 0
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(tiny_suite))
    assert main(["run", str(f), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("xbench: error: ") for line in err)
    assert any("methods[1].n_step" in line for line in err) and any("data.n_samples" in line for line in err)
    assert "Traceback" not in "".join(err)
    assert not (tmp_path / "o").exists()  # validation happens before any work


def test_unknown_suite_name_and_bad_limit(capsys, tmp_path):
    assert main(["run", "quickstrat"]) == 2
    assert "did you mean 'quickstart'" in capsys.readouterr().err
    assert main(["run", "quickstart", "--limit", "0", "--out", str(tmp_path)]) == 2
    assert "--limit" in capsys.readouterr().err


def test_report_on_a_non_run_directory(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "has no results.csv" in capsys.readouterr().err


def test_module_entry_point_runs_with_limit(tmp_path, tiny_suite):
    tiny_suite["methods"] = ["saliency"]
    tiny_suite["models"] = ["digits_cnn"]
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(tiny_suite))
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "xbench", "run", str(f), "--out", str(out), "--limit", "3",
                        "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "deletion.auc" in r.stdout and "mean ± 95% CI" in r.stdout  # the terminal summary
    import pandas as pd

    df = pd.read_csv(out / "results.csv")
    assert sorted(df[df["kind"] == "sample"]["sample"].unique()) == [0, 1, 2]


@pytest.mark.slow
def test_train_then_use_the_checkpoint_in_a_suite(tmp_path, capsys):
    ckpt = tmp_path / "syn_x.pt"
    assert main(["train", "synthetic_cnn", "--data", "synthetic", "--x", "--epochs", "1", "--out", str(ckpt),
                 "--quiet"]) == 0
    assert ckpt.is_file() and "checkpoint:" in capsys.readouterr().out
    suite = {"name": "ck", "device": "cpu", "data": {"name": "synthetic", "n_samples": 4, "batch_size": 4},
             "models": [{"name": "synthetic_cnn", "weights": str(ckpt)}],
             "methods": ["x_gradient"], "metrics": ["completeness", "localisation"]}
    f = tmp_path / "ck.yaml"
    f.write_text(yaml.safe_dump(suite))
    assert main(["run", str(f), "--out", str(tmp_path / "run"), "--quiet"]) == 0  # x comes from the checkpoint
    import pandas as pd

    df = pd.read_csv(tmp_path / "run" / "results.csv")
    gap = df[(df.metric == "completeness") & (df.stat == "relative_gap")]["value"]
    assert len(gap) == 4 and gap.max() < 1e-4  # X-Gradient is complete on the trained X-model
    assert main(["train", "synthetic_cnn", "--data", "synthetic", "--epochs", "0"]) == 2


def test_list_unknown_kind(capsys):
    assert main(["list", "method"]) == 2
    assert "did you mean 'methods'" in capsys.readouterr().err


def test_help_exits_0_and_usage_errors_are_one_line(capsys):
    assert main(["--help"]) == 0
    assert "describe" in capsys.readouterr().out
    assert main(["run"]) == 2  # argparse's own error: one line, our prefix, exit 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xbench: error: run: the following arguments are required: suite")


def test_describe_suite_lists_every_field_with_its_default(capsys):
    from xbench.suite.schema import DATA_FIELDS, TOP_FIELDS

    assert main(["describe", "suite"]) == 0
    out = capsys.readouterr().out
    for name, spec in {**TOP_FIELDS, **{f"data.{k}": s for k, s in DATA_FIELDS.items()}}.items():
        assert f"  {name} " in out and spec.doc in out
    assert "default 64" in out  # data.n_samples: the same default DataSpec uses


def test_an_error_never_shares_a_line_with_a_progress_bar(tmp_path, monkeypatch, capsys):
    """A bar left on screen by work that failed is cleared before the error line is written."""
    import xbench.runner as runner
    from xbench.errors import XBenchError

    def fail_mid_run(suite, out=None, **kw):
        from tqdm import tqdm

        bar = tqdm(total=10, desc="run", file=sys.stderr)
        bar.update(3)
        raise XBenchError("something: went wrong mid-run")

    monkeypatch.setattr(runner, "run_suite", fail_mid_run)
    assert main(["run", "quickstart", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    line = next(line for line in err.replace("\r", "\n").splitlines() if "xbench: error:" in line)
    assert line == "xbench: error: something: went wrong mid-run"
