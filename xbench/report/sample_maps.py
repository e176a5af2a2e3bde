"""One small PNG per (sample, method) attribution map and per input, from a run's ``previews/``, for the heatmap
browser of the HTML page (the grid PNG of :func:`~xbench.report.plots.heatmap_grids` holds the same maps, all in
one image)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..registry import data_kind
from .plots import _label, _method_order, plt, robust_max

BWR = plt.get_cmap("bwr")

MAPS_DIR = "maps"
"""Sub-folder of ``plots/`` holding the per-sample PNGs."""


@dataclass
class ModelMaps:
    """The PNGs written for one model: paths relative to the run directory, keyed by preview row."""

    model_dir: str
    methods: list[tuple[str, str]] = field(default_factory=list)  # (file stem, method label)
    inputs: list[str] = field(default_factory=list)  # one per preview row
    maps: dict[tuple[int, str], str] = field(default_factory=dict)  # (row, stem) -> path


MAX_SIDE = 128
"""Longest side of a written map, in pixels: larger inputs (224-px photos) are area-averaged down, so that a
run's maps stay a few kB each (the browser shows them at 132 px)."""
COLOURS = 64
"""Palette size of a written map (bwr is one smooth ramp; 64 levels are indistinguishable on screen)."""


def shrink(a: torch.Tensor) -> torch.Tensor:
    """``a`` ([H, W] or [C, H, W]) area-averaged by the smallest integer factor that brings both sides to at
    most :data:`MAX_SIDE`; unchanged when already small."""
    k = -(-max(a.shape[-2:]) // MAX_SIDE)
    if k <= 1:
        return a
    x = a.float().reshape(-1, 1, *a.shape[-2:])
    y = torch.nn.functional.avg_pool2d(x, k, ceil_mode=True)
    return y.reshape(*a.shape[:-2], *y.shape[-2:])


def _save_png(path: Path, rgb, palette: bool) -> None:
    """Write an [H, W, 3] float image in [0, 1] as a PNG (a :data:`COLOURS`-colour palette when ``palette``)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray((np.clip(rgb[..., :3], 0, 1) * 255).round().astype(np.uint8))
    (img.quantize(COLOURS) if palette else img).save(path, optimize=True)


def sample_maps(run_dir: Path, plots_dir: Path) -> dict[str, ModelMaps]:
    """Write ``plots/maps/<model>/input_<row>.png`` and ``<row>_<method>.png`` for every image preview (signed
    ``bwr`` colours, each map scaled by its own ±99th percentile of |A| as the grid is; at most
    :data:`MAX_SIDE` px a side); returns them by model folder name.  Tabular previews (feature bars, no map)
    and runs without previews give nothing."""
    out: dict[str, ModelMaps] = {}
    root = run_dir / "previews"
    if not root.is_dir():
        return out
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(model_dir.glob("*.pt"))
        if not files:
            continue
        previews = {f.stem: torch.load(f, weights_only=True) for f in files}
        names = _method_order(run_dir, model_dir.name, list(previews))
        inputs = previews[names[0]]["inputs"]
        if inputs.shape[0] == 0 or data_kind(inputs.shape[1:]) != "image":
            continue
        mm = ModelMaps(model_dir.name, [(n, _label(run_dir, model_dir.name, n)) for n in names])
        folder = plots_dir / MAPS_DIR / model_dir.name
        for i in range(inputs.shape[0]):
            img = shrink(inputs[i])
            img = ((img - img.min()) / (img.max() - img.min() + 1e-12))
            img = (img.expand(3, -1, -1) if img.shape[0] == 1 else img[:3]).permute(1, 2, 0).numpy()
            p = folder / f"input_{i}.png"
            _save_png(p, img, palette=False)
            mm.inputs.append(p.relative_to(run_dir).as_posix())
            for n in names:
                a = previews[n]["attributions"][i]
                vmax = robust_max(a)  # the scale of the full-size map, as the grid uses
                p = folder / f"{i}_{n}.png"
                _save_png(p, BWR(plt.Normalize(-vmax, vmax)(shrink(a).numpy())), palette=True)
                mm.maps[(i, n)] = p.relative_to(run_dir).as_posix()
        out[model_dir.name] = mm
    return out
