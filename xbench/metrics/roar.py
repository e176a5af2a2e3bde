"""ROAR, remove and retrain (Hooker, Erhan, Kindermans, Kim 2019), on the embedded datasets.

For a method and each removal fraction f: attribute every input of the dataset's train and test splits with
the trained model, replace the top-f share of each input's features (ranked by the method; pixels across
their channels on images) with the training split's mean (per channel on images, per feature on tabular
data), retrain the same architecture from the same seed with the model's own recipe on the masked training
split, and report its accuracy on the masked test split.  A method whose top features carry the signal makes
the accuracy fall faster than removing features in random order (the control, retrained the same way):
``gap`` = control AUC - method AUC > 0 means the method beats random.

ROAR is a property of (model, method), not of each sample: it runs once per run on the first batch
(``first_batches=1``), over the whole splits, and files batch values: ``accuracy@f`` for f = 0 (retrained on
the unmasked data) and each fraction, ``auc`` (trapezoid over [0, max f], divided by max f, so in [0, 1]),
and with the control ``random_accuracy@f``, ``random_auc`` and ``gap``.  The control and the f = 0 model do
not depend on the method and are computed once per process for each setting.  Only architectures xbench
trains itself are accepted (:data:`RETRAINABLE`); any other model is refused in one line before any work.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..batching import DEFAULT_MAX_BATCH, map_chunks
from ..errors import ParamError
from .base import Attributor, method_attributor, register_metric

ROAR_FRACTIONS: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
"""Hooker et al.'s removal fractions (they also ran 0.0, here the f = 0 retrained baseline)."""


def _retrainable() -> dict[str, tuple[type, Any]]:
    """Dataset name -> (architecture class, training recipe) of the models xbench trains on that data."""
    from ..models.digits import DIGITS_RECIPE, DigitsCNN
    from ..models.tabular import MLP, MLP_RECIPES

    return {"digits": (DigitsCNN, DIGITS_RECIPE), "breast_cancer": (MLP, MLP_RECIPES["breast_cancer"])}


def retrain_spec(model: nn.Module, data_info: dict | None) -> tuple[type, Any]:
    """(class, recipe) to retrain ``model`` on the data ``data_info`` describes; ParamError in one line if xbench
    cannot retrain it (a user's model, EfficientNet, a compiled or TorchScript model, other data)."""
    table = _retrainable()
    name = (data_info or {}).get("name")
    allowed = ", ".join(f"{cls.__name__} on {data}" for data, (cls, _) in table.items())
    if name not in table:
        raise ParamError(f"roar: data '{name}' has no xbench training recipe; allowed: {allowed}")
    cls, recipe = table[name]
    if type(model) is not cls:
        raise ParamError(f"roar: model {type(model).__name__} cannot be retrained by xbench on {name}; "
                         f"allowed: {allowed}")
    return cls, recipe


def _fits(model: nn.Module, data_info: dict, params: dict) -> str | None:
    """Preflight: why ROAR cannot retrain ``model`` on this data (None when it can)."""
    try:
        retrain_spec(model, data_info)
    except ParamError as err:
        return str(err)
    return None


def _importance(a: torch.Tensor, rank_by: str) -> torch.Tensor:
    """Per-feature importance [N, D]: pixels summed over channels on images ([N, C, H, W]), features on tabular."""
    a = a.abs() if rank_by == "abs" else a
    return (a.sum(1) if a.dim() == 4 else a).flatten(1).double()


def _masked(x: torch.Tensor, order: torch.Tensor, k: int, fill: torch.Tensor) -> torch.Tensor:
    """``x`` with the features ``order[:, :k]`` (indices into the per-sample feature list) set to ``fill``."""
    if k == 0:
        return x
    n = x.shape[0]
    drop = torch.zeros(order.shape, dtype=torch.bool, device=x.device)
    drop.scatter_(1, order[:, :k], True)
    drop = drop.view(n, 1, *x.shape[2:]) if x.dim() == 4 else drop
    return torch.where(drop, fill.expand_as(x), x)


def reinitialised(model: nn.Module, seed: int) -> nn.Module:
    """A trainable copy of ``model`` with the weights its factory draws from ``seed`` (the global RNG untouched):
    the embedded models seed, then build their modules in the order ``modules()`` lists them."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in fresh.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    for p in fresh.parameters():
        p.requires_grad_(True)
    return fresh


def _retrain_accuracy(model: nn.Module, recipe, train: tuple, test: tuple) -> float:
    """Test accuracy in [0, 1] of ``model``'s architecture retrained from the recipe's seed on ``train``."""
    from ..models.training import accuracy, train_classifier

    fresh = reinitialised(model, recipe.seed)
    device = next(fresh.parameters()).device
    train_classifier(fresh, TensorDataset(*train), None, recipe, device=device)
    return float(accuracy(fresh, TensorDataset(*test), device=device))


_CONTROL: dict[str, dict[str, float]] = {}
"""Setting key -> the control's and the f = 0 model's accuracies (method-independent; computed once)."""


def _auc(x: list[float], y: list[float]) -> float:
    """Trapezoid area under y(x) divided by the x range (the mean accuracy over the removal range)."""
    area = sum((x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 for i in range(len(x) - 1))
    return area / (x[-1] - x[0])


def roar(model, inputs, target, attributions=None, *, fractions: tuple[float, ...] = ROAR_FRACTIONS,
         epochs: int | None = None, rank_by: Literal["abs", "value"] = "abs",
         explain: Literal["predicted", "label"] = "predicted",
         control: bool = True, seed: int = 0, max_batch: int = DEFAULT_MAX_BATCH, method: str = "saliency",
         method_params: dict | None = None, attributor: Attributor | None = None,
         data_info: dict | None = None) -> dict[str, Any]:
    """ROAR accuracies (share correct, 0-1) of the retrained model per removal fraction, their AUC, and the
    random-order control's (see the module docstring).  ``inputs``/``target`` are not used: ROAR runs on the
    whole train and test splits of the data ``data_info`` describes."""
    cls, recipe = retrain_spec(model, data_info)
    fr = sorted({float(f) for f in fractions})
    if not fr or fr[0] <= 0 or fr[-1] > 1:
        raise ParamError(f"fractions: {list(fractions)!r}; give removal fractions in (0, 1]")
    recipe = replace(recipe, epochs=int(epochs)) if epochs is not None else recipe
    attr_fn = attributor or method_attributor(model, method, method_params)
    from ..data import create as create_data

    params = dict(data_info.get("params", {}))
    p0 = next(model.parameters())
    splits = {}
    for split in ("train", "test"):
        x, y = create_data(data_info["name"], split, **params).tensors()
        splits[split] = (x.to(p0.device, p0.dtype), y.to(p0.device))
    x_tr = splits["train"][0]
    fill = (x_tr.mean((0, 2, 3)).view(1, -1, 1, 1) if x_tr.dim() == 4 else x_tr.mean(0, keepdim=True))
    n_features = _importance(x_tr[:1], "abs").shape[1]
    ks = [0] + [int(round(f * n_features)) for f in fr]
    xs = [0.0] + fr

    def curve(orders: dict[str, torch.Tensor]) -> list[float]:
        return [_retrain_accuracy(model, recipe, (_masked(splits["train"][0], orders["train"], k, fill),
                                                  splits["train"][1]),
                                  (_masked(splits["test"][0], orders["test"], k, fill), splits["test"][1]))
                for k in ks[1:]]

    key = json.dumps([cls.__name__, str(model), data_info["name"], params, ks, recipe.__dict__, seed,
                      str(p0.device), str(p0.dtype)], default=str)
    if key not in _CONTROL or (control and "random" not in _CONTROL[key]):
        base = splits["train"], splits["test"]
        ctl = _CONTROL.setdefault(key, {"base": _retrain_accuracy(model, recipe, *base)})
        if control:
            gen = torch.Generator().manual_seed(int(seed))  # per sample: row i's draws depend on i only
            orders = {s: torch.rand((len(v[0]), n_features), generator=gen, dtype=torch.float64).argsort(1)
                      .to(p0.device) for s, v in splits.items()}
            ctl["random"] = curve(orders)
    ctl = _CONTROL[key]

    orders = {}
    for split, (x, y) in splits.items():
        with torch.no_grad():
            t = (map_chunks(lambda a, b: model(x[a:b]).argmax(1), len(x), max_batch)  # noqa: B023
                 if explain == "predicted" else y)
        a = map_chunks(lambda a, b: attr_fn(x[a:b], t[a:b]).detach(), len(x), max_batch)  # noqa: B023
        orders[split] = _importance(a, rank_by).argsort(dim=1, descending=True, stable=True)  # ties: feature order
    acc = [ctl["base"]] + curve(orders)
    out: dict[str, Any] = {f"accuracy@{x:g}": v for x, v in zip(xs, acc)}
    out["auc"] = _auc(xs, acc)
    if control:
        rnd = [ctl["base"]] + ctl["random"]
        out.update({f"random_accuracy@{x:g}": v for x, v in zip(xs[1:], rnd[1:])})
        out["random_auc"] = _auc(xs, rnd)
        out["gap"] = out["random_auc"] - out["auc"]
    out.update(epochs=recipe.epochs, retrain_seed=recipe.seed, lr=recipe.lr, train_batch_size=recipe.batch_size,
               n_train=len(splits["train"][0]), n_test=len(splits["test"][0]), features_removed=ks[1:])
    return out


_SETTINGS = ("epochs", "retrain_seed", "lr", "train_batch_size", "n_train", "n_test", "features_removed")

register_metric(
    "roar", roar, consumes=("method", "data_info"), inputs="any", fits=_fits, first_batches=1,
    outputs={"*": "batch", **dict.fromkeys(_SETTINGS, "setting")},
    bounds={"fractions": (0.0, 1.0), "epochs": (1, 1000), "max_batch": (1, None)},
    description="ROAR (Hooker et al. 2019): test accuracy after masking each method's top features in the train "
                "and test splits and retraining, vs a random-order control (embedded data only; lower AUC is better)",
    direction="per_stat", directions={"auc": "lower", "gap": "higher", "random_auc": "lower"},
    units="share correct (0-1)", label="retrained test accuracy", paper="Hooker, Erhan, Kindermans, Kim 2019",
    docs={"fractions": "shares of each input's features removed (ranked by the method), each in (0, 1]; a model is "
                       "retrained per fraction",
          "epochs": "training epochs of every retrained model (null: the model's own recipe, e.g. 12 for digits_cnn); "
                    "fewer is cheaper and is recorded in the rows",
          "rank_by": "rank features by |A| ('abs') or by the signed A ('value'); pixels sum their channels",
          "explain": "the class the train and test inputs are attributed for: the model's prediction or the label",
          "control": "also retrain on features removed in a seeded random order (computed once per setting) and "
                     "report random_auc and gap = random_auc - auc",
          "max_batch": "inputs per call of the method while attributing the splits"})
