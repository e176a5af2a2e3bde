"""The metric registry, what a metric receives from the runner, and what it returns.

Every metric is one plain function (``xbench.metrics.deletion(model, inputs, target, attributions, ...)``)
plus metadata declared at :func:`register_metric`.  The runner calls the registered *cell*
``fn(ctx, **params) -> MetricOutput`` that one generic adapter (:func:`metric_cell`) builds from the plain
function: it passes exactly what the metric declares it ``consumes`` and files each returned value under
its declared output kind (:data:`OUTPUT_KINDS`: per-sample values, per-batch figures, settings decided at
run time, curves, one stat per curve point).  Policies are metadata too: ``first_batches`` (e.g. timing)
limits a metric to the leading batches of a run.  The schema is read from the plain function, so YAML
and Python accept the same settings.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from ..batching import default_max_batch, for_chunks
from ..methods.base import attribute
from ..registry import Registry, declare_fit

CONSUMES = ("attributions", "method", "path_start", "path_end", "labels", "masks", "references", "data_info")
"""What a metric can take from a cell: the attributions, the method to re-run on new inputs, the
method's path start (completeness' x') and, where it declares one, its path end (else the input),
ground-truth labels and masks, the reference set, data info."""

OUTPUT_KINDS = ("sample", "batch", "setting")
"""What a named value a metric returns is: ``sample`` a tensor [N] (one value per sample), ``batch`` one
float for the whole batch (e.g. timing, a ratio of batch means), ``setting`` a value decided at run time
(recorded in the rows' ``metric_params``, e.g. a resolved default)."""

DIRECTIONS = ("higher", "lower", "per_stat", "none")
"""Which way is better; ``none`` for a descriptive measurement (e.g. where a logit saturates along the path)."""


def _metric_contract(name: str, fn: Callable, specs: dict, meta: dict[str, Any]) -> dict[str, Any]:
    """Check what every metric declares at ``register(...)``; returns the completed metadata.

    Required: ``consumes`` (a subset of :data:`CONSUMES`), ``direction`` (``higher``/``lower`` is
    better, or ``per_stat`` with a ``directions`` mapping stat -> direction), ``units`` and ``label``
    (the axis label of its values), and ``inputs`` (the data kinds it works on, see
    :func:`xbench.registry.declare_fit`, with the optional ``fits`` check).  Optional: ``x_label`` (the x
    axis of its curves, with ``x_scale`` to multiply x by for display).  ``needs_attributions`` is derived
    from ``consumes``.
    """
    missing = [k for k in ("consumes", "direction", "units", "label") if k not in meta]
    if missing:
        raise ValueError(f"metric '{name}' must declare {', '.join(missing)} at register(...)")
    consumes = (meta["consumes"],) if isinstance(meta["consumes"], str) else tuple(meta["consumes"])
    unknown = set(consumes) - set(CONSUMES)
    if unknown:
        raise ValueError(f"metric '{name}': consumes {sorted(unknown)}; allowed: {', '.join(CONSUMES)}")
    meta["consumes"] = consumes
    declare_fit("metric", name, fn, meta)
    if meta["direction"] not in DIRECTIONS:
        raise ValueError(f"metric '{name}': direction {meta['direction']!r}; allowed: {', '.join(DIRECTIONS)}")
    if meta["direction"] == "per_stat" and not meta.get("directions"):
        raise ValueError(f"metric '{name}': direction 'per_stat' needs directions={{stat: 'higher' | 'lower'}}")
    outputs = meta.get("outputs") or {}
    bad = {k: v for k, v in outputs.items() if v not in OUTPUT_KINDS}
    if bad:
        raise ValueError(f"metric '{name}': outputs {bad}; each output is one of {', '.join(OUTPUT_KINDS)}")
    first = meta.get("first_batches")
    if first is not None and (not isinstance(first, int) or first < 1):
        raise ValueError(f"metric '{name}': first_batches={first!r}; give a positive number of leading batches")
    needs = "attributions" in consumes or "method" in consumes
    if meta.setdefault("needs_attributions", needs) != needs:
        raise ValueError(f"metric '{name}': needs_attributions contradicts consumes={consumes}")
    return meta


METRICS = Registry("metric", skip=4, hidden=("return_curves", "baseline", "path_end", "method", "method_params",
                                             "attributor", "labels", "masks", "data_info", "references", "seed"),
                   contract=_metric_contract)
register = METRICS.register

Settings = Callable[["CellContext", dict[str, Any]], dict[str, Any]]


def _batches_param(*, batches: int | None = 1) -> None:
    """The suite parameter of a metric declaring ``first_batches``: how many leading batches it runs on."""


def register_metric(name: str, fn: Callable, *, stat: str | None = None, curve: str | None = None,
                    settings: Settings | None = None, outputs: dict[str, str] | tuple[str, ...] | None = None,
                    x_stat: str | None = None, first_batches: int | None = None, **meta: Any) -> Callable:
    """Register the plain metric function ``fn`` under ``name`` with the generic cell adapter.

    The adapter (:func:`metric_cell`) passes ``fn`` exactly what the metric declares it ``consumes``
    (see :data:`CONSUMES`), plus the suite's ``seed`` and ``return_curves=True`` where ``fn`` takes
    them.  What ``fn`` returns, and how it is filed:

    - a tensor [N]: per-sample values, named ``stat`` (default: the metric's name);
    - a dict name -> value, or a tuple in the order of ``outputs``: each value is of the kind
      ``outputs`` declares for its name (:data:`OUTPUT_KINDS`; default ``sample``, or the kind declared
      for ``"*"``: names that depend on the parameters, e.g. one per removal fraction);
    - with ``return_curves``: ``(values, x [T], curves)``, ``curves`` a tensor [N, T] named ``curve`` or
      a dict.  ``x_stat`` (e.g. ``"n={x}"``): ``values`` is [N, T], one per-sample stat per point x,
      named by ``x_stat``, plus their nan-mean ``mean``.

    ``settings(ctx, params) -> dict``: values decided at run time (defaults resolved from the inputs,
    what accuracy was taken against); those that are parameters are passed to ``fn``, all are recorded.
    ``first_batches=k``: a policy, not an output: the metric runs on the first ``batches`` batches of a
    run only (suite parameter ``batches``, default ``k``; null: every batch), e.g. timing, whose value is
    a property of the method and batch shape rather than of each sample.
    Returns ``fn``; its parameter schema is read from ``fn`` itself.
    """
    if isinstance(outputs, tuple):
        outputs = dict.fromkeys(outputs, "sample")
    register(name, params_from=fn, outputs=outputs or {}, first_batches=first_batches, **meta)(
        metric_cell(name, fn, stat=stat, curve=curve, settings=settings, x_stat=x_stat))
    if first_batches is not None:
        from ..registry import params_of

        spec = params_of(_batches_param, 0)["batches"]
        spec.default = first_batches
        METRICS.get(name).params["batches"] = spec  # a policy the plan applies (see xbench.plan.Cell.covers)
    return fn


def metric_cell(name: str, fn: Callable, *, stat: str | None = None, curve: str | None = None,
                settings: Settings | None = None, x_stat: str | None = None) -> Callable[..., MetricOutput]:
    """The cell ``(ctx, **params) -> MetricOutput`` of a plain metric function (see :func:`register_metric`)."""
    import inspect

    accepted = set(inspect.signature(fn).parameters)

    def cell(ctx: CellContext, **params: Any) -> MetricOutput:
        meta = METRICS.get(name).meta  # as declared (and checked) at register
        consumes, kinds = meta["consumes"], meta["outputs"]
        params = {k: v for k, v in params.items() if k in accepted}  # policies (``batches``) are the plan's
        decided = settings(ctx, params) if settings is not None else {}
        if "max_batch" in params and params["max_batch"] is None:  # the chunk budget the inputs get, recorded
            decided = {**decided, "max_batch": default_max_batch(ctx.inputs)}
        call = {**params, **{k: v for k, v in decided.items() if k in params}}
        args = [ctx.model, ctx.inputs, ctx.target] + ([ctx.attributions] if "attributions" in consumes else [])
        given = {"path_start": {"baseline": ctx.baseline}, "path_end": {"path_end": ctx.path_end},
                 "method": {"attributor": ctx.attribute},
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
        if isinstance(values, tuple):
            values = dict(zip(kinds, values))
        elif not isinstance(values, dict):
            values = {stat or name: values}
        if x_stat is not None:  # [N, T]: one stat per point of the curve, and their mean
            grid = values.pop(stat or name)
            values = {**{x_stat.format(x=v): grid[:, i] for i, v in enumerate(x.tolist())},
                      "mean": grid.nanmean(1), **values}
        curves = {} if curves is None else curves if isinstance(curves, dict) else {curve or "curve": curves}
        out = MetricOutput(curves={k: (x, c) for k, c in curves.items()}, settings=decided)
        for key, v in values.items():
            kind = kinds.get(key, kinds.get("*", "sample"))  # "*": the kind of names known only at run time
            if kind == "batch":
                out.batch_values[key] = float(v)
            elif kind == "setting":
                out.settings[key] = v
            else:
                out.values[key] = v
        return out

    cell.__module__ = getattr(fn, "__module__", cell.__module__)  # where the metric is defined (built-in or not)
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
    path_end: torch.Tensor | None = None  # where the method's path ends, when not at ``inputs`` (declared)
    masks: torch.Tensor | None = None
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
    """``(inputs, target) -> attributions`` for the named method: what ``CellContext.attribute`` is to a cell
    (both also take ``model=`` to run the method on another model, e.g. a randomised copy)."""
    params = dict(method_params or {})
    return lambda x, t, model=model: attribute(model, x, t, method, **params)


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
