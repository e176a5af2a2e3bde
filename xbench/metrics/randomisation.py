"""Randomisation sanity checks: does the explanation change when the model or the task is destroyed?

- ``mprt`` (Adebayo et al. 2018): the model's layers are re-initialised one after the other (from the
  logits down, from the input up, or one at a time) on a copy of the model, and the method re-run;
  a method whose explanation stays similar does not explain the model.
- ``random_logit`` (Sixt et al. 2020): the explanation of the target class against that of a seeded
  random other class.
- ``data_randomisation`` (Adebayo et al. 2018): the same architecture trained on permuted labels.

The layers are the modules with ``reset_parameters`` in ``named_modules`` order (Quantus 0.6's
choice: convolutions, linear layers, normalisation layers), re-initialised by their own
``reset_parameters`` under a seed derived from (seed, layer name), on a deep copy: the user's model is
never touched.  Each randomised model explains the whole batch in one method call (the method chunks).
Similarities (:mod:`xbench.metrics.similarity`) are computed batched in float64; lower is better (an
explanation that ignores the model scores 1 on the correlations).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch
from torch import nn

from ..errors import ParamError
from ..provenance import stable_seed
from .base import Attributor, method_attributor, register_metric
from .similarity import SSIM_WINDOW, Similarity, prepare, similarity

Order = Literal["top_down", "bottom_up", "independent"]
ORDERS = ("top_down", "bottom_up", "independent")
RETRAINABLE = ("digits",)
"""Data whose permuted-label model xbench can train (embedded data with a training recipe and known parameters)."""


def randomisable_layers(model: nn.Module) -> list[str]:
    """Names of the modules that ``reset_parameters`` re-initialises, in ``named_modules`` order."""
    return [name for name, m in model.named_modules() if hasattr(m, "reset_parameters")]


def reinitialise(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module`` in place with its own ``reset_parameters`` under ``seed`` (the global RNGs
    of CPU and the module's device are restored afterwards)."""
    devices = sorted({p.device.index for p in module.parameters(recurse=False) if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(int(seed))
        module.reset_parameters()


def randomised_models(model: nn.Module, order: str = "top_down", seed: int = 0
                      ) -> Iterator[tuple[str, nn.Module]]:
    """Yield (layer name, model copy) with one more layer re-initialised at each step (``top_down``: from the
    last layer; ``bottom_up``: from the first), or only that layer (``independent``).  The copy is reused
    between steps: use it before asking for the next one."""
    if order not in ORDERS:
        raise ParamError(f"order: {order!r}; allowed: {', '.join(ORDERS)}")
    names = randomisable_layers(model)
    if not names:
        raise ParamError("model: no module with reset_parameters to randomise; the randomisation checks need one")
    if order == "top_down":
        names = names[::-1]
    original = {k: v.detach().clone() for k, v in model.state_dict().items()} if order == "independent" else None
    rand = copy.deepcopy(model)
    modules = dict(rand.named_modules())
    for name in names:
        if original is not None:
            rand.load_state_dict(original)
        reinitialise(modules[name], stable_seed(seed, "layer", name))
        yield name, rand


def _on_model(attr_fn: Attributor) -> Attributor:
    """``attr_fn`` checked to accept ``model=`` (the harness's and :func:`method_attributor`'s do): the checks
    re-run the method on another model, and an attributor bound to the original one would compare it with itself."""
    import inspect

    params = inspect.signature(attr_fn).parameters
    if "model" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise ParamError("attributor: it must accept model= to explain a randomised copy; "
                         "use xbench.metrics.base.method_attributor or add the keyword")
    return attr_fn


def _check_similarity(name: str) -> None:
    from .similarity import SIMILARITIES

    if name not in SIMILARITIES:
        raise ParamError(f"similarity: {name!r}; allowed: {', '.join(SIMILARITIES)}")


def mprt(model, inputs, target, attributions, *, order: Order = "top_down", similarity: Similarity = "spearman",
         abs: bool = True, normalise: bool = True, top_k: float = 0.1, skip_layers: bool = False, seed: int = 0,
         method: str = "saliency", method_params: dict | None = None, attributor: Attributor | None = None,
         return_curves: bool = False):
    """Model parameter randomisation test per sample [N] (unitless similarity, lower is better): the
    similarity between the explanation of the model and that of the model with its layers re-initialised
    in ``order``, after the last layer of the order (for cascading orders: the fully randomised model).

    With ``return_curves`` also (x [L] = 1..L, the similarity after each layer [N, L]) and the layer names
    in curve order (recorded as the setting ``layers``).  ``skip_layers`` (Quantus's option): explain only
    the last randomised model (the curve then has one point).  ``abs``/``normalise`` as Quantus (defaults
    as ``quantus.MPRT``); ``top_k``: the fraction of features ``top_k_intersection`` compares.
    """
    _check_similarity(similarity)
    attr_fn = _on_model(attributor or method_attributor(model, method, method_params))
    base = prepare(attributions, abs=abs, normalise=normalise)
    names, sims = [], []
    steps = list(randomisable_layers(model))
    for i, (name, rand) in enumerate(randomised_models(model, order, seed)):
        if skip_layers and i + 1 < len(steps):
            continue
        a = attr_fn(inputs, target, model=rand).detach()
        sims.append(_similar(base, prepare(a, abs=abs, normalise=normalise), similarity, top_k))
        names.append(name)
    curve = torch.stack(sims, 1)
    values = {"similarity": curve[:, -1], "layers": names}
    if not return_curves:
        return values
    x = torch.arange(1, len(names) + 1, dtype=torch.float64)
    return values, x, curve


def _similar(a: torch.Tensor, b: torch.Tensor, name: str, top_k: float) -> torch.Tensor:
    return similarity(a, b, name, top_k=top_k)


def sample_seeds(inputs: torch.Tensor, seed: int) -> list[int]:
    """One seed per sample from ``seed`` and the sample's bytes: a draw made from it does not depend on
    which batch the sample is in, nor on its position there, nor on the thread count."""
    raw = inputs.detach().cpu().contiguous().numpy()
    return [int.from_bytes(hashlib.sha256(str(seed).encode() + r.tobytes()).digest()[:8], "little") for r in raw]


def other_classes(target: torch.Tensor, num_classes: int, offsets: torch.Tensor) -> torch.Tensor:
    """The ``offsets``-th class (0 .. C-2) among the classes other than ``target``, in ascending order."""
    offsets = offsets.to(target)
    return torch.where(offsets < target, offsets, offsets + 1)


def random_offsets(inputs: torch.Tensor, num_classes: int, seed: int) -> torch.Tensor:
    """A uniform draw in 0 .. ``num_classes`` - 2 per sample, seeded by the sample (:func:`sample_seeds`)."""
    draws = [np.random.default_rng(s).integers(0, num_classes - 1) for s in sample_seeds(inputs, seed)]
    return torch.as_tensor(draws, dtype=torch.long, device=inputs.device)


def random_logit(model, inputs, target, attributions, *, similarity: Similarity = "ssim", abs: bool = False,
                 normalise: bool = True, top_k: float = 0.1, seed: int = 0, method: str = "saliency",
                 method_params: dict | None = None, attributor: Attributor | None = None,
                 offsets: torch.Tensor | None = None) -> torch.Tensor:
    """Random logit test per sample [N] (unitless similarity, lower is better): the similarity between the
    explanation of the target class and that of a random other class, drawn uniformly per sample from a
    seed derived from ``seed`` and the sample itself.  Defaults as ``quantus.RandomLogit`` (SSIM, normalised,
    signed).  ``offsets`` [N] (which of the other classes, 0 .. C-2) replaces the draw (for reference checks)."""
    _check_similarity(similarity)
    attr_fn = attributor or method_attributor(model, method, method_params)
    with torch.no_grad():
        num_classes = int(model(inputs[:1]).shape[1])
    if num_classes < 2:
        raise ParamError(f"random_logit: the model has {num_classes} output; it needs at least 2 classes")
    off = random_offsets(inputs, num_classes, seed) if offsets is None else offsets
    other = other_classes(target, num_classes, off)
    a = attr_fn(inputs, other).detach()
    return _similar(prepare(attributions, abs=abs, normalise=normalise), prepare(a, abs=abs, normalise=normalise),
                    similarity, top_k)


def permuted_label_model(model: nn.Module, data_info: dict, *, seed: int = 0, epochs: int | None = None
                         ) -> tuple[nn.Module, dict]:
    """``model``'s architecture, re-initialised (seeded) and trained on the training split of the data in
    ``data_info`` with its labels permuted (seeded), with the data's recipe; cached like the embedded models.
    Returns the model (CPU, float32, eval) and its training record (``train_accuracy`` on the permuted labels)."""
    import json

    from ..data import create as create_data
    from ..models.embedded import cache_path, trained_or_cached
    from ..models.recipes import recipe_for
    from ..models.training import accuracy, train_classifier

    name = data_info.get("name")
    if name not in RETRAINABLE:
        raise ParamError(f"data_randomisation: data {name!r} cannot be retrained by xbench; "
                         f"allowed: {', '.join(RETRAINABLE)}")
    params = {"size": int(data_info["input_shape"][-1])}
    recipe = recipe_for(name)
    if epochs is not None:
        recipe.epochs = int(epochs)

    def build() -> nn.Module:
        m = copy.deepcopy(model).cpu().float()
        for layer, module in m.named_modules():
            if hasattr(module, "reset_parameters"):
                reinitialise(module, stable_seed(seed, "data_randomisation", layer))
        for p in m.parameters():
            p.requires_grad_(True)
        return m

    def train(m: nn.Module) -> dict:
        ds = create_data(name, "train", **params).dataset
        x, y = ds.tensors
        perm = torch.as_tensor(np.random.default_rng(stable_seed(seed, "labels")).permutation(len(y)))
        shuffled = torch.utils.data.TensorDataset(x, y[perm])
        hist = train_classifier(m, shuffled, None, recipe)
        return {"history": hist, "train_accuracy": accuracy(m, shuffled)}

    config = {"arch": repr(model), "data": name, "data_params": params, "recipe": recipe.__dict__, "seed": seed, "v": 1}
    trained = trained_or_cached("data_randomisation", build, config, train)
    sidecar = cache_path("data_randomisation", config).with_suffix(".json")
    record = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    for p in trained.parameters():
        p.requires_grad_(False)
    return trained, record


def data_randomisation(model, inputs, target, attributions, *, similarity: Similarity = "spearman",
                       abs: bool = True, normalise: bool = True, top_k: float = 0.1, epochs: int | None = None,
                       seed: int = 0, method: str = "saliency", method_params: dict | None = None,
                       attributor: Attributor | None = None, data_info: dict | None = None) -> dict:
    """Data randomisation test per sample [N] (unitless similarity, lower is better): the similarity between
    the explanation of the model and that of the same architecture trained on permuted labels (see
    :func:`permuted_label_model`; ``epochs`` overrides the data's recipe), for the same target class.
    Also returns the settings ``permuted_train_accuracy`` (how well the permuted-label model fits its
    labels, in [0, 1]) and ``permuted_epochs``."""
    _check_similarity(similarity)
    attr_fn = _on_model(attributor or method_attributor(model, method, method_params))
    rand, record = permuted_label_model(model, data_info or {}, seed=seed, epochs=epochs)
    rand = rand.to(inputs.device, inputs.dtype)
    a = attr_fn(inputs, target, model=rand).detach()
    sim = _similar(prepare(attributions, abs=abs, normalise=normalise), prepare(a, abs=abs, normalise=normalise),
                   similarity, top_k)
    return {"similarity": sim, "permuted_train_accuracy": record.get("train_accuracy"),
            "permuted_epochs": len(record.get("history", []))}


_BOUNDS = {"top_k": (0.0, 1.0)}
_DOCS = {"similarity": "how two explanations are compared: spearman | pearson | ssim | top_k_intersection "
                       "(on the flattened attribution, as Quantus)",
         "abs": "compare |attribution| (after normalise)", "normalise": "divide each attribution by its max |value|",
         "top_k": "fraction of features top_k_intersection compares"}

def _fits_similarity(model: nn.Module, data_info: dict, params: dict) -> str | None:
    """Preflight: why the chosen similarity cannot compare this data's attributions (None when it can)."""
    shape = data_info.get("input_shape")
    if params.get("similarity") == "ssim" and shape is not None:
        n = int(np.prod(shape))
        if n < SSIM_WINDOW:
            return (f"similarity: 'ssim' needs at least {SSIM_WINDOW} features per attribution (its window) and the "
                    f"data has {n}; allowed here: 'spearman', 'pearson', 'top_k_intersection'")
    return None


register_metric("mprt", mprt, outputs={"similarity": "sample", "layers": "setting"}, curve="similarity",
                bounds=_BOUNDS,
                docs={**_DOCS, "order": "top_down (from the logits), bottom_up (from the input), or independent "
                                        "(one layer at a time)",
                      "skip_layers": "explain only the last randomised model (one point instead of one per layer)"},
                description="Model parameter randomisation test (Adebayo 2018): similarity of the explanation "
                            "after re-initialising the layers (curve per layer; lower is better)",
                direction="lower", consumes=("attributions", "method"), units="similarity (unitless)",
                label="similarity to the randomised model's explanation", x_label="layers randomised",
                inputs="any", fits=_fits_similarity)
register_metric("random_logit", random_logit, stat="similarity", hidden=("offsets",), bounds=_BOUNDS, docs=_DOCS,
                description="Random logit test (Sixt 2020): similarity of the explanations of the target and of "
                            "a random other class (lower is better)",
                direction="lower", consumes=("attributions", "method"), units="similarity (unitless)",
                label="similarity to a random class's explanation", inputs="any", fits=_fits_similarity)
register_metric("data_randomisation", data_randomisation,
                outputs={"similarity": "sample", "permuted_train_accuracy": "setting", "permuted_epochs": "setting"},
                bounds={**_BOUNDS, "epochs": (1, 1000)},
                docs={**_DOCS, "epochs": "training epochs of the permuted-label model (null: the data's recipe)"},
                description="Data randomisation test (Adebayo 2018): similarity of the explanations of the model "
                            "and of the architecture trained on permuted labels (embedded digits; lower is better)",
                direction="lower", consumes=("attributions", "method", "data_info"), units="similarity (unitless)",
                label="similarity to the permuted-label model's explanation", inputs="image", datasets=RETRAINABLE)
