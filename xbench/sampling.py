"""Which samples a run evaluates, in which batches, and the reference set of methods that need one."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Subset

from .methods import METHODS
from .provenance import stable_seed
from .serving import data_for
from .suite import ModelSpec, Suite


def load_data(suite: Suite, model: ModelSpec | None = None):
    """The dataset as ``model`` (default: the suite's first) receives it and the dataset indices of the evaluated
    samples, in evaluation order (the same for every model: a dataset served per model keeps one order)."""
    spec = suite.data
    ds = data_for(suite, model or suite.models[0])
    n = min(spec.n_samples, len(ds))
    if spec.subset == "random":
        gen = torch.Generator().manual_seed(stable_seed(suite.seed, "subset"))
        idx = torch.randperm(len(ds), generator=gen)[:n].sort().values.tolist()
    else:
        idx = list(range(n))
    return ds, idx


def batches(suite: Suite, ds, idx: list[int], wanted: list[int]) -> Iterator[tuple[int, list]]:
    """Yield ``(b, batch)`` for the batch numbers in ``wanted`` only: a rank or a resumed run
    never decodes images it has nothing to do for."""
    bs = suite.data.batch_size
    wanted = sorted(wanted)
    # every batch but the last is full, so the wanted batches' samples re-batch exactly
    flat = [i for b in wanted for i in idx[b * bs:(b + 1) * bs]]
    loader = DataLoader(Subset(ds.dataset, flat), batch_size=bs, shuffle=False, num_workers=suite.data.num_workers)
    yield from zip(wanted, loader)


def references(suite: Suite, device: torch.device, dtype: torch.dtype,
               model: ModelSpec | None = None) -> torch.Tensor | None:
    """Reference inputs for methods that declare they need them (expected_gradients), as ``model`` (default: the
    suite's first) receives the data, or None."""
    if not any("references" in METHODS.get(me.name).meta["needs"] for me in suite.methods):
        return None
    spec = suite.data
    ref = data_for(suite, model or suite.models[0], spec.references)
    gen = torch.Generator().manual_seed(stable_seed(suite.seed, "references"))
    idx = torch.randperm(len(ref), generator=gen)[: spec.n_references].tolist()
    x = torch.stack([torch.as_tensor(ref.dataset[i][0]) for i in idx])
    return x.to(device, dtype)
