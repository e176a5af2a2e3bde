"""Bring your own model: a TorchScript / ``torch.export`` archive, or a Python factory, named in the suite.

    models:
      - {name: file, path: model.pt, input_shape: [3, 224, 224]}
      - {name: python, factory: "mypkg.nets:build", kwargs: {depth: 18}, weights: ckpt.pth, input_shape: [3, 32, 32]}

``input_shape`` (C, H, W or F, without the batch) is what the model is checked with: one dry forward pass on one
input before any work (:func:`dry_forward`), which must give [1, num_classes] logits. The model receives the
dataset's inputs as they are (the dataset's own normalisation, recorded in its ``data_info``); a model trained on
other normalisation declares it with ``mean``/``std`` (per channel, pixel units) and is wrapped so that it sees its
own normalisation (:class:`Renormalise`).
"""

from __future__ import annotations

import importlib
import warnings
import zipfile
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


def import_factory(spec: str):
    """``"pkg.module:callable"`` -> the callable (one-line error naming what is missing)."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ParamError(f"factory: {spec!r} must look like 'package.module:function'")
    mod_name, attr = spec.split(":")
    try:
        module = importlib.import_module(mod_name)
    except Exception as err:  # noqa: BLE001
        raise ParamError(f"factory: cannot import '{mod_name}': {type(err).__name__}: {err}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ParamError(f"factory: '{mod_name}' has no callable '{attr}'")
    return fn


@MODELS.register("python", description="Your model from a Python factory (factory: 'pkg.mod:build'; weights: ckpt)",
                 input_size=None, dataset=None, meta_build=False, bounds={"num_classes": (1, None)})
def python_model(*, factory: str, kwargs: dict | None = None, weights: str | None = None,
                 input_shape: list | None = None, num_classes: int | None = None, x: bool = False,
                 mean: list | None = None, std: list | None = None) -> nn.Module:
    """``factory(**kwargs)`` with ``weights`` (a state dict or training checkpoint) loaded strictly, in eval mode."""
    _no_x(x, "python")
    model = import_factory(factory)(**(kwargs or {}))
    if not isinstance(model, nn.Module):
        raise ParamError(f"factory: '{factory}' returned {type(model).__name__}, not a torch.nn.Module")
    if weights not in (None, "default"):
        model = load_weights(model, weights)
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
