"""The dataset registry: ``create(name, split, root=None, **params) -> XDataset``.

A dataset yields ``(x, y)`` or ``(x, y, mask)`` with ``x`` already normalised (mean/std in
``info``), so that the zero baseline is the mean colour as in the papers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset

from ..registry import INPUT_KINDS, Registry, data_kind


def _dataset_contract(name: str, fn: Any, specs: dict, meta: dict[str, Any]) -> dict[str, Any]:
    """What every built-in dataset declares at ``register(...)``: its ``kind`` (``image`` [C, H, W] or
    ``tabular`` [F]) and whether it has ground-truth ``masks``.  Shape and classes vary with the parameters
    (``size``), so the split itself reports them in ``info`` (``input_shape``, ``num_classes``); a dataset
    registered without ``kind`` (a plugin) or with ``kind=None`` (:func:`xbench.evaluate`'s data) gets it from
    its input shape."""
    if "kind" not in meta and str(getattr(fn, "__module__", "")).startswith("xbench."):
        raise ValueError(f"dataset '{name}' must declare kind= ('image' or 'tabular') at register(...)")
    if meta.get("kind") is not None and meta["kind"] not in INPUT_KINDS:
        raise ValueError(f"dataset '{name}': kind={meta['kind']!r}; give one of {', '.join(INPUT_KINDS)}")
    meta.setdefault("masks", False)
    return meta


DATASETS = Registry("dataset", skip=0, contract=_dataset_contract)


@dataclass
class XDataset(Dataset):
    """A dataset split plus what the harness needs to know about it.

    ``info`` holds at least ``num_classes``, ``input_shape`` (C, H, W) or (D,), and ``mean``/
    ``std`` (per channel, in pixel units) of the normalisation already applied to ``x``; ``kind``
    (``image`` or ``tabular``) is filled in from ``input_shape`` when the dataset does not give it;
    :func:`create` adds ``params``, the dataset's resolved parameters other than the split.
    """

    dataset: Dataset
    info: dict[str, Any] = field(default_factory=dict)
    has_masks: bool = False

    def __post_init__(self) -> None:
        if "input_shape" in self.info:  # the data's kind, read by preflight and the report's plot choice
            self.info.setdefault("kind", data_kind(self.info["input_shape"]))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        """Item ``i`` as the wrapped dataset gives it: ``(x, y)`` or ``(x, y, mask)`` (a torch ``Dataset``)."""
        return self.dataset[i]

    def tensors(self, n: int | None = None) -> tuple[torch.Tensor, ...]:
        """Stack the first ``n`` items (all by default) into tensors (x, y[, mask])."""
        n = len(self) if n is None else min(n, len(self))
        items = [self.dataset[i] for i in range(n)]
        return tuple(torch.stack([torch.as_tensor(it[j]) for it in items]) for j in range(len(items[0])))


@dataclass(frozen=True)
class ServedModel:
    """What a model declares about the inputs it takes, handed to a dataset served per model (``photos``) by the
    runtime that builds the run: the data layer receives it and never imports the model registry.

    ``label``: the model's name in results; ``key``: identifies the model with every setting (what labels are
    cached under); ``size``: its input side in pixels (None: it declares none); ``mean``/``std``: per channel, pixel
    units, of the normalisation it was trained with (None: it declares none); ``normalisation``: what to call it;
    ``classify``: normalised images [N, C, H, W] -> logits [N, classes] (no gradients; raises a one-line
    :class:`~xbench.errors.XBenchError` naming the model when the images do not fit it)."""

    label: str
    key: str
    size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    normalisation: str = "declared"
    classify: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, compare=False, repr=False)


def create(name: str, split: str = "test", root: str | None = None, *, serve: ServedModel | None = None,
           order_by: ServedModel | None = None, **params: Any) -> XDataset:
    """Build the named dataset split; ``root`` is the folder for datasets that live on disk.

    ``serve``/``order_by``: for a dataset registered ``per_model=True``, the model the split is served to (its
    input size, normalisation and labels) and the model whose predictions order the items (the same for every
    model of a run, so sample ``i`` is the same item for each); other datasets ignore them."""
    entry = DATASETS.get(name)
    call = dict(params)
    if "root" in entry.params or root is not None:
        call["root"] = root
    resolved = entry.resolve({"split": split, **call}, where=f"data({name})")
    served = {"serve": serve, "order_by": order_by} if entry.meta.get("per_model") else {}
    ds = entry.fn(**resolved, **served)
    # what rebuilds another split of the same data (ROAR retrains on the train split of the data it evaluates)
    ds.info.setdefault("params", {k: v for k, v in resolved.items() if k != "split"})
    return ds


def available() -> list[str]:
    """Names of all registered datasets."""
    return DATASETS.available()


def describe() -> dict[str, str]:
    """Name -> one-line description of every dataset."""
    return DATASETS.describe()
