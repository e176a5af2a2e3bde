"""The plan of a run: which units (model x method x batch) and which cells of each a rank computes.

A unit is one method's attributions on one batch of one model; its cells are the metrics fed by those
attributions, the method's own diagnostics (``info``) and, on batch 0, the heatmap preview.  Metrics that
evaluate the model itself (accuracy, contrast) form a unit without a method.  Kinds are typed here; the
labels ``-`` and ``_info`` only appear where they always did: in result rows (a suite cannot use them as labels:
:data:`xbench.suite.schema.RESERVED_LABELS`); part paths namespace them (:func:`part_path`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .metrics import METRICS
from .results import safe_name
from .suite import MethodSpec, MetricSpec, ModelSpec, Suite

MODEL_ONLY = "-"  # the method label of metrics that evaluate the model itself (accuracy, contrast)
INFO = "_info"  # the pseudo-metric that stores a method's per-sample diagnostics (alpha_star, delta, ...)
PREVIEW = "_preview"


class CellKind(enum.Enum):
    METRIC = "metric"  # a registered metric: a part file of result rows
    INFO = "info"  # the method's per-sample diagnostics: a part file of result rows
    PREVIEW = "preview"  # a few attribution maps for the heatmap grid (batch 0 only)


@dataclass(frozen=True)
class Cell:
    kind: CellKind
    label: str  # the metric label (METRIC), INFO or PREVIEW
    metric: MetricSpec | None = None

    def covers(self, b: int) -> bool:
        """Whether the cell is computed on batch ``b``: a metric declaring ``first_batches`` at register
        (timing) runs on its ``batches`` leading batches only (null: every batch)."""
        if self.metric is None or METRICS.get(self.metric.name).meta.get("first_batches") is None:
            return True
        limit = self.metric.params.get("batches")
        return limit is None or b < limit


@dataclass(frozen=True)
class Unit:
    """One method (or none: model-only metrics) on one model; its cells in suite order (previews excluded)."""

    model: ModelSpec
    method: MethodSpec | None
    cells: tuple[Cell, ...]

    @property
    def label(self) -> str:
        """The method label in result rows and part paths (``-`` for model-only metrics)."""
        return self.method.label if self.method is not None else MODEL_ONLY


def units(suite: Suite, model: ModelSpec) -> list[Unit]:
    """The units of ``model`` in suite order, model-only metrics first."""
    model_only = [m for m in suite.metrics if not METRICS.get(m.name).meta.get("needs_attributions", True)]
    out = []
    if model_only:
        out.append(Unit(model, None, tuple(Cell(CellKind.METRIC, m.label, m) for m in model_only)))
    only = {m.label for m in model_only}
    attr = [Cell(CellKind.METRIC, m.label, m) for m in suite.metrics if m.label not in only]
    for mo, me in suite.pairs():
        if mo.label == model.label:
            mine = tuple(c for c in attr if c.metric.evaluates(me.label))  # a metric may name the methods it evaluates
            out.append(Unit(model, me, (*mine, Cell(CellKind.INFO, INFO))))
    return out


def part_path(out: Path, model: str, method: str, metric: str, batch: int) -> Path:
    """``parts/model=<model>/method=<method>/metric=<metric>/b<batch>.csv`` under the run directory ``out``.

    Every level is namespaced, so no label can name an internal file: the model-only unit (method ``-``) is
    ``no-method/`` and a method's diagnostics (metric ``_info``) ``info/``, spellings no label folder can take."""
    method_dir = "no-method" if method == MODEL_ONLY else f"method={safe_name(method)}"
    metric_dir = "info" if metric == INFO else f"metric={safe_name(metric)}"
    return out / "parts" / f"model={safe_name(model)}" / method_dir / metric_dir / f"b{batch:05d}.csv"


def preview_path(out: Path, model: str, method: str) -> Path:
    """``previews/<model>/<method>.pt``: a few attribution maps of batch 0 for the heatmap grid."""
    return out / "previews" / safe_name(model) / f"{safe_name(method)}.pt"


def all_parts(suite: Suite, out: Path, n_batches: int) -> list[Path]:
    """Every part of a finished run in suite order (model, unit, cell, batch): what the merge concatenates."""
    return [part_path(out, model.label, u.label, c.label, b) for model in suite.models for u in units(suite, model)
            for c in u.cells for b in range(n_batches) if c.covers(b)]


Work = list[tuple[ModelSpec, list[Unit], dict[tuple[int, str], list[Cell]]]]


def todo(suite: Suite, my_batches: list[int], done: Callable[[Unit, Cell, int], bool]) -> tuple[Work, int]:
    """Per model: its units and, per (batch, method label), the cells still to compute (``done`` says which
    are finished); and the number of cells this rank has in all (finished ones included)."""
    work: Work = []
    total = 0
    for model in suite.models:
        model_units = units(suite, model)
        missing: dict[tuple[int, str], list[Cell]] = {}
        for b in my_batches:
            for u in model_units:
                cells = [c for c in u.cells if c.covers(b)] + (
                    [Cell(CellKind.PREVIEW, PREVIEW)] if b == 0 and u.method else [])
                total += len(cells)
                left = [c for c in cells if not done(u, c, b)]
                if left:
                    missing[(b, u.label)] = left
        work.append((model, model_units, missing))
    return work, total


def rank_batches(n_samples: int, batch_size: int, rank: int, world: int) -> list[int]:
    """The batch numbers rank ``rank`` of ``world`` computes: ``b % world == rank``."""
    n_batches = -(-n_samples // batch_size)
    return [b for b in range(n_batches) if b % world == rank]


def cell_settings(suite: Suite, unit: Unit, cell: Cell) -> dict[str, Any]:
    """Every setting that determines a cell's values (stored in its part; resume compares them field by field)."""
    data = asdict(suite.data)
    data.pop("num_workers", None)  # loader processes do not change values
    metric: Any = cell.label
    if cell.metric is not None:
        metric = asdict(cell.metric)
        if metric.get("methods") is None:
            metric.pop("methods", None)  # every method: as recorded before metrics could name theirs (resume)
    return {"seed": suite.seed, "device": suite.device, "dtype": suite.dtype, "data": data,
            "model": asdict(unit.model), "method": asdict(unit.method) if unit.method is not None else None,
            "metric": metric}
