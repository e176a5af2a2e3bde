"""``xbench.evaluate``: the suite runner for a notebook, on your own model and data objects.

    import xbench
    df = xbench.evaluate(model, (x, y), methods=["saliency", {"name": "integrated_gradients", "n_steps": 32}],
                         metrics=["completeness", {"name": "deletion", "steps": 16}])
    df.groupby(["method", "metric", "stat"]).value.mean()

The same validation, chunking, seeding and tidy rows as ``python -m xbench run``: the model and data objects are
registered for the call under private names, the entries are validated as a suite would be, and the rows that
``results.csv`` would hold come back as a DataFrame. Nothing is written unless ``out=`` names a run directory
(then it holds the report too); otherwise the run goes to a temporary folder that is removed before returning.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

_COUNTER = itertools.count()


def _as_dataset(data: Any, data_info: dict[str, Any] | None):
    """An :class:`~xbench.data.XDataset` from a tensor, an (x, y[, masks]) tuple, a torch Dataset or an XDataset."""
    from .data import XDataset

    if isinstance(data, XDataset):
        return data
    if isinstance(data, torch.Tensor):
        data = (data, torch.zeros(len(data), dtype=torch.long))  # no labels: targets are the predicted classes
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        ds: Dataset = TensorDataset(*[t.detach().cpu() for t in data])
        has_masks = len(data) > 2
    elif isinstance(data, Dataset):
        ds, has_masks = data, len(data[0]) > 2
    else:
        raise TypeError("data: give a registered dataset name or spec, an XDataset, a torch Dataset, a tensor of "
                        f"inputs or an (inputs, labels[, masks]) tuple; got {type(data).__name__}")
    info = dict(data_info or {})
    info.setdefault("input_shape", tuple(torch.as_tensor(ds[0][0]).shape))
    return XDataset(ds, info, has_masks)


@contextlib.contextmanager
def _temporary(registry, name: str, fn, **meta: Any) -> Iterator[None]:
    registry.register(name, description="an object passed to xbench.evaluate", **meta)(fn)
    try:
        yield
    finally:
        registry.unregister(name)


def evaluate(model: nn.Module | str | dict, data: Any, methods: list[str | dict] | None = None,
             metrics: list[str | dict] | None = None, *, target: str = "predicted", n_samples: int | None = None,
             batch_size: int = 32, data_info: dict[str, Any] | None = None, model_label: str = "model",
             x: bool | None = None, device: str = "auto", seed: int = 0, out: str | Path | None = None,
             progress: bool = False) -> pd.DataFrame:
    """Run ``methods`` x ``metrics`` on ``model`` and ``data``; return the tidy result rows (``results.csv``'s).

    ``model``: a ``torch.nn.Module`` (or a registered model name / spec dict as in YAML). ``data``: a registered
    dataset name / spec dict, an XDataset, a torch Dataset of ``(x, y[, mask])``, a tensor of inputs or an
    ``(inputs, labels[, masks])`` tuple; ``data_info`` describes its normalisation (``mean``/``std``, per channel)
    where a method or metric needs it. ``methods``/``metrics`` take the same entries as a suite's lists.
    ``x`` marks the model as bias-free (default: xbench's structural check decides), which is what lets
    ``x_gradient`` run on it. ``target`` is ``predicted`` (the model's class) or ``label``.
    """
    from .data import DATASETS
    from .models import MODELS, is_homogeneous
    from .registry import INPUT_KINDS
    from .results import read_results
    from .runner import run_suite
    from .suite import parse_suite

    uid = f"_evaluate{next(_COUNTER)}"
    stack = contextlib.ExitStack()
    with stack:
        if isinstance(model, nn.Module):
            module = model
            is_x = is_homogeneous(module) if x is None else bool(x)

            def factory(*, x: bool = False, num_classes: int | None = None, weights: Any = None):
                return module

            # already built (real tensors, maybe constant ones): preflight probes it with a real forward, not on meta
            stack.enter_context(_temporary(MODELS, uid, factory, input_size=None, dataset=None, meta_build=False))
            model_spec: dict[str, Any] = {"name": uid, "label": model_label, "x": is_x}
        else:
            model_spec = {"name": model} if isinstance(model, str) else dict(model)
            model_spec.setdefault("label", model_label)
        if isinstance(data, (str, dict)):
            data_spec = {"name": data} if isinstance(data, str) else dict(data)
        else:
            xds = _as_dataset(data, data_info)

            def dataset(*, split: str = "test"):
                return xds

            kind = xds.info.get("kind")
            stack.enter_context(_temporary(DATASETS, uid, dataset, kind=kind if kind in INPUT_KINDS else None))
            data_spec = {"name": uid, "references": "test"}
            n_samples = n_samples or len(xds)
        if n_samples is not None:
            data_spec["n_samples"] = int(n_samples)
        data_spec.setdefault("batch_size", batch_size)
        data_spec.setdefault("target", target)
        raw = {"name": "evaluate", "seed": seed, "device": device, "data": data_spec, "models": [model_spec],
               "methods": list(methods or []), "metrics": list(metrics or [])}
        if not raw["methods"]:
            raw.pop("methods")
        suite = parse_suite(raw, source="xbench.evaluate")
        if out is not None:
            run_dir = run_suite(suite, out, progress=progress, report=True, echo=None)
            return read_results(run_dir)
        with tempfile.TemporaryDirectory(prefix="xbench-evaluate-") as tmp:
            run_dir = run_suite(suite, Path(tmp) / "run", progress=progress, report=False, echo=None)
            return read_results(run_dir)
