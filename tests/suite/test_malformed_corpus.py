"""The malformed-input corpus: every case is one line on stderr, exit code 2, nothing written.

Cases are data files: ``malformed/*.yaml`` (each starts with ``# expect: <text of the error line>``;
non-UTF-8 ones too) run as ``xbench run CASE --out OUT``, and ``malformed/flags.tsv`` (id, expected
text, arguments).  They run in-process through :func:`xbench.cli.main` (fast on 2 cores); a few
also run as a real ``python -m xbench`` process to prove the exit code and the stderr.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xbench.cli import main

HERE = Path(__file__).parent / "malformed"
YAML_CASES = sorted(p for p in HERE.glob("*.yaml") if not p.name.startswith("_"))
FLAG_CASES = [line.split("\t") for line in (HERE / "flags.tsv").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
NEEDS_NO_MPS = {"device_mps"}  # on a Mac with MPS these are valid


def _expectation(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), f"{path.name}: the first line must be '# expect: ...'"
    return first[len("# expect: "):]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """An empty working directory, broken checkpoints in ``ckpt/``, and no torchvision weights cached."""
    work = tmp_path / "work"
    work.mkdir()
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    gen = torch.Generator().manual_seed(0)
    (ckpt / "random.pt").write_bytes(bytes(torch.randint(0, 256, (4096,), generator=gen).tolist()))
    (ckpt / "text.pt").write_text("this is a text file, not a checkpoint\n")
    (ckpt / "empty.pt").write_bytes(b"")
    from xbench.models.digits import DigitsCNN

    torch.save(DigitsCNN().state_dict(), ckpt / "whole.pt")
    blob = (ckpt / "whole.pt").read_bytes()
    (ckpt / "truncated.pt").write_bytes(blob[: len(blob) // 2])
    torch.save(torch.nn.Linear(3, 2).state_dict(), ckpt / "wrong_arch.pt")
    (ckpt / "folder.pt").mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XBENCH_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # an empty hub cache
    return {"work": work, "ckpt": ckpt, "out": tmp_path / "out", "tmp": tmp_path}


def _fill(text: str, box: dict, suite: Path | None = None) -> str:
    return (text.replace("{ckpt}", str(box["ckpt"])).replace("{out}", str(box["out"]))
            .replace("{suite}", str(suite or HERE / "_base.yaml")))


def _assert_one_line_nothing_written(rc: int, err: str, expect: str, box: dict) -> None:
    lines = err.strip("\n").splitlines()
    assert rc == 2, (rc, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("xbench: error: "), err
    assert expect in lines[0], (expect, lines[0])
    assert "Traceback" not in err
    assert not box["out"].exists(), "an output folder was created"
    assert list(box["work"].iterdir()) == [], f"files written: {list(box['work'].iterdir())}"


def test_corpus_has_at_least_60_cases():
    assert len(YAML_CASES) + len(FLAG_CASES) >= 60
    assert len({p.stem for p in YAML_CASES}) == len(YAML_CASES)
    assert len({c[0] for c in FLAG_CASES}) == len(FLAG_CASES)


def test_the_base_suite_is_valid():
    from xbench.preflight import preflight
    from xbench.suite import load_suite

    preflight(load_suite(str(HERE / "_base.yaml")))  # so each case fails for its own reason only


@pytest.mark.parametrize("path", YAML_CASES, ids=[p.stem for p in YAML_CASES])
def test_malformed_suite(path, sandbox, capsys):
    if path.stem in NEEDS_NO_MPS and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    case = sandbox["tmp"] / path.name
    case.write_bytes(path.read_bytes().replace(b"{ckpt}", str(sandbox["ckpt"]).encode()))
    rc = main(["run", str(case), "--out", str(sandbox["out"]), "--quiet"])
    captured = capsys.readouterr()
    assert captured.out == ""
    _assert_one_line_nothing_written(rc, captured.err, _fill(_expectation(path), sandbox), sandbox)


@pytest.mark.parametrize("case", FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_malformed_flags(case, sandbox, capsys):
    name, expect, args = case
    if name in NEEDS_NO_MPS and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    rc = main(shlex.split(_fill(args, sandbox)))
    _assert_one_line_nothing_written(rc, capsys.readouterr().err, _fill(expect, sandbox), sandbox)


@pytest.mark.parametrize("case", ["binary_random_bytes", "weights_truncated", "model_size_64_on_32px_data"])
def test_real_process_exit_code(case, sandbox):
    path = HERE / f"{case}.yaml"
    suite = sandbox["tmp"] / path.name
    suite.write_bytes(path.read_bytes().replace(b"{ckpt}", str(sandbox["ckpt"]).encode()))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    r = subprocess.run([sys.executable, "-m", "xbench", "run", str(suite), "--out", str(sandbox["out"])],
                       capture_output=True, text=True, timeout=300, env=env, cwd=sandbox["work"])
    _assert_one_line_nothing_written(r.returncode, r.stderr, _fill(_expectation(path), sandbox), sandbox)
