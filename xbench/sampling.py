"""Which samples a run evaluates, in which batches, and the reference set of methods that need one."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Subset

from .data import create as create_data
from .methods import METHODS
from .provenance import stable_seed
from .suite import Suite


def load_data(suite: Suite):
    """The dataset and the dataset indices of the evaluated samples, in evaluation order."""
    spec = suite.data
    ds = create_data(spec.name, spec.split, root=spec.root, **spec.params)
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


def references(suite: Suite, device: torch.device, dtype: torch.dtype) -> torch.Tensor | None:
    """Reference inputs for methods that declare they need them (expected_gradients), or None."""
    if not any("references" in METHODS.get(me.name).meta["needs"] for me in suite.methods):
        return None
    spec = suite.data
    ref = create_data(spec.name, spec.references, root=spec.root, **spec.params)
    gen = torch.Generator().manual_seed(stable_seed(suite.seed, "references"))
    idx = torch.randperm(len(ref), generator=gen)[: spec.n_references].tolist()
    x = torch.stack([torch.as_tensor(ref.dataset[i][0]) for i in idx])
    return x.to(device, dtype)
