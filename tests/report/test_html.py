"""index.html of a run (self-contained, the summary's numbers, relative images, per-sample maps) and the
leaderboard's ranks and refusals, without a browser (tests/report/test_pages_browser.py opens the pages)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from xbench.cli import main
from xbench.report.html import write_index_html
from xbench.report.leaderboard import leaderboard, rank_cells
from xbench.results import safe_name
from xbench.rundir import MARKER


def files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_page_is_self_contained_and_every_image_is_a_file_of_the_run(page_run):
    text = (page_run / "index.html").read_text()
    assert "<style>" in text and "<script>" in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text), "a page that needs the network"
    assert "<link" not in text and "<script src" not in text
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', text)
    assert srcs and all((page_run / s).is_file() for s in srcs)
    for png in (page_run / "plots").glob("*.png"):  # every plot the report wrote is on the page
        assert f'src="plots/{png.name}"' in text
    # the heatmap browser: the input and every method's map of each kept sample, per model
    for model in ("digits_cnn", "digits_cnn_x"):
        for i in range(4):
            assert f'src="plots/maps/{model}/input_{i}.png"' in text
            for method in ("saliency", "integrated_gradients", "random"):
                assert f'src="plots/maps/{model}/{i}_{method}.png"' in text
    assert 'id="verdict"' in text and "verdict-matrix" in text
    assert (page_run / "index.md").is_file() and "index.html" not in (page_run / "index.md").read_text()


def test_page_shows_the_summary_means_and_the_declared_directions(page_run):
    text = (page_run / "index.html").read_text()
    s = pd.read_csv(page_run / "summary.csv")
    row = s[(s.model == "digits_cnn") & (s.method == "saliency") & (s.metric == "deletion")].iloc[0]
    cells = re.search(r"<td>digits_cnn</td><td>saliency</td><td>deletion\.auc</td><td[^>]*>(.)</td>"
                      r'<td data-v="([^"]+)"', text)
    assert cells, "no results row for digits_cnn / saliency / deletion.auc"
    assert cells.group(1) == "↓"  # deletion declares lower is better
    assert float(cells.group(2)) == pytest.approx(row["mean"], rel=1e-9)
    assert re.search(r"<td>insertion\.auc</td><td[^>]*>↑</td>", text)


def test_html_only_rewrites_the_page_alone_and_identically(page_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(page_run, run)
    before = files(run)
    (run / "index.html").unlink()
    assert main(["report", str(run), "--html-only"]) == 0
    assert files(run) == before  # the same page, byte for byte; nothing else touched


def test_a_run_without_previews_falls_back_to_its_grid(page_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(page_run, run)
    shutil.rmtree(run / "previews")
    shutil.rmtree(run / "plots" / "maps")
    text = write_index_html(run).read_text()
    assert 'src="plots/heatmaps_digits_cnn.png"' in text and "plots/maps/" not in text
    assert "keeps no per-sample previews" in text and not (run / "plots" / "maps").exists()


def _summary(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"model": "m", "method": me, "metric": mt, "stat": st, "mean": v, "metric_name": mt,
                          "method_params": "{}"} for me, mt, st, v in rows])


def test_leaderboard_ranks_within_cells_by_the_declared_direction():
    a = _summary([("x", "deletion", "auc", 0.1), ("y", "deletion", "auc", 0.3), ("z", "deletion", "auc", 0.2),
                  ("x", "insertion", "auc", 0.9), ("y", "insertion", "auc", 0.5), ("z", "insertion", "auc", 0.7)])
    b = _summary([("x", "deletion", "auc", 0.5), ("y", "deletion", "auc", 0.4)])
    cells = rank_cells({"a": a, "b": b})
    r = {(c.run, c.metric, c.method): c.rank for c in cells.itertuples()}
    assert r[("a", "deletion.auc", "x")] == 1 and r[("a", "deletion.auc", "y")] == 3  # lower is better
    assert r[("a", "insertion.auc", "x")] == 1 and r[("a", "insertion.auc", "y")] == 3  # higher is better
    assert r[("b", "deletion.auc", "y")] == 1
    board = leaderboard(cells, n_boot=200).set_index("method")
    # normalised ranks: x 0, 0, 1 -> 1/3; y 1, 1, 0 -> 2/3; z 0.5, 0.5 -> 0.5
    assert board.loc["x", "mean_norm_rank"] == pytest.approx(1 / 3)
    assert board.loc["y", "mean_norm_rank"] == pytest.approx(2 / 3)
    assert board.loc["z", "mean_norm_rank"] == pytest.approx(0.5)
    assert list(board.index) == ["x", "z", "y"] and board.loc["z", "runs"] == "a"
    assert board.loc["x", "ci_low"] <= 1 / 3 <= board.loc["x", "ci_high"]
    assert board.loc["x", "ci_low"] < board.loc["x", "ci_high"]  # three cells resampled: an interval, not a point


def _fake_run(path: Path, methods: list[str]) -> Path:
    path.mkdir(parents=True)
    (path / MARKER).write_text("{}")
    (path / "results.csv").write_text("model\n")
    _summary([(m, "deletion", "auc", 0.1 * i) for i, m in enumerate(methods)]).to_csv(path / "summary.csv",
                                                                                   index=False)
    return path


@pytest.mark.parametrize("case", ["missing", "not_a_run", "no_overlap"])
def test_leaderboard_bad_input_is_one_error_line_and_writes_nothing(tmp_path, capsys, case):
    good = _fake_run(tmp_path / "good", ["a", "b"])
    other = {"missing": tmp_path / "nope", "not_a_run": tmp_path / "plain",
             "no_overlap": _fake_run(tmp_path / "other", ["c", "d"])}[case]
    if case == "not_a_run":
        other.mkdir()
        (other / "results.csv").write_text("x\n")
    out = tmp_path / "board"
    assert main(["leaderboard", str(good), str(other), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xbench: error: leaderboard: ")
    assert not out.exists()


def test_leaderboard_of_two_runs_writes_the_page_and_tables(page_run, tmp_path, capsys):
    second = tmp_path / "second_run"
    shutil.copytree(page_run, second)
    out = tmp_path / "board"
    assert main(["leaderboard", str(page_run), str(second), str(page_run / "index.md"), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "index.md" in captured.err
    # again, with that leaderboard among the inputs: skipped, not refused as a folder that is no run
    assert main(["leaderboard", str(page_run), str(second), str(out), "--out", str(tmp_path / "again")]) == 0
    assert "a leaderboard folder" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [".xbench-leaderboard", "cells.csv", "index.html",
                                                     "leaderboard.csv", "leaderboard.md"]
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["method"]) == {"saliency", "integrated_gradients", "random"}
    assert all(r == f"{page_run.name}, second_run" for r in board["runs"])
    cells = pd.read_csv(out / "cells.csv")
    # 2 runs x 2 models x (deletion.auc, insertion.auc) cells, 3 methods each
    assert len(cells) == 2 * 2 * 2 * 3 and set(cells["n_methods"]) == {3}
    assert safe_name("random") in (out / "index.html").read_text()
