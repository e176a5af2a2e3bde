"""report-bench on a real pytest-benchmark JSON produced by a tiny benchmark run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd

from xbench.cli import main
from xbench.report.bench import bench_frame


def test_report_bench_from_real_json(tmp_path, capsys):
    (tmp_path / "test_tiny_bench.py").write_text(textwrap.dedent("""
        import time

        def test_sleepy(benchmark):
            benchmark.extra_info["limit_seconds"] = 0.001
            benchmark.pedantic(time.sleep, args=(0.002,), rounds=3, iterations=1)
    """))
    js = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-only",
                        f"--benchmark-json={js}", str(tmp_path / "test_tiny_bench.py")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    df = bench_frame(js)
    assert df["name"].tolist() == ["test_sleepy"]
    assert 1.5 < df["ratio_to_limit"].item() < 20  # a 2 ms sleep against a 1 ms limit
    assert main(["report-bench", str(js), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "ratio_to_limit" in out and "test_sleepy" in out
    assert (tmp_path / "rep" / "bench.png").stat().st_size > 5000
    assert pd.read_csv(tmp_path / "rep" / "bench.csv")["rounds"].item() == 3


def test_report_bench_missing_file(tmp_path, capsys):
    assert main(["report-bench", str(tmp_path / "nope.json")]) == 2
    assert "--benchmark-json" in capsys.readouterr().err
