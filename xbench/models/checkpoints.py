"""Reading checkpoint files in the layouts users have: plain state dicts or training checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import DataNotFoundError


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Return the state dict in ``path``: a plain state dict, or a dict with ``state_dict`` or ``model``
    (the authors' ``*_model_best.pth.tar`` layout), with a DataParallel ``module.`` prefix stripped."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataNotFoundError(f"weights: checkpoint file '{p}' does not exist; give a path to a .pt/.pth(.tar) file")
    obj = torch.load(p, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise DataNotFoundError(f"weights: '{p}' holds a {type(obj).__name__}, not a state dict")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}
