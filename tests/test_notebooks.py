"""The result notebooks execute headless, top to bottom, against the committed reference results."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECT = {"xdnn.ipynb": "Keep/remove AUCs", "split_ig.ipynb": "Split IG", "timing.ipynb": "ratio_to_limit",
          "photos.ipynb": "RISE deletion / insertion"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECT))
def test_notebook_runs(name):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) + str(o.get("data", {}).get("text/plain", ""))
                   + str(o.get("data", {}).get("text/html", "")) for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert EXPECT[name] in text
    assert "not found: run the suite first" not in text  # the committed results are there
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert images >= 1
