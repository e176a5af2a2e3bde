"""The cell executor: what one unit (a method on one batch of one model) computes and writes.

For a batch it attributes once with the unit's method (timed, seeded), builds the
:class:`~xbench.metrics.CellContext` every metric of the unit reads, runs each missing cell (a
metric, the method's ``info`` diagnostics, the heatmap preview) and writes one part file per cell
through the run directory.  The one call to :func:`xbench.methods.attribute` is in
:func:`call_method`, the one call to a metric in :meth:`Executor.metric`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from . import batching, precision
from .methods import METHODS, attribute, path_end, path_start
from .metrics import METRICS, CellContext, MetricOutput
from .models import create as create_model
from .models import is_homogeneous
from .models.user import bind_input_normalisation
from .plan import INFO, MODEL_ONLY, Cell, CellKind, Unit, cell_settings, part_path, preview_path
from .provenance import recording_weights, stable_seed
from .results import output_rows, to_json
from .rundir import RunDir
from .suite import MethodSpec, ModelSpec, Suite

__all__ = ["Attributed", "Batch", "Executor", "call_method", "part_path", "preview_path"]


@dataclass
class Batch:
    """One batch on the model's device: inputs, labels, masks (or None), the explained target, sample ids."""

    index: int
    x: torch.Tensor
    y: torch.Tensor
    masks: torch.Tensor | None
    target: torch.Tensor
    sample_ids: list[int]
    data_info: dict[str, Any]
    references: torch.Tensor | None = None


@dataclass
class Attributed:
    """A method's attributions of one batch and what the cells need from them."""

    attributions: torch.Tensor
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    chunk: int = 0  # the smallest chunk the attribution ran in (the batch size when unchunked)
    decided: dict[str, Any] = field(default_factory=dict)  # settings the method decided at run time
    path_start: torch.Tensor | None = None
    path_end: torch.Tensor | None = None  # declared by methods whose path does not end at the input
    recompute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None


def call_method(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, method: MethodSpec,
                context: dict[str, Any], return_info: bool = False):
    """``attribute(model, x, target, method)`` with the context the method declared it ``needs``."""
    needs = METHODS.get(method.name).meta["needs"]
    extra = {k: context[k] for k in needs if context.get(k) is not None}
    return attribute(model, x, target, method.name, return_info=return_info, **method.params, **extra)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _amp_error(errors: dict[str, dict[str, float]], key: str) -> dict[str, float]:
    """speed: the autocast errors measured for ``key`` (model/method), recorded in method_params."""
    return {k: round(v, 6) for k, v in errors.get(key, {}).items()}


class Executor:
    """Computes and writes the cells of units for one run (one rank); keeps per-cell times and written files."""

    def __init__(self, suite: Suite, run_dir: RunDir, device: torch.device,
                 speed: precision.Speed | None = None):
        self.suite = suite
        self.dir = run_dir
        self.device = device
        self.dtype = getattr(torch, suite.dtype)
        self.speed = speed if speed is not None else precision.Speed.from_dict(getattr(suite, "speed", None))
        self.amp_errors: dict[str, dict[str, float]] = {}  # speed: autocast's measured errors per model/method
        self.cell_seconds: dict[str, float] = {}
        self.homogeneous: dict[str, bool] = {}
        self.weights: dict[str, list[dict[str, str]]] = {}  # model label -> the weight files it was made from
        self.written: list[Path] = []  # files this rank wrote in this invocation (gathered by rank 0)
        self.tick: Callable[[], None] = lambda: None  # called once per finished cell (the progress bar)

    # ---- model and batch on the device ------------------------------------------------------------
    def load_model(self, spec: ModelSpec, data_info: dict, progress: bool = False) -> torch.nn.Module:
        """The model on the run's device and dtype, in eval mode, parameters frozen; the weight files it was
        made from (file, source, sha256) are kept in ``self.weights[spec.label]``."""
        with recording_weights() as files:  # trained, cached, checkpoint or model files, with their SHA-256
            model = create_model(spec.name, x=spec.x, weights=spec.weights, num_classes=spec.num_classes,
                                 device=self.device, progress=progress, **spec.params).to(self.device, self.dtype)
        self.weights[spec.label] = files
        bind_input_normalisation(model, data_info)  # a user model declaring its own mean/std
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)  # attributions need input gradients only
        self.homogeneous[spec.label] = is_homogeneous(model)
        return precision.prepare_model(model, self.speed)  # speed: channels_last, compile

    def make_batch(self, model: torch.nn.Module, b: int, data: tuple, sample_ids: list[int],
                   data_info: dict[str, Any], refs: torch.Tensor | None) -> Batch:
        """Batch ``b`` on the device, with the target it explains (the model's prediction or the label)."""
        x = precision.prepare_inputs(data[0].to(self.device, self.dtype), self.speed)  # speed
        with torch.no_grad():
            target = model(x).argmax(1) if self.suite.data.target == "predicted" else None
        y = data[1].to(self.device)
        return Batch(b, x, y, data[2].to(self.device) if len(data) > 2 else None, y if target is None else target,
                     sample_ids[: len(x)], data_info, refs)

    # ---- the two calls into user code -------------------------------------------------------------
    def attribute(self, model, unit: Unit, batch: Batch) -> Attributed:
        """Attribute ``batch`` with the unit's method (seeded per model/method/batch, timed, synchronised)."""
        method = unit.method
        if method is None:
            zeros = torch.zeros_like(batch.x)
            return Attributed(zeros, chunk=len(batch.x), path_start=zeros)
        context = {"data_info": batch.data_info, "references": batch.references}
        torch.manual_seed(stable_seed(self.suite.seed, unit.model.label, unit.label, batch.index))
        with batching.record() as events:
            t0 = time.perf_counter()
            # speed: under autocast, with the float32 check on the first batch of each model/method
            attr, info = precision.guarded(
                lambda: call_method(model, batch.x, batch.target, method, context, return_info=True),
                self.speed, self.device, seed=stable_seed(self.suite.seed, unit.model.label, unit.label, batch.index),
                key=f"{unit.model.label}/{unit.label}", errors=self.amp_errors)
            _sync(self.device)
            seconds = time.perf_counter() - t0
        # settings decided at run time (e.g. Grad-CAM's default layer) are recorded with the rows
        decided = {k: v for k, v in (info.pop("params", None) or {}).items() if method.params.get(k) != v}
        # where the method's path starts (declared at register): what completeness compares F(x) with
        start = path_start(method.name, method.params, batch.x, batch.data_info)
        return Attributed(
            attr, info, seconds, min((e.chunk_size for e in events), default=len(batch.x)), decided, start,
            path_end(method.name, batch.x, start, info),
            # ``model=`` re-runs the method on another model (the randomisation checks' randomised copies)
            lambda inp, tgt, model=model: call_method(model, inp, tgt, method, context))

    def metric(self, cell: Cell, ctx: CellContext, seed_key: tuple) -> tuple[MetricOutput, float, int]:
        """Run one metric cell: (its output, seconds, smallest chunk size)."""
        spec = cell.metric
        torch.manual_seed(stable_seed(self.suite.seed, *seed_key))
        with batching.record() as events:
            t0 = time.perf_counter()
            with precision.autocast(self.speed, self.device):  # speed
                out = METRICS.get(spec.name).fn(ctx, **spec.params)
            seconds = time.perf_counter() - t0
        return out, seconds, min((e.chunk_size for e in events), default=len(ctx.inputs))

    # ---- one unit ---------------------------------------------------------------------------------
    def run_unit(self, model, unit: Unit, cells: list[Cell], batch: Batch) -> None:
        """Attribute one batch with the unit's method and compute its missing cells (one part file each)."""
        suite, b, x = self.suite, batch.index, batch.x
        model_spec, method, me_label = unit.model, unit.method, unit.label
        a = self.attribute(model, unit, batch)
        key = f"{model_spec.label}/{me_label}"
        self._add_time(f"{key}/attribution", a.seconds)
        ctx = CellContext(model=model, inputs=x, target=batch.target, attributions=a.attributions,
                          method=method.name if method else MODEL_ONLY,
                          method_params=dict(method.params) if method else {}, attribute=a.recompute,
                          baseline=a.path_start, path_end=a.path_end, labels=batch.y, masks=batch.masks,
                          data_info=batch.data_info, references=batch.references, seed=suite.seed, batch=b)
        common = {"suite": suite.name, "model": model_spec.label, "method": me_label, "target": suite.data.target,
                  "device": str(self.device), "dtype": suite.dtype, "batch_size": suite.data.batch_size,
                  "batch": b, "seed": suite.seed,
                  "model_params": to_json({"name": model_spec.name, "x": model_spec.x, "weights": model_spec.weights,
                                           "num_classes": model_spec.num_classes, **model_spec.params,
                                           "homogeneous": self.homogeneous.get(model_spec.label),
                                           **({"speed": self.speed.recorded()} if self.speed.active else {})}),
                  "method_params": to_json({"name": method.name, **method.params, **a.decided,
                                            **_amp_error(self.amp_errors, key)} if method else {})}
        for cell in cells:
            if cell.kind is CellKind.PREVIEW:
                self.write_preview(model_spec.label, me_label, x, a.attributions)
            elif cell.kind is CellKind.INFO:
                out = MetricOutput(values={k: v for k, v in a.info.items()
                                           if isinstance(v, torch.Tensor) and v.shape == (len(x),)})
                rows = output_rows(out, {**common, "metric": INFO, "metric_name": INFO, "metric_params": "{}",
                                         "chunk_size": a.chunk}, batch.sample_ids)
                self.write_part(rows, unit, cell, b)
            else:
                spec = cell.metric
                out, seconds, chunk = self.metric(cell, ctx, (model_spec.label, me_label, cell.label, b))
                self._add_time(f"{key}/{cell.label}", seconds)
                params = {"name": spec.name, **spec.params, **out.settings}
                rows = output_rows(out, {**common, "metric": cell.label, "metric_name": spec.name,
                                         "metric_params": to_json(params),
                                         "chunk_size": chunk}, batch.sample_ids)
                self.write_part(rows, unit, cell, b)
            self.tick()

    def _add_time(self, key: str, seconds: float) -> None:
        self.cell_seconds[key] = self.cell_seconds.get(key, 0.0) + seconds

    # ---- writing ----------------------------------------------------------------------------------
    def write_part(self, rows: pd.DataFrame, unit: Unit, cell: Cell, b: int) -> None:
        path = part_path(self.dir.path, unit.model.label, unit.label, cell.label, b)
        self.dir.write_part(path, rows, cell_settings(self.suite, unit, cell))
        self.written.append(path)

    def write_preview(self, model: str, method: str, x: torch.Tensor, attr: torch.Tensor) -> None:
        """Keep a few channel-summed attribution maps (and the inputs) for the heatmap grid."""
        k = int(self.suite.report.get("heatmap_samples", 4))
        path = preview_path(self.dir.path, model, method)
        maps = attr[:k].detach().float()
        maps = maps.sum(1) if maps.dim() == 4 else maps
        # clone: saving a view would write the whole batch's storage
        self.dir.write_torch(path, {"inputs": x[:k].detach().float().cpu().clone(), "attributions": maps.cpu().clone()})
        self.written.append(path)
