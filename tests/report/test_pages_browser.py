"""The run page and the leaderboard opened in headless Chromium: no console error, every image loads, a header
click sorts, the filter hides rows, the heatmap browser switches samples, and the screenshot is not blank.
Checked on a small run made here and on a copy of the committed ``results/quality_photos``."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from tests.report.chromium import CHROMIUM, Browser
from xbench.cli import main

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"headless Chromium is not installed at {CHROMIUM} "
                                "(Debian: apt-get install chromium; .ci/run installs it)")

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "results" / "quality_photos"


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


def loads_cleanly(b: Browser, page: Path) -> int:
    """Open ``page``; assert no console error, no failed request and that every image decoded; returns how
    many images the page has."""
    b.console.clear()
    b.failed.clear()
    b.open(page)
    assert b.console == [] and b.failed == []
    n = b.eval("document.images.length")
    broken = b.eval("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert broken == []
    return n


def column(b: Browser, table: str, header: str) -> list[str]:
    return b.eval(f"(function(){{var t=document.getElementById('{table}');"
                  f"var i=Array.from(t.tHead.rows[0].cells).findIndex(c => c.textContent === '{header}');"
                  "return Array.from(t.tBodies[0].rows).map(r => r.cells[i].getAttribute('data-v') ?? "
                  "r.cells[i].textContent);})()")


def sorts_on_click(b: Browser, table: str, header: str) -> None:
    """Click ``header`` of ``table``: numbers ascend (blanks last); click again: they descend."""
    index = b.eval(f"Array.from(document.getElementById('{table}').tHead.rows[0].cells)"
                   f".findIndex(c => c.textContent === '{header}') + 1")
    assert index > 0
    b.click(f"#{table} thead th:nth-child({index})")
    up = [float(v) for v in column(b, table, header) if v not in ("", None)]
    assert len(up) > 2 and up == sorted(up) and up[0] < up[-1]
    b.click(f"#{table} thead th:nth-child({index})")
    down = [float(v) for v in column(b, table, header) if v not in ("", None)]
    assert down == sorted(up, reverse=True)


def switches_samples(b: Browser) -> None:
    """Click the second sample of the first heatmap browser: its block (maps and scores) replaces the first."""
    shown = "Array.from(document.querySelectorAll('.browser')[0].querySelectorAll('.sample'))" \
            ".filter(s => s.offsetHeight > 0).map(s => s.getAttribute('data-sample'))"
    assert b.eval(shown) == ["0"]
    b.click(".browser .picker button:nth-child(2)")
    assert b.eval(shown) == ["1"]
    title = b.eval("document.querySelector('.browser .sample.shown h3').textContent")
    label = b.eval("document.querySelector('.browser .picker button.on').textContent")
    assert title == "Scores of " + label


def not_blank(png: bytes) -> None:
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert img.size[0] >= 800 and img.size[1] >= 600
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 20  # text, tables and plots, not one flat colour


def test_run_page_in_chromium(browser, page_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(page_run, run)
    assert loads_cleanly(browser, run / "index.html") >= 2 + 2 * 4 * 4  # plots + 4 samples x (input + 3 maps)
    maps = browser.eval("Array.from(document.querySelectorAll('.sample.shown .maps img')).map(i => i.offsetWidth)")
    # per model (2) the shown sample's input and 3 maps, drawn at full size
    assert len(maps) == 2 * 4 and min(maps) > 100
    sorts_on_click(browser, "results-table", "mean")
    browser.type_text("input[data-filter=results-table]", "digits_cnn_x insertion")
    visible = browser.eval("Array.from(document.querySelectorAll('#results-table tbody tr'))"
                           ".filter(r => r.offsetHeight > 0).map(r => r.cells[0].textContent + r.cells[2].textContent)")
    assert visible and all(v.startswith("digits_cnn_x") and "insertion" in v for v in visible)
    switches_samples(browser)
    assert browser.eval("document.querySelectorAll('#verdict-matrix td.yes, #verdict-matrix td.no').length") > 0
    browser.eval("document.getElementById('settings').open = true")
    assert "sha256" in browser.eval("document.getElementById('settings').innerText")
    browser.eval("window.scrollTo(0, 0)")
    not_blank(browser.screenshot())
    assert browser.console == []


@pytest.mark.skipif(not (COMMITTED / "results.csv.gz").exists(), reason="results/quality_photos is not committed")
def test_committed_quality_photos_page_in_chromium(browser, tmp_path):
    run = tmp_path / "quality_photos"
    shutil.copytree(COMMITTED, run)  # never written in the checkout
    if not (run / "index.html").exists():
        assert main(["report", str(run), "--html-only"]) == 0
    assert loads_cleanly(browser, run / "index.html") >= 4
    sorts_on_click(browser, "results-table", "mean")
    sorts_on_click(browser, "verdict-matrix", "mean rank [95% CI]")
    switches_samples(browser)
    not_blank(browser.screenshot())
    assert browser.console == []


def test_leaderboard_page_in_chromium(browser, page_run, tmp_path):
    second = tmp_path / "second"
    shutil.copytree(page_run, second)
    out = tmp_path / "board"
    assert main(["leaderboard", str(page_run), str(second), "--out", str(out)]) == 0
    loads_cleanly(browser, out / "index.html")
    sorts_on_click(browser, "leaderboard", "mean rank")
    sorts_on_click(browser, "cells", "mean")
    not_blank(browser.screenshot())
    assert browser.console == []


COMMITTED_PAGES = sorted(REPO.glob("results/*/index.html"))


@pytest.mark.skipif(not COMMITTED_PAGES, reason="no committed run pages under results/")
def test_every_committed_page_opens_from_disk(browser):
    """Every committed run's page and the leaderboard (read only: opening a page writes nothing)."""
    for page in COMMITTED_PAGES:
        loads_cleanly(browser, page)
        assert browser.eval("document.querySelectorAll('table.sortable tbody tr').length") > 0, page
