"""Every registered dataset, parametrised over the registry: it yields items, indexable as a torch
``Dataset`` (``ds[0]``, ``len(ds)``) and shaped as its ``info`` says, or, where the data live on the
user's disk, its one-line error says how to provide them (before any work)."""

from __future__ import annotations

import pytest
import torch

from xbench.data import DATASETS
from xbench.errors import XBenchError
from xbench.serving import open_data  # a dataset served per model (photos) is opened for a default model

ENTRIES = DATASETS.entries()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_every_dataset_yields_items_or_says_how_to_provide_it(entry, tmp_path):
    small = {"n": 8} if "n" in entry.params else {}
    try:
        ds = open_data(entry.name, **({"root": str(tmp_path / "empty")} if "root" in entry.params else {}), **small)
    except XBenchError as err:
        msg = str(err)
        assert "root" in entry.params, f"{entry.name} needs no files yet failed: {msg}"
        assert msg and "\n" not in msg and ("root" in msg or "--data-root" in msg), msg
        return
    assert isinstance(ds, torch.utils.data.Dataset) and len(ds) > 0
    item = ds[0]
    assert len(item) in (2, 3) and (len(item) == 3) == ds.has_masks
    x = torch.as_tensor(item[0])
    assert tuple(x.shape) == tuple(ds.info["input_shape"]), entry.name
    assert 0 <= int(item[1]) < ds.info["num_classes"]
    assert ds[len(ds) - 1] is not None  # the last index too, as a DataLoader would ask
