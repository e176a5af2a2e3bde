"""Bring your own model: a TorchScript / ``torch.export`` archive, or a Python factory, named in the suite.

    models:
      - {name: file, path: model.pt, input_shape: [3, 224, 224]}
      - {name: python, factory: "mypkg.nets:build", kwargs: {depth: 18}, weights: ckpt.pth, input_shape: [3, 32, 32]}
      - name: python
        factory: "my_nets:build"            # my_nets.py beside the suite file (or anything importable)
        weights: {path: ckpt.pth, key_map: "my_nets:rename", load: "my_nets:load"}
        input_shape: [3, 240, 240]

A factory (and a ``key_map``/``load`` function) is looked up first in ``search_path``, which a suite file fills in with
its own folder when the module lies there; that folder is on the import path only while the module is imported.
``weights`` is a checkpoint path, or a mapping: ``path`` (the file; hashed into the manifest like any weights),
``key_map`` (``fn(key) -> new key``, or None to drop it, applied to every key before the strict load) and ``load``
(``fn(model, state_dict) -> model or None``: loads the state itself in place of the strict load, e.g. renaming,
folding BatchNorm).

``input_shape`` (C, H, W or F, without the batch) is what the model is checked with: one dry forward pass on one
input before any work (:func:`dry_forward`), which must give [1, num_classes] logits. The model receives the
dataset's inputs as they are (the dataset's own normalisation, recorded in its ``data_info``); a model trained on
other normalisation declares it with ``mean``/``std`` (per channel, pixel units) and is wrapped so that it sees its
own normalisation (:class:`Renormalise`).
"""

from __future__ import annotations

import importlib
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ParamError
from ..provenance import record_weights
from .base import MODELS
from .checkpoints import load_weights


class Renormalise(nn.Module):
    """Feeds ``model`` its own input normalisation: ``model((x · s_d + m_d − mean) / std)``.

    ``mean``/``std`` are the model's (per channel, pixel units); ``m_d``/``s_d`` the dataset's, set by
    :func:`bind_input_normalisation` once the data is known (until then the data is taken as raw pixels).
    """

    def __init__(self, model: nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.model = model
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]
        self.register_buffer("scale", torch.ones(1))
        self.register_buffer("shift", torch.zeros(1))
        self.bind(None, None)

    def bind(self, data_mean: list[float] | None, data_std: list[float] | None) -> None:
        """Set the dataset's normalisation (None: raw pixels)."""

        def col(v: list[float] | None, default: float) -> torch.Tensor:
            t = torch.as_tensor(v if v is not None else [default], dtype=torch.float32).flatten()
            return t.view(1, -1, 1, 1) if t.numel() > 1 else t

        mean, std = col(self.mean, 0.0), col(self.std, 1.0)
        self.scale = (col(data_std, 1.0) / std).to(self.scale.device)
        self.shift = ((col(data_mean, 0.0) - mean) / std).to(self.shift.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x * self.scale + self.shift)


def bind_input_normalisation(model: nn.Module, data_info: dict[str, Any] | None) -> nn.Module:
    """Tell a :class:`Renormalise`-wrapped model how the dataset normalised its inputs; other models pass through."""
    if isinstance(model, Renormalise):
        info = data_info or {}
        model.bind(info.get("mean"), info.get("std"))
    return model


class Exported(nn.Module):
    """A ``torch.export`` program as a module; its train/eval behaviour was fixed when it was exported."""

    def __init__(self, program: nn.Module):
        super().__init__()
        self.program = program

    def train(self, mode: bool = True) -> Exported:
        self.training = mode  # the program itself refuses .train()/.eval(): its mode is baked in
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.program(x)


def unhookable(model: nn.Module) -> str | None:
    """Why forward/backward hooks on ``model``'s modules would not see its computation (None when they would).

    A TorchScript module refuses Python hooks; a ``torch.export`` program runs its graph as functions, so
    it has no ``nn.ReLU`` (or other layer) modules for DeepLift, Guided Backprop or a layer method to hook:
    those methods would silently fall back to plain gradients."""
    for m in model.modules():
        if isinstance(m, torch.jit.ScriptModule):
            return "it is a TorchScript model, whose modules cannot be hooked"
        if isinstance(m, (Exported, torch.fx.GraphModule)):
            return "it is a torch.export program, whose layers run as graph functions, not hookable modules"
    return None


def load_archive(path: str | Path) -> nn.Module:
    """A TorchScript archive (``torch.jit.save``) or a ``torch.export`` program (``torch.export.save``), on CPU."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ParamError(f"path: model file '{path}' does not exist")
    record_weights(p, "model file", str(path))
    names: list[str] = []
    try:
        with zipfile.ZipFile(p) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile:
        raise ParamError(f"path: '{path}' is not a TorchScript or torch.export archive (not a zip file)") from None
    if any(n.endswith("serialized_exported_program.json") or "/models/" in n and n.endswith(".json")
           for n in names):
        try:
            return Exported(torch.export.load(str(p)).module())
        except Exception as err:  # noqa: BLE001
            raise ParamError(f"path: '{path}' is a torch.export archive that failed to load: {err}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.load is deprecated": users still have them
            return torch.jit.load(str(p), map_location="cpu")
    except Exception as err:  # noqa: BLE001
        raise ParamError(f"path: '{path}' is neither a TorchScript archive (torch.jit.save) nor a torch.export "
                         f"one (torch.export.save): {str(err).splitlines()[0]}") from None


def _no_x(x: bool, name: str) -> None:
    if x:
        raise ParamError(f"x: a '{name}' model cannot be made bias-free by xbench; build the X-variant yourself "
                         "(no biases, no normalisation shifts) and give that file or factory")


def _wrap(model: nn.Module, mean: list[float] | None, std: list[float] | None) -> nn.Module:
    if mean is None and std is None:
        return model
    return Renormalise(model, mean or [0.0], std or [1.0])


@MODELS.register("file", description="Your TorchScript or torch.export archive (path: model.pt)",
                 input_size=None, dataset=None, meta_build=False, bounds={"num_classes": (1, None)})
def file_model(*, path: str, input_shape: list | None = None, num_classes: int | None = None, x: bool = False,
               weights: str | None = None, mean: list | None = None, std: list | None = None) -> nn.Module:
    """The archive at ``path`` in eval mode (``input_shape`` and ``num_classes`` are checked by :func:`dry_forward`)."""
    _no_x(x, "file")
    if weights not in (None, "default"):
        raise ParamError("weights: a model file holds its own weights; leave weights out (or null)")
    return _wrap(load_archive(path), mean, std).eval()


WEIGHT_KEYS = ("key_map", "load", "path")


def _local_module(mod_name: str, search_path: str | Path | None) -> Path | None:
    """The file of module ``mod_name`` inside the folder ``search_path`` (a ``.py`` or a package), or None."""
    if not search_path:
        return None
    base = Path(search_path).expanduser().joinpath(*mod_name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _import_from(mod_name: str, folder: Path):
    """Import ``mod_name`` from ``folder`` with the folder on ``sys.path`` only meanwhile; a module of the same name
    imported from elsewhere before is set aside for the import and put back after."""
    top = mod_name.split(".")[0]
    mine = sys.modules.get(top)
    if mine is not None and Path(getattr(mine, "__file__", "") or "").resolve().is_relative_to(folder.resolve()):
        return importlib.import_module(mod_name)  # already imported from this folder
    clash = {k: sys.modules.pop(k) for k in list(sys.modules) if k == top or k.startswith(top + ".")}
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()  # a module written just now
    try:
        return importlib.import_module(mod_name)
    finally:
        sys.path.remove(str(folder))
        if clash:  # the other module of that name stays what the rest of the process imports
            for k in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
                del sys.modules[k]
            sys.modules.update(clash)


def import_callable(spec: str, field: str = "factory", search_path: str | Path | None = None) -> Callable:
    """``"pkg.module:callable"`` -> the callable, looked up in the folder ``search_path`` first (one-line error
    naming ``field`` and what is missing)."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ParamError(f"{field}: {spec!r} must look like 'package.module:function'")
    mod_name, attr = spec.split(":")
    local = _local_module(mod_name, search_path)
    try:
        if local is not None:
            module = _import_from(mod_name, Path(search_path).expanduser())
        else:
            module = importlib.import_module(mod_name)
    except Exception as err:  # noqa: BLE001
        where = f" (looked in {search_path} and on the import path)" if search_path else ""
        raise ParamError(f"{field}: cannot import '{mod_name}'{where}: {type(err).__name__}: {err}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ParamError(f"{field}: '{mod_name}' has no callable '{attr}'")
    return fn


def import_factory(spec: str, search_path: str | Path | None = None) -> Callable:
    """``"pkg.module:callable"`` -> the factory (see :func:`import_callable`)."""
    return import_callable(spec, "factory", search_path)


def check_weights_spec(weights: Any, where: str = "models[0]") -> None:
    """A ``python`` model's ``weights``: None, a path, or a mapping of :data:`WEIGHT_KEYS` with ``path`` required and
    ``key_map``/``load`` as 'module:function'; raises a one-line :class:`ParamError` naming the field."""
    if weights is None or isinstance(weights, str):
        return
    if not isinstance(weights, dict):
        raise ParamError(f"{where}.weights: {type(weights).__name__} {weights!r}; expected a checkpoint path or a "
                         f"mapping with keys {', '.join(WEIGHT_KEYS)}")
    for key, value in weights.items():
        if key not in WEIGHT_KEYS:
            raise ParamError(f"{where}.weights.{key}: not a key of weights; allowed: {', '.join(WEIGHT_KEYS)}")
        if key == "path" and not isinstance(value, str):
            raise ParamError(f"{where}.weights.path: {value!r}; expected the checkpoint's path (a string)")
        if key != "path" and value is not None and (not isinstance(value, str) or value.count(":") != 1
                                                    or not all(value.split(":"))):
            raise ParamError(f"{where}.weights.{key}: {value!r} must look like 'module:function'")
    if "path" not in weights:
        raise ParamError(f"{where}.weights.path: missing; a weights mapping names its file "
                         "(path: ckpt.pth, key_map: ..., load: ...)")


def _check_python(params: dict[str, Any], where: str) -> None:
    check_weights_spec(params.get("weights"), where)


def load_user_weights(model: nn.Module, weights: str | dict, search_path: str | Path | None = None) -> nn.Module:
    """``weights`` (a path, or ``{path, key_map, load}``) loaded into ``model``: the file is read and recorded with
    its SHA-256, its keys mapped by ``key_map`` (a key mapped to None is dropped), then loaded strictly or by
    ``load(model, state)`` (which returns the model, or None to keep it)."""
    if isinstance(weights, str):
        return load_weights(model, weights)
    from .checkpoints import load_into, load_state_dict_file

    path = weights["path"]
    state = load_state_dict_file(path)
    if weights.get("key_map"):
        key_map = import_callable(weights["key_map"], "weights.key_map", search_path)
        mapped = {}
        for k, v in state.items():
            new = key_map(k)
            if new is not None:
                mapped[str(new)] = v
        state = mapped
    if weights.get("load"):
        load = import_callable(weights["load"], "weights.load", search_path)
        out = load(model, state)
        if out is not None and not isinstance(out, nn.Module):
            raise ParamError(f"weights.load: '{weights['load']}' returned {type(out).__name__}, not the model "
                             "(return the model or None)")
        return out if out is not None else model
    return load_into(model, state, f"'{path}'")


@MODELS.register("python", description="Your model from a Python factory (factory: 'pkg.mod:build'; weights: ckpt)",
                 input_size=None, dataset=None, meta_build=False, bounds={"num_classes": (1, None)},
                 check=_check_python)
def python_model(*, factory: str, kwargs: dict | None = None, weights: str | dict | None = None,
                 input_shape: list | None = None, num_classes: int | None = None, x: bool = False,
                 mean: list | None = None, std: list | None = None, search_path: str | None = None) -> nn.Module:
    """``factory(**kwargs)`` with ``weights`` loaded (a state dict or training checkpoint, strictly; or a mapping
    ``{path, key_map, load}``), in eval mode.  ``search_path``: the folder searched first for the modules named."""
    _no_x(x, "python")
    model = import_factory(factory, search_path)(**(kwargs or {}))
    if not isinstance(model, nn.Module):
        raise ParamError(f"factory: '{factory}' returned {type(model).__name__}, not a torch.nn.Module")
    if weights not in (None, "default"):
        model = load_user_weights(model, weights, search_path)
    return _wrap(model, mean, std).eval()


def dry_forward(model: nn.Module, input_shape: tuple[int, ...], num_classes: int | None = None,
                where: str = "models[0]", device: torch.device | str = "cpu") -> int:
    """Run one zero input of ``input_shape`` through ``model``; return the number of classes it outputs.

    Raises :class:`ParamError` naming ``where`` when the forward fails or does not give [1, K] logits.
    """
    try:
        with torch.no_grad():
            out = model(torch.zeros((1, *input_shape), device=device))
    except Exception as err:  # noqa: BLE001
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [""]
        # TorchScript puts its own banner first and the cause last
        why = lines[-1] if "TorchScript" in lines[0] else lines[0]
        raise ParamError(f"{where}: the model fails on one input of shape {list(input_shape)}: "
                         f"{type(err).__name__}: {why}") from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
        shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ParamError(f"{where}: the model must return logits [N, classes]; for one input it returned {shape}")
    if num_classes is not None and out.shape[1] != num_classes:
        raise ParamError(f"{where}.num_classes: the model outputs {out.shape[1]} classes, not {num_classes}")
    return int(out.shape[1])
