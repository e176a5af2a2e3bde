"""Reading checkpoint files in the layouts users have: plain state dicts or training checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import DataNotFoundError
from ..provenance import record_weights

_STATE_KEYS = ("state_dict", "model", "model_state_dict")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".tar", ".ckpt", ".bin")


def is_checkpoint_path(weights: str) -> bool:
    """True when ``weights`` names a file rather than weights the factory knows by name."""
    return "/" in weights or "\\" in weights or weights.startswith("~") or weights.endswith(CHECKPOINT_SUFFIXES)


def _read(path: str | Path) -> tuple[Path, Any]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataNotFoundError(f"weights: checkpoint file '{p}' does not exist; give a path to a .pt/.pth(.tar) file")
    try:
        # mmap: a 500 MB VGG checkpoint is not read into memory twice (config peek, then load)
        obj = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - legacy (non-zip) files cannot be memory-mapped
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
            raise DataNotFoundError(f"weights: '{p}' is not a readable PyTorch checkpoint "
                                    f"({type(err).__name__}); expected a file written by torch.save") from None
    return p, obj


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Return the state dict in ``path``: a plain state dict, or a dict with ``state_dict`` or ``model``
    (the authors' ``*_model_best.pth.tar`` layout), with a DataParallel ``module.`` prefix stripped."""
    p, obj = _read(path)
    record_weights(p, "checkpoint", str(path))
    for key in _STATE_KEYS:
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise DataNotFoundError(f"weights: '{p}' holds a {type(obj).__name__}, not a state dict")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def checkpoint_config(path: str | Path) -> dict[str, Any] | None:
    """The ``config`` dict an xbench training checkpoint carries (model, x, model_params, data, ...), else None."""
    p = Path(path).expanduser()
    if not p.is_file():
        return None
    _, obj = _read(p)
    cfg = obj.get("config") if isinstance(obj, dict) else None
    return cfg if isinstance(cfg, dict) else None


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """``model.load_state_dict(state)`` (strict) with a one-line error naming missing/unexpected keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. '{missing[0]}'")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), e.g. '{unexpected[0]}'")
        biases = [k for k in missing + unexpected if k.rsplit(".", 1)[-1].startswith("bias")]
        hint = " (bias keys differ: was it saved for the other x setting?)" if biases else ""
        raise DataNotFoundError(f"weights: {source} does not fit {type(model).__name__}: {'; '.join(parts)}{hint}")
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        k = bad[0]
        raise DataNotFoundError(f"weights: {source} does not fit {type(model).__name__}: '{k}' has shape "
                                f"{tuple(state[k].shape)}, the model expects {tuple(own[k].shape)} "
                                "(another num_classes or input size?)")
    model.load_state_dict(state)
    return model


def load_weights(model: nn.Module, weights: str | Path) -> nn.Module:
    """Load a state dict or a checkpoint file (``state_dict`` / ``model`` key, ``module.`` prefix stripped)."""
    return load_into(model, load_state_dict_file(weights), f"'{weights}'")
