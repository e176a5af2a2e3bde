"""Run directories never lose user data: ownership, lock, verified parts, settings per part, completion."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from xbench.cli import main
from xbench.errors import XBenchError
from xbench.results import read_results
from xbench.rundir import COMPLETE, JOURNAL, LOCK, MARKER, TMP_SUFFIX, RunDir, check_out_path
from xbench.runner import run_suite
from xbench.suite import parse_suite

TINY = {"name": "rd", "seed": 0, "device": "cpu", "data": {"name": "digits", "n_samples": 4, "batch_size": 2},
        "models": ["digits_cnn"], "methods": ["saliency"], "metrics": ["completeness"]}


def run(out: Path | None, raw: dict = TINY, **kw) -> Path:
    return run_suite(parse_suite(dict(raw)), out, progress=False, echo=None, **kw)


def cli(tmp_path: Path, *args: str, raw: dict = TINY) -> int:
    f = tmp_path / "suite.yaml"
    f.write_text(yaml.safe_dump(raw))
    return main(["run", str(f), "--quiet", *args])


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("xbench: error: "), err
    return lines[0]


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# ---- 1, 2: never delete what xbench did not write ----------------------------------------------------------
def test_out_into_a_foreign_folder_is_refused_and_nothing_is_touched(tmp_path, capsys):
    user = tmp_path / "u"
    for rel in ("plots/fig1.png", "tables/t.md", "parts/p.csv", "previews/x.pt", "results.csv", "index.md"):
        (user / rel).parent.mkdir(parents=True, exist_ok=True)
        (user / rel).write_text(f"mine: {rel}")
    before = tree(user)
    assert cli(tmp_path, "--out", str(user)) == 2
    assert "is not an xbench run folder" in one_error_line(capsys.readouterr().err)
    assert tree(user) == before
    assert cli(tmp_path, "--out", str(user), "--resume") == 2  # resume is no way around it
    assert tree(user) == before


def test_rerun_deletes_only_what_the_journal_lists(tmp_path):
    out = tmp_path / "r"
    run(out)
    (out / "plots" / "mine.png").write_text("the user's")
    (out / "notes.txt").write_text("the user's too")
    old_parts = {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("*.csv")}
    run(out)
    assert (out / "plots" / "mine.png").read_text() == "the user's" and (out / "notes.txt").exists()
    # every part was recomputed (a fresh start keeps nothing of the old run)
    assert all(p.stat().st_mtime_ns != m for p, m in old_parts.items())
    assert (out / COMPLETE).exists() and (out / MARKER).exists()


@pytest.mark.parametrize("where", [".", "..", "runs/.."])
def test_out_resolving_to_the_current_folder_or_a_parent_is_refused(tmp_path, monkeypatch, where):
    work = tmp_path / "w"
    work.mkdir()
    (work / "keep.txt").write_text("x")
    monkeypatch.chdir(work)
    with pytest.raises(XBenchError, match="current folder or one of its parents"):
        run(Path(where))
    assert sorted(p.name for p in work.iterdir()) == ["keep.txt"]


def test_suite_name_that_escapes_cannot_make_the_default_out_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = parse_suite(dict(TINY))
    suite.name = ".."  # as if validation let it through: the run directory still refuses
    with pytest.raises(XBenchError, match="current folder or one of its parents"):
        run_suite(suite, None, progress=False, echo=None)
    assert list(tmp_path.iterdir()) == []


# ---- 3: default output is git-ignored runs/<suite> -----------------------------------------------------------
def test_default_out_is_runs_suite_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = run(None)
    assert out == Path("runs") / "rd" and (tmp_path / "runs" / "rd" / "results.csv").is_file()
    ignore = (Path(__file__).resolve().parents[1] / ".gitignore").read_text().splitlines()
    assert "/runs/" in ignore


# ---- 4: parts verify, or are recomputed ---------------------------------------------------------------------
def test_corrupt_parts_are_recomputed_never_merged(tmp_path, capsys):
    out = tmp_path / "c"
    run(out)
    good = read_results(out)
    parts = sorted((out / "parts").rglob("b*.csv"))
    assert len(parts) >= 4
    blob = parts[0].read_bytes()
    parts[0].write_bytes(blob[: len(blob) // 2])  # cut mid-line
    lines = parts[1].read_bytes().splitlines(keepends=True)
    parts[1].write_bytes(b"".join(lines[:-2]))  # cut at a line boundary: rows silently lost without a checksum
    parts[2].write_bytes(os.urandom(300))
    parts[3].write_bytes(b"")
    capsys.readouterr()
    run(out, resume=True)
    err = capsys.readouterr().err
    recomputed = [ln for ln in err.splitlines() if ln.endswith("recomputing it")]
    assert len(recomputed) == 4 and all(ln.startswith("xbench: parts/") for ln in recomputed), err
    assert "Traceback" not in err
    pd.testing.assert_frame_equal(read_results(out), good, check_exact=True)


def test_merge_names_a_part_that_does_not_verify(tmp_path):
    rd = RunDir(tmp_path / "m")
    rd.claim()
    p = tmp_path / "m" / "parts" / "b00000.csv"
    rd.write_part(p, pd.DataFrame({"value": [1.0, 2.0]}), {"seed": 0})
    assert rd.read_part(p)["value"].tolist() == [1.0, 2.0]
    blob = p.read_bytes()
    assert blob.endswith(b"\n2\n")
    p.write_bytes(blob[:-2] + b"3\n")  # one value changed after it was written
    with pytest.raises(XBenchError, match=r"b00000.csv: checksum mismatch"):
        rd.read_part(p)


# ---- 5: one run per folder --------------------------------------------------------------------------------
def test_second_run_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "l"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rd = RunDir(out)
        rd.claim()
        import socket

        (out / LOCK).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "since": "now"}))
        assert cli(tmp_path, "--out", str(out)) == 2
        line = one_error_line(capsys.readouterr().err)
        assert f"in use by another xbench run (pid {holder.pid} on {socket.gethostname()}" in line
        assert not (out / "results.csv").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale and taken over
    run(out)
    assert (out / "results.csv").exists() and not (out / LOCK).exists()


# ---- 6: each part carries its settings ------------------------------------------------------------------------
def test_resume_refuses_parts_from_other_settings_even_without_the_stamp(tmp_path):
    out = tmp_path / "s"
    run(out)
    (out / "run.json").unlink()  # the suite-level guard is gone; the parts still know
    changed = {**TINY, "data": {**TINY["data"], "n_samples": 3}}
    with pytest.raises(XBenchError, match=r"other settings \(data.n_samples: 4 -> 3\)"):
        run(out, changed, resume=True)


def test_resume_refusal_names_the_changed_field(tmp_path):
    out = tmp_path / "f"
    run(out)
    changed = {**TINY, "methods": [{"name": "saliency", "abs": True}]}
    with pytest.raises(XBenchError, match=r"the suite differs .*methods.0.params.abs: false -> true.*--fresh"):
        run(out, changed, resume=True)


# ---- 7: stale temp files, completion marker ---------------------------------------------------------------
def test_stale_temp_files_are_removed_and_complete_is_written_last(tmp_path, monkeypatch):
    out = tmp_path / "t"
    run(out)
    stale = [out / f".results.csv.abc123{TMP_SUFFIX}", out / "parts" / f".b00000.csv.x{TMP_SUFFIX}"]
    for p in stale:
        p.write_text("half")
    import xbench.report as report

    def killed_while_plotting(run_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "make_report", killed_while_plotting)
    with pytest.raises(KeyboardInterrupt):
        run(out, resume=True)
    assert not any(p.exists() for p in stale)
    assert not (out / COMPLETE).exists()  # a run killed while plotting does not look finished
    assert not (out / LOCK).exists()


# ---- --out checks before any work -----------------------------------------------------------------------------
def test_out_on_a_file_or_through_a_file_is_one_line_exit_2(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    for target in (f, f / "sub"):
        assert cli(tmp_path, "--out", str(target)) == 2
        assert "is not a directory" in one_error_line(capsys.readouterr().err)
    assert f.read_text() == "x"


def test_out_on_a_read_only_path_is_one_line_exit_2(tmp_path, capsys):
    # /proc refuses new folders to everyone (root included, unlike a chmod'ed folder)
    assert cli(tmp_path, "--out", "/proc/xbench-run") == 2
    assert "--out" in one_error_line(capsys.readouterr().err)
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        assert cli(tmp_path, "--out", str(ro / "run")) == 2
        assert "not writable" in one_error_line(capsys.readouterr().err)
        assert list(ro.iterdir()) == []


def test_check_out_path_accepts_a_new_nested_folder(tmp_path):
    assert check_out_path(tmp_path / "a" / "b") == (tmp_path / "a" / "b").resolve()
    assert not (tmp_path / "a").exists()  # checking creates nothing


# ---- small things ---------------------------------------------------------------------------------------------
def test_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = run(tmp_path / "m")
    finally:
        os.umask(old)
    for rel in ("results.csv", "summary.csv", "summary.md", "manifest.json", "index.md", "run.json", COMPLETE):
        assert stat.S_IMODE((out / rel).stat().st_mode) == 0o644, rel
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in (out / "parts").rglob("*.csv"))


def test_errors_never_share_a_line_with_the_progress_bar(tmp_path, capsys):
    from xbench import methods

    name = "_test_fails_second_batch"
    if name not in methods.METHODS:
        @methods.register(name, description="test only: fails on the second batch")
        def fails(model, inputs, target):
            if fails.calls == 1:
                raise XBenchError("the method failed on purpose")
            fails.calls += 1
            import torch

            return torch.zeros_like(inputs)

        fails.calls = 0
    raw = {**TINY, "methods": [name]}
    f = tmp_path / "suite.yaml"
    f.write_text(yaml.safe_dump(raw))
    assert main(["run", str(f), "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    line = next(ln for ln in err.replace("\r", "\n").splitlines() if "failed on purpose" in ln)
    assert line == "xbench: error: the method failed on purpose"
    assert not (tmp_path / "e" / LOCK).exists()


def test_priors_use_the_same_run_directory(tmp_path):
    from xbench.priors import run_priors

    user = tmp_path / "p"
    user.mkdir()
    (user / "mine.txt").write_text("x")
    with pytest.raises(XBenchError, match="is not an xbench run folder"):
        run_priors("priors_breast_cancer", user, progress=False, workers=1)
    assert sorted(p.name for p in user.iterdir()) == ["mine.txt"]


def test_journal_never_reaches_outside_the_folder(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    rd = RunDir(tmp_path / "j")
    rd.claim()
    (tmp_path / "j" / JOURNAL).write_text(f"../outside.txt\n{outside}\n")
    rd.clean_written()
    assert outside.read_text() == "keep"


def test_a_part_lost_between_compute_and_merge_stops_the_merge(tmp_path, monkeypatch):
    from xbench.runner import Run

    real = Run.execute

    def losing(self):
        real(self)
        next((self.out / "parts").rglob("b00001.csv")).unlink()  # e.g. removed by hand or a full disk

    monkeypatch.setattr(Run, "execute", losing)
    with pytest.raises(XBenchError, match=r"1 of \d+ parts are missing .*run the same command again"):
        run(tmp_path / "lost")
    assert not (tmp_path / "lost" / "results.csv").exists()
    monkeypatch.setattr(Run, "execute", real)
    run(tmp_path / "lost", resume=True)  # the lost part is computed again
    assert len(read_results(tmp_path / "lost")) == len(read_results(run(tmp_path / "whole")))


# ---- a full disk, a read-only subfolder, report on a folder of one's own ------------------------------------------
def test_a_full_disk_is_one_line_exit_2_nothing_damaged_and_the_rerun_resumes(tmp_path, monkeypatch, capsys):
    """ENOSPC on the second part written: one line naming it, exit 2, no temp file left, every part on disk
    verifies, and the same command again keeps the first part and completes with the rows of an uninterrupted run."""
    import errno

    import xbench.rundir as rundir

    real = rundir.atomic_write
    count = {"n": 0}

    def full(path, write, binary=True):
        # counted by parts, not by files: which bookkeeping files come first is not this test's business
        count["n"] += "parts" in Path(path).parts and Path(path).suffix == ".csv"
        if count["n"] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, write, binary)

    out = tmp_path / "full"
    monkeypatch.setattr(rundir, "atomic_write", full)
    assert cli(tmp_path, "--out", str(out)) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "cannot write " in line and "No space left on device" in line and "run the same command again" in line
    assert not list(out.rglob(f"*{TMP_SUFFIX}")) and not (out / LOCK).exists()
    rd = RunDir(out)
    assert all(rd.part_problem(p)[0] is None for p in (out / "parts").rglob("*.csv"))
    monkeypatch.setattr(rundir, "atomic_write", real)
    assert cli(tmp_path, "--out", str(out)) == 0
    assert "resuming the interrupted run" in capsys.readouterr().err
    pd.testing.assert_frame_equal(read_results(out), read_results(run(tmp_path / "whole")))


@pytest.mark.parametrize("sub", ["parts", "plots"])
def test_a_read_only_subfolder_is_one_line_exit_2(tmp_path, monkeypatch, capsys, sub):
    """A subfolder that cannot be written (simulated: the tests may run as root, who writes anyway)."""
    import errno

    import xbench.rundir as rundir

    out = run(tmp_path / "r")
    real_mkstemp = rundir.tempfile.mkstemp
    real_savefig = __import__("matplotlib.figure").figure.Figure.savefig

    def denied(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    def mkstemp(dir=None, **kw):
        if Path(dir).resolve() == (out / sub).resolve() or (out / sub).resolve() in Path(dir).resolve().parents:
            denied(dir)
        return real_mkstemp(dir=dir, **kw)

    def savefig(self, fname, *a, **kw):
        if sub in Path(fname).parts:
            denied(fname)
        return real_savefig(self, fname, *a, **kw)

    monkeypatch.setattr(rundir.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr("matplotlib.figure.Figure.savefig", savefig)
    args = ["--fresh"] if sub == "parts" else []
    assert cli(tmp_path, "--out", str(out), *args) == 2
    err = capsys.readouterr().err
    line = one_error_line("\n".join(ln for ln in err.splitlines() if not ln.startswith("xbench: resuming")))
    assert "Permission denied" in line and f"make '{out / sub}" in line, line
    assert not (out / LOCK).exists()
    if sub == "plots":
        capsys.readouterr()
        assert main(["report", str(out)]) == 2
        assert "Permission denied" in one_error_line(capsys.readouterr().err)


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    """A folder of one's own holding a results.csv: its summary.md, index.md and plots are never overwritten."""
    out = run(tmp_path / "r")
    mine = tmp_path / "mine"
    (mine / "plots").mkdir(parents=True)
    (mine / "results.csv").write_bytes((out / "results.csv").read_bytes())
    for rel in ("summary.md", "index.md", "plots/curves_digits_cnn.png"):
        (mine / rel).write_text(f"mine: {rel}")
    before = tree(mine)
    assert main(["report", str(mine)]) == 2
    assert "is not an xbench run folder" in one_error_line(capsys.readouterr().err)
    assert tree(mine) == before
    assert main(["report", str(out)]) == 0  # a run folder is regenerated as before
