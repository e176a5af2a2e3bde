"""The ``xbench train`` recipes: one :class:`~xbench.models.training.TrainRecipe` per dataset, and
``train_model``, what ``python -m xbench train MODEL --data NAME [--x] [--epochs N] [--out FILE]`` runs
(the loop itself is :mod:`xbench.models.training`; attribution-prior runs are :mod:`xbench.priors.run`).

Recipes (Adam, cross-entropy, cosine decay; the same for the regular and the X-variant, because
with standardised inputs the bias-free networks train as fast — see the accuracies in the tests):

==============  ======  =======  =====  ============================================================
data            epochs  lr       batch  why
==============  ======  =======  =====  ============================================================
digits          12      3e-3     64     > 95 % test accuracy for digits_cnn (regular and X) in ~10 s
synthetic       3       3e-3     64     the pattern task is easy; 3 epochs reach ~100 % in ~30 s
breast_cancer   10      1e-3     32     95.3 % test accuracy (regular and X) after 10 epochs; no gain later
nhanes          100     1e-3     100    paper A §4.3: 100 full-batch epochs of the 100 training subjects
cifar10         30      1e-3     128    + weight decay 5e-4 and 1 warm-up epoch: bias- and BN-free deep
                                        nets (Fixup, plain VGG) are fragile in the first steps
imagenet        90      1e-3     256    + weight decay 1e-4 and 2 warm-up epochs; for real runs start from
                                        ``init`` weights
==============  ======  =======  =====  ============================================================
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..cache import atomic_torch_save
from ..errors import ParamError
from ..rundir import atomic_write_text
from .base import MODELS, create
from .digits import DIGITS_RECIPE
from .synthetic import SYNTHETIC_RECIPE
from .tabular import MLP_RECIPES
from .training import TrainRecipe, accuracy, train_classifier

log = logging.getLogger(__name__)

RECIPES: dict[str, TrainRecipe] = {
    "digits": DIGITS_RECIPE,  # the embedded models' recipes: `xbench train` reproduces them
    "synthetic": SYNTHETIC_RECIPE,
    "breast_cancer": MLP_RECIPES["breast_cancer"],
    "nhanes": TrainRecipe(epochs=100, lr=1e-3, batch_size=100),
    "cifar10": TrainRecipe(epochs=30, lr=1e-3, batch_size=128, weight_decay=5e-4, warmup_epochs=1),
    "imagenet": TrainRecipe(epochs=90, lr=1e-3, batch_size=256, weight_decay=1e-4, warmup_epochs=2),
}
"""Per-dataset training recipe; datasets not listed use :data:`DEFAULT_RECIPE`."""
DEFAULT_RECIPE = TrainRecipe(epochs=10, lr=1e-3, batch_size=64)
EVAL_SPLIT = {"nhanes": "val"}
"""The split accuracy is logged on each epoch (the test split unless listed: NHANES keeps its test set unseen)."""


def recipe_for(data_name: str) -> TrainRecipe:
    """The default recipe for ``data_name`` (a copy, safe to modify)."""
    return replace(RECIPES.get(data_name, DEFAULT_RECIPE))


def _model_params_from_data(model_name: str, info: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The model parameters the data decide (classes, input features/channels/size), unless given."""
    accepts = MODELS.get(model_name).params
    shape = tuple(info.get("input_shape", ()))
    derived = {"num_classes": info.get("num_classes")}
    if len(shape) == 1:
        derived["in_features"] = shape[0]
    elif len(shape) == 3:
        derived["in_channels"], derived["size"] = shape[0], shape[-1]
    return {k: v for k, v in derived.items() if k in accepts and k not in given and v is not None}


def default_out(model_name: str, data_name: str, x: bool) -> Path:
    """``./<model>[-x]-<data>.pt`` in the current folder."""
    return Path(f"{model_name}{'-x' if x else ''}-{data_name}.pt")


def train_model(model_name: str, data_name: str, x: bool = False, epochs: int | None = None,
                out: str | Path | None = None, *, root: str | None = None, data_params: dict[str, Any] | None = None,
                model_params: dict[str, Any] | None = None, init: str | None = None, lr: float | None = None,
                batch_size: int | None = None, seed: int = 0, device: str = "auto", num_workers: int = 0,
                progress: bool = True) -> Path:
    """Train ``model_name`` (the X-variant when ``x``) on ``data_name``'s train split and save it.

    ``init``: starting weights (None: random init; a torchvision name or checkpoint path to fine-tune).
    ``epochs``/``lr``/``batch_size`` override the dataset's recipe (:data:`RECIPES`).  Accuracy on the
    test split (``val`` for nhanes) is logged after every epoch.  Writes ``out`` (default
    ``./<model>[-x]-<data>.pt``) atomically: ``{"state_dict", "config", "history", "test_accuracy"}``
    plus a ``.json`` sidecar without the weights.  Returns the checkpoint path, usable as
    ``weights: <path>`` in suites (``xbench.models.create(model_name, weights=path)``).
    """
    from ..data import create as create_data

    data_params = dict(data_params or {})
    model_params = dict(model_params or {})
    for key in ("x", "weights"):
        if key in model_params:
            raise ParamError(f"model_params.{key}: give it as the {'x' if key == 'x' else 'init'} argument")
    recipe = recipe_for(data_name)
    overrides = {k: v for k, v in {"epochs": epochs, "lr": lr, "batch_size": batch_size}.items() if v is not None}
    recipe = replace(recipe, seed=seed, **overrides)
    if recipe.epochs < 1:
        raise ParamError(f"epochs: {recipe.epochs} is out of range; expected an int >= 1")
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))

    train_ds = create_data(data_name, "train", root=root, **data_params)
    eval_split = EVAL_SPLIT.get(data_name, "test")
    test_ds = create_data(data_name, eval_split, root=root, **data_params)
    model_params = {**_model_params_from_data(model_name, train_ds.info, model_params), **model_params}

    torch.manual_seed(recipe.seed)
    build_kw = {k: v for k, v in model_params.items() if k != "num_classes"}
    if "seed" in MODELS.get(model_name).params and "seed" not in build_kw:
        build_kw["seed"] = recipe.seed
    model = create(model_name, x=x, weights=init, num_classes=model_params.get("num_classes"), **build_kw)
    log.info("training %s%s on %s (%d images/rows) with %s", model_name, " (x)" if x else "", data_name,
             len(train_ds), recipe)
    history = train_classifier(model, train_ds.dataset, test_ds.dataset, recipe, device=dev, progress=progress,
                               desc=f"train {model_name}{' (x)' if x else ''} on {data_name}", num_workers=num_workers)
    final = history[-1].get("test_accuracy") if history else accuracy(model, test_ds.dataset, device=dev)
    model.cpu()

    path = Path(out) if out is not None else default_out(model_name, data_name, x)
    config = {"model": model_name, "x": bool(x), "model_params": {**build_kw, **model_params}, "init": init,
              "data": data_name, "data_params": data_params, "root": root, "eval_split": eval_split,
              "recipe": asdict(recipe), "xbench_version": __version__}
    meta = {"config": config, "history": history, "test_accuracy": final}
    atomic_torch_save({"state_dict": model.state_dict(), **meta}, path)
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=1, default=str))
    log.info("saved %s (%s accuracy %.4f)", path, eval_split, final)
    return path

