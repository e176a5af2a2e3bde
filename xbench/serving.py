"""Serving data to models: what each model declares (input size, normalisation, a classifier) handed to the
datasets that are served per model (``photos``), so that the data layer never imports the model registry.

A model's declaration is read from its registry entry (``input_size``, ``mean``, ``std``, ``normalisation``) or, for
a bring-your-own model, from its ``input_shape``/``mean``/``std`` settings.  A run opens such a dataset once per model
(:func:`data_for`): each model receives the photos at its own size and normalisation, labelled with its own top-1
class, in the order of one model's confidence (``data.model``, by default the suite's first model), the same for
every model, so sample ``i`` is the same photo under every network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import torch

from .data import DATASETS, ServedModel, XDataset
from .data import create as create_data
from .errors import XBenchError
from .models import MODELS
from .models import create as create_model
from .models.user import bind_input_normalisation

_NETS: dict[str, torch.nn.Module] = {}  # model key -> the network that labels the photos (a few, CPU)


@dataclass
class _Named:
    """A registered model with its default settings (a model named by ``data.model`` outside the suite)."""

    name: str
    label: str
    x: bool | None = None
    weights: Any = "default"
    num_classes: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


def model_key(spec: Any) -> str:
    """A string identifying ``spec`` (name, x, weights, num_classes, parameters): what labels are cached under."""
    return json.dumps([spec.name, spec.x, spec.weights, spec.num_classes, spec.params], sort_keys=True, default=str)


def declared_input(spec: Any) -> tuple[int | None, tuple[float, ...] | None, tuple[float, ...] | None, str]:
    """(input side in px, mean, std, what the normalisation is called) that model ``spec`` declares; None where it
    declares nothing.  A registered model declares them at registration; a bring-your-own one by its
    ``input_shape`` ([C, H, W] with H = W) and ``mean``/``std`` settings."""
    meta = MODELS.get(spec.name).meta
    size, mean, std = meta.get("input_size"), meta.get("mean"), meta.get("std")
    what = meta.get("normalisation", "declared")
    shape = spec.params.get("input_shape")
    if isinstance(shape, (list, tuple)) and len(shape) == 3 and shape[-1] == shape[-2]:
        size = int(shape[-1])
    if spec.params.get("mean") is not None and spec.params.get("std") is not None:
        mean, std, what = spec.params["mean"], spec.params["std"], "declared"
    return (size, tuple(float(v) for v in mean) if mean is not None else None,
            tuple(float(v) for v in std) if std is not None else None, what)


def served_model(spec: Any, where: str) -> ServedModel:
    """What model ``spec`` declares, with a classifier that builds it (on the CPU, once) and returns its logits;
    a model the served images do not fit raises one line naming ``where``."""
    size, mean, std, what = declared_input(spec)
    key = model_key(spec)

    def classify(x: torch.Tensor) -> torch.Tensor:
        net = _network(spec, key, mean, std)
        try:
            with torch.no_grad():
                return net(x)
        except Exception as err:  # noqa: BLE001 - any shape error: one line naming the model
            lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()] or [type(err).__name__]
            raise XBenchError(f"{where}: '{spec.name}' does not fit the data (one input is "
                              f"{'x'.join(map(str, x.shape[1:]))}): {lines[0][:200]}") from None

    return ServedModel(spec.label, key, size, mean, std, what, classify)


def _network(spec: Any, key: str, mean: Any, std: Any) -> torch.nn.Module:
    if key not in _NETS:
        if len(_NETS) >= 3:  # the networks of one suite, not of every suite a session ran
            _NETS.pop(next(iter(_NETS)))
        net = create_model(spec.name, x=spec.x, weights=spec.weights, num_classes=spec.num_classes, **spec.params)
        # a model wrapped to see its own normalisation receives data normalised as it declares
        bind_input_normalisation(net, {"mean": list(mean), "std": list(std)} if mean is not None else None)
        _NETS[key] = net.eval()
    return _NETS[key]


def ordering_model(suite: Any) -> ServedModel:
    """The model whose confidence orders a per-model dataset's items: ``data.model`` (a model label of the suite
    or a registered model's name), by default the suite's first model."""
    named = suite.data.params.get("model")
    labels = [m.label for m in suite.models]
    if named is None:
        return served_model(suite.models[0], "models[0]")
    if named in labels:
        i = labels.index(named)
        return served_model(suite.models[i], f"models[{i}]")
    if named in MODELS:
        return served_model(_Named(named, named), "data.model")
    raise XBenchError(f"data.model: '{named}' is neither a model of this suite ({', '.join(labels)}) nor a "
                      f"registered model (xbench list models)")


def data_for(suite: Any, spec: Any, split: str | None = None) -> XDataset:
    """The suite's data split (default ``data.split``) as model ``spec`` receives it: a dataset served per model
    is opened for ``spec`` (its size, normalisation and labels) in the suite's common order; any other dataset is
    the same for every model."""
    d = suite.data
    split = split or d.split
    if not DATASETS.get(d.name).meta.get("per_model"):
        return create_data(d.name, split, root=d.root, **d.params)
    i = next((j for j, m in enumerate(suite.models) if m.label == spec.label), 0)
    return create_data(d.name, split, root=d.root, serve=served_model(spec, f"models[{i}]"),
                       order_by=ordering_model(suite), **d.params)


def open_data(name: str, split: str = "test", root: str | None = None, *, model: str | None = None,
              **params: Any) -> XDataset:
    """A dataset split outside a run: a dataset served per model is opened for the registered ``model`` (by
    default the one its ``model`` parameter names, else ``efficientnet_lite0``) with its default settings,
    ordered by the model ``params['model']`` names (default: the same model)."""
    if not DATASETS.get(name).meta.get("per_model"):
        return create_data(name, split, root=root, **params)
    served = model or params.get("model") or "efficientnet_lite0"
    order = params.get("model") or served
    return create_data(name, split, root=root, serve=served_model(_Named(served, served), "model"),
                       order_by=served_model(_Named(order, order), "data.model"), **params)
