"""One small PNG per (sample, method) attribution map and per input, from a run's ``previews/``, for the heatmap
browser of the HTML page (the grid PNG of :func:`~xbench.report.plots.heatmap_grids` holds the same maps, all in
one image)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..registry import data_kind
from .plots import _label, _method_order, plt, robust_max

MAPS_DIR = "maps"
"""Sub-folder of ``plots/`` holding the per-sample PNGs."""


@dataclass
class ModelMaps:
    """The PNGs written for one model: paths relative to the run directory, keyed by preview row."""

    model_dir: str
    methods: list[tuple[str, str]] = field(default_factory=list)  # (file stem, method label)
    inputs: list[str] = field(default_factory=list)  # one per preview row
    maps: dict[tuple[int, str], str] = field(default_factory=dict)  # (row, stem) -> path


def _save_png(path: Path, array, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, array, **kw)


def sample_maps(run_dir: Path, plots_dir: Path) -> dict[str, ModelMaps]:
    """Write ``plots/maps/<model>/input_<row>.png`` and ``<row>_<method>.png`` for every image preview (signed
    ``bwr`` colours, each map scaled by its own ±99th percentile of |A| as the grid is); returns them by model
    folder name.  Tabular previews (feature bars, no map) and runs without previews give nothing."""
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
            img = inputs[i]
            img = img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)
            img = ((img - img.min()) / (img.max() - img.min() + 1e-12)).numpy()
            p = folder / f"input_{i}.png"
            _save_png(p, img, cmap="gray" if img.ndim == 2 else None)
            mm.inputs.append(p.relative_to(run_dir).as_posix())
            for n in names:
                a = previews[n]["attributions"][i]
                vmax = robust_max(a)
                p = folder / f"{i}_{n}.png"
                _save_png(p, a.float().numpy(), cmap="bwr", vmin=-vmax, vmax=vmax)
                mm.maps[(i, n)] = p.relative_to(run_dir).as_posix()
        out[model_dir.name] = mm
    return out
