"""The README's Python snippets run as pasted, and running them leaves the checkout as it was."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("xbench_tests_conftest", ROOT / "tests" / "conftest.py")
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)  # by path: "conftest" may name another folder's conftest here
model_cache_for = _conftest.model_cache_for
FENCE = re.compile(r"^( *)```python\n(.*?)^\1```", re.S | re.M)


def python_snippets(text: str) -> list[str]:
    """Every fenced ```python block of a Markdown text (indented ones in lists too), dedented."""
    return [textwrap.dedent(m.group(2)) for m in FENCE.finditer(text)]


def _new_files() -> set[str] | None:
    """Files git sees as new in the checkout (untracked, not ignored); None without git. Edits to tracked
    files are left out: a developer may be editing while the tests run."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {line[3:] for line in out.splitlines() if line.startswith("??")}


def test_snippets_are_found():
    blocks = python_snippets((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2 and any("xbench.evaluate(" in b for b in blocks)
    assert python_snippets("  ```python\n  a = 1\n  ```\n") == ["a = 1\n"]


def test_the_test_model_cache_is_outside_the_checkout(tmp_path):
    default = model_cache_for({"XDG_CACHE_HOME": str(tmp_path)})
    assert default == tmp_path / "xbench-tests" / "models"
    assert model_cache_for({}).resolve() != ROOT and ROOT not in model_cache_for({}).resolve().parents
    assert model_cache_for({"XBENCH_TEST_CACHE": "/x"}) == Path("/x")


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(python_snippets((ROOT / "README.md").read_text(encoding="utf-8")))))
def test_readme_snippet_runs_as_pasted(index, tmp_path):
    code = python_snippets((ROOT / "README.md").read_text(encoding="utf-8"))[index]
    before = _new_files()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "MPLBACKEND": "Agg"}  # XBENCH_CACHE: the session's test cache, set by conftest
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"README snippet {index} failed:\n{code}\n{done.stderr[-3000:]}"
    assert _new_files() == before  # nothing written into the checkout
