"""The metric registry, what a metric receives from the runner, and what it returns.

Users call plain functions (``xbench.metrics.deletion(model, inputs, target, attributions, ...)``)
that return per-sample tensors of shape [N].  The runner calls the registered *cell* function
``fn(ctx, **params) -> MetricOutput``.  :func:`register_metric` builds that cell from the plain
function with one generic adapter (:func:`metric_cell`), which passes exactly what the metric
declares it ``consumes``; the schema is read from the plain function, so YAML and Python accept the
same settings.  Metrics whose output does not fit the adapter (completeness' two gaps, Sensitivity(a)
and Sensitivity-n, IG distance's per-batch figure, timing) register a hand-written cell.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from ..batching import for_chunks
from ..methods.base import attribute
from ..registry import Registry

CONSUMES = ("attributions", "method", "path_start", "labels", "masks", "references", "data_info")
"""What a metric can take from a cell: the attributions, the method to re-run on new inputs, the
method's path start (completeness' x'), ground-truth labels and masks, the reference set, data info."""

DIRECTIONS = ("higher", "lower", "per_stat", "none")
"""Which way is better; ``none`` for a descriptive measurement (e.g. where a logit saturates along the path)."""


def _metric_contract(name: str, fn: Callable, specs: dict, meta: dict[str, Any]) -> dict[str, Any]:
    """Check what every metric declares at ``register(...)``; returns the completed metadata.

    Required: ``consumes`` (a subset of :data:`CONSUMES`), ``direction`` (``higher``/``lower`` is
    better, or ``per_stat`` with a ``directions`` mapping stat -> direction), ``units`` and ``label``
    (the axis label of its values).  Optional: ``x_label`` (the x axis of its curves, with
    ``x_scale`` to multiply x by for display).  ``needs_attributions`` is derived from ``consumes``.
    """
    missing = [k for k in ("consumes", "direction", "units", "label") if k not in meta]
    if missing:
        raise ValueError(f"metric '{name}' must declare {', '.join(missing)} at register(...)")
    consumes = (meta["consumes"],) if isinstance(meta["consumes"], str) else tuple(meta["consumes"])
    unknown = set(consumes) - set(CONSUMES)
    if unknown:
        raise ValueError(f"metric '{name}': consumes {sorted(unknown)}; allowed: {', '.join(CONSUMES)}")
    meta["consumes"] = consumes
    if meta["direction"] not in DIRECTIONS:
        raise ValueError(f"metric '{name}': direction {meta['direction']!r}; allowed: {', '.join(DIRECTIONS)}")
    if meta["direction"] == "per_stat" and not meta.get("directions"):
        raise ValueError(f"metric '{name}': direction 'per_stat' needs directions={{stat: 'higher' | 'lower'}}")
    needs = "attributions" in consumes or "method" in consumes
    if meta.setdefault("needs_attributions", needs) != needs:
        raise ValueError(f"metric '{name}': needs_attributions contradicts consumes={consumes}")
    return meta


METRICS = Registry("metric", skip=4, hidden=("return_curves", "baseline", "method", "method_params", "attributor",
                                             "labels", "masks", "data_info", "references", "seed"),
                   contract=_metric_contract)
register = METRICS.register

Settings = Callable[["CellContext", dict[str, Any]], dict[str, Any]]


def register_metric(name: str, fn: Callable, *, stat: str | None = None, curve: str | None = None,
                    settings: Settings | None = None, **meta: Any) -> Callable:
    """Register the plain metric function ``fn`` under ``name`` with the generic cell adapter.

    The adapter (:func:`metric_cell`) passes ``fn`` exactly what the metric declares it ``consumes``
    (see :data:`CONSUMES`), plus the suite's ``seed`` and ``return_curves=True`` where ``fn`` takes
    them.  ``fn`` returns per-sample values (a tensor [N], named ``stat``, or a dict stat -> [N]) and,
    with ``return_curves``, ``(values, x [T], curves)`` (a tensor [N, T] named ``curve`` or a dict).
    ``settings(ctx, params) -> dict``: values decided at run time (defaults resolved from the inputs,
    what accuracy was taken against); those that are parameters are passed to ``fn``, all are recorded.
    Returns ``fn``; its parameter schema is read from ``fn`` itself.
    """
    register(name, params_from=fn, **meta)(metric_cell(name, fn, stat=stat, curve=curve, settings=settings))
    return fn


def metric_cell(name: str, fn: Callable, *, stat: str | None = None, curve: str | None = None,
                settings: Settings | None = None) -> Callable[..., MetricOutput]:
    """The cell ``(ctx, **params) -> MetricOutput`` of a plain metric function (see :func:`register_metric`)."""
    import inspect

    accepted = set(inspect.signature(fn).parameters)

    def cell(ctx: CellContext, **params: Any) -> MetricOutput:
        consumes = METRICS.get(name).meta["consumes"]  # as declared (and checked) at register
        decided = settings(ctx, params) if settings is not None else {}
        call = {**params, **{k: v for k, v in decided.items() if k in params}}
        args = [ctx.model, ctx.inputs, ctx.target] + ([ctx.attributions] if "attributions" in consumes else [])
        given = {"path_start": {"baseline": ctx.baseline}, "method": {"attributor": ctx.attribute},
                 "labels": {"labels": ctx.labels}, "masks": {"masks": ctx.masks},
                 "references": {"references": ctx.references}, "data_info": {"data_info": ctx.data_info}}
        for what in consumes:
            call.update(given.get(what, {}))
        if "seed" in accepted:
            call["seed"] = ctx.seed
        curves_wanted = "return_curves" in accepted
        if curves_wanted:
            call["return_curves"] = True
        result = fn(*args, **call)
        values, x, curves = result if curves_wanted else (result, None, None)
        values = values if isinstance(values, dict) else {stat or name: values}
        curves = {} if curves is None else curves if isinstance(curves, dict) else {curve or "curve": curves}
        return MetricOutput(values=dict(values), curves={k: (x, c) for k, c in curves.items()}, settings=decided)

    return cell


def available() -> list[str]:
    """Names of all registered metrics."""
    return METRICS.available()


def describe() -> dict[str, str]:
    """Name -> one-line description of every metric."""
    return METRICS.describe()


def stat_direction(metric: str, stat: str) -> str | None:
    """``"higher"``/``"lower"`` (is better) for a registered metric's stat, None when it has none."""
    if metric not in METRICS:
        return None
    meta = METRICS.get(metric).meta
    if meta["direction"] == "per_stat":
        return meta["directions"].get(stat)
    return None if meta["direction"] == "none" else meta["direction"]


def arrow(metric: str, stat: str = "") -> str:
    """``" ↑"`` / ``" ↓"`` for higher / lower is better (from the registry), ``""`` when undeclared."""
    return {"higher": " ↑", "lower": " ↓"}.get(stat_direction(metric, stat) or "", "")


@dataclass
class CellContext:
    """Everything one (model, method, batch) offers a metric; built by the runner."""

    model: torch.nn.Module
    inputs: torch.Tensor
    target: torch.Tensor
    attributions: torch.Tensor
    method: str
    method_params: dict[str, Any]
    attribute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    baseline: torch.Tensor
    labels: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    method_info: dict[str, Any] = field(default_factory=dict)
    data_info: dict[str, Any] = field(default_factory=dict)
    references: torch.Tensor | None = None
    seed: int = 0
    batch: int = 0  # index of this batch in the run (metrics that sample a few batches use it)


@dataclass
class MetricOutput:
    """What a metric cell returns for one batch.

    ``values``: stat name -> per-sample tensor [N].  ``curves``: stat name -> (x [T], y [N, T]).
    ``batch_values``: stat name -> one float for the whole batch (e.g. timing).  ``settings``:
    extra settings that were decided at run time (chunk size, ...), recorded with the rows.
    """

    values: dict[str, torch.Tensor] = field(default_factory=dict)
    curves: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    batch_values: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


Attributor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def method_attributor(model: torch.nn.Module, method: str, method_params: dict[str, Any] | None) -> Attributor:
    """``(inputs, target) -> attributions`` for the named method: what ``CellContext.attribute`` is to a cell."""
    params = dict(method_params or {})
    return lambda x, t: attribute(model, x, t, method, **params)


class ChunkRNG:
    """A seeded generator on the inputs' device for noise drawn inside :func:`xbench.batching.for_chunks`.

    Draws are item-major (all values of item i before item i + 1) and undone when a chunk fails,
    so an OOM retry redraws the same values.  On CPU the stream is sequential, so the noise does
    not depend on the chunk size; on CUDA (Philox) it is reproducible for a given seed and chunk size.
    """

    def __init__(self, seed: int, device: torch.device):
        self.gen = torch.Generator(device=device).manual_seed(int(seed))
        self.device = device

    @contextlib.contextmanager
    def chunk(self) -> Iterator[ChunkRNG]:
        state = self.gen.get_state()
        try:
            yield self
        except BaseException:
            self.gen.set_state(state)
            raise

    def uniform(self, shape: tuple[int, ...], low: float, high: float, dtype: torch.dtype) -> torch.Tensor:
        """U[low, high) samples (the same formula as ``Tensor.uniform_``, which Captum uses)."""
        return torch.empty(shape, device=self.device, dtype=dtype).uniform_(low, high, generator=self.gen)

    def normal(self, shape: tuple[int, ...], std: float, dtype: torch.dtype) -> torch.Tensor:
        """N(0, std^2) samples by Box-Muller from item-major uniforms (``normal_`` is not chunk-invariant)."""
        u = torch.rand((shape[0], 2) + tuple(shape[1:]), device=self.device, dtype=dtype, generator=self.gen)
        return std * torch.sqrt(-2.0 * torch.log1p(-u[:, 0])) * torch.cos(2 * math.pi * u[:, 1])

    def rand(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """U[0, 1) samples."""
        return torch.rand(shape, device=self.device, dtype=dtype, generator=self.gen)


def for_noise_items(fn: Callable[[torch.Tensor, torch.Tensor, ChunkRNG], None], n: int, n_samples: int,
                    seed: int, device: torch.device, max_batch: int | None) -> None:
    """Run ``fn(img, j, rng)`` over the n x n_samples (image, noise draw) items in chunks.

    Items are image-major, as ``torch.repeat_interleave`` orders them in Captum; draws made from
    ``rng`` inside ``fn`` are undone if the chunk fails, so an OOM retry sees the same noise.
    ``fn`` must write its results only after its last model call.
    """
    rng = ChunkRNG(seed, device)

    def chunk(start: int, stop: int) -> None:
        idx = torch.arange(start, stop, device=device)
        with rng.chunk():
            fn(idx // n_samples, idx % n_samples, rng)

    for_chunks(chunk, n * n_samples, max_batch)


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation along the last dimension (in ``a``'s dtype); nan where either side is constant.

    Computed in float64: a correlation of nearly uncorrelated values is ill-conditioned, and float32
    centring and sums would make it depend on the reduction order of the machine's kernels."""
    # test constancy exactly: a centred constant is not exactly 0 when the mean rounds
    const = (a.amax(-1) == a.amin(-1)) | (b.amax(-1) == b.amin(-1))
    dtype = a.dtype
    a, b = a.double(), b.double()
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    r = (a * b).sum(-1) / torch.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    return torch.where(const, torch.full_like(r, float("nan")), r).to(dtype)
