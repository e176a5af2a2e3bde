"""Run a suite: expand it into (model, batch, method, metric) units, skip finished ones, write parts.

Loop order is model -> batch -> method -> metric: each batch is loaded once per model, each
method's attributions are computed once per batch and fed to every metric, and a unit's part
file is written atomically as soon as it is done, so a killed run resumes where it stopped.
Under ``torchrun`` every rank takes the batches ``b % world_size == rank``; rank 0 merges.

The output folder (ownership, lock, stamp, verified parts, completion) is :mod:`xbench.rundir`'s,
the plan :mod:`xbench.plan`'s, the ranks :mod:`xbench.distributed`'s; this module orchestrates.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Subset

from . import batching, precision  # speed: precision holds issue 16's options
from .data import create as create_data
from .distributed import barrier, dist_info, gather_files, process_group
from .errors import XBenchError
from .methods import METHODS, attribute, path_start
from .metrics import METRICS, CellContext
from .models import create as create_model
from .models import is_homogeneous
from .models.user import bind_input_normalisation
from .plan import INFO, MODEL_ONLY, PREVIEW, Cell, CellKind, Unit, cell_settings, rank_batches, units
from .plugins import loaded as plugins_loaded
from .preflight import preflight
from .provenance import device_name, git_commit, now, stable_seed, versions
from .results import COLUMNS, output_rows, safe_name, to_json
from .rundir import RunDir, check_out_path
from .suite import ModelSpec, Suite

__all__ = ["INFO", "MODEL_ONLY", "Run", "device_name", "dist_info", "preflight", "resolve_device", "run_suite",
           "stable_seed", "versions"]

DEFAULT_OUT = Path("runs")
"""Where runs go without ``--out``: ``runs/<suite name>`` (git-ignored, so a run in a checkout never touches
the committed reference runs under ``results/``)."""


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local rank>`` when CUDA is available, else ``cpu``; other specs as given."""
    if spec == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise XBenchError(f"device: '{spec}' was asked for but CUDA is not available here; use device: auto or cpu")
    return torch.device(spec)


def note(line: str) -> None:
    """One line to the user on stderr, never on a progress bar's line."""
    print(f"xbench: {line}", file=sys.stderr, flush=True)


class Run:
    """One execution of a suite into a run directory (see :func:`run_suite`)."""

    def __init__(self, suite: Suite, out_dir: Path, resume: bool, progress: bool):
        self.suite = suite
        self.out = Path(out_dir)
        self.dir = RunDir(self.out)
        self.resume = resume
        self.progress = progress
        self.rank, self.world, self.local_rank = dist_info()
        self.device = resolve_device(suite.device, self.local_rank)
        self.dtype = getattr(torch, suite.dtype)
        self.speed = precision.Speed.from_dict(suite.speed)  # speed: the options, and autocast's measured errors
        self.amp_errors: dict[str, dict[str, float]] = {}
        self.cell_seconds: dict[str, float] = {}
        self.homogeneous: dict[str, bool] = {}
        self.written: list[Path] = []  # files this rank wrote in this invocation (gathered by rank 0)
        self.bar = None
        self.n_evaluated = min(suite.data.n_samples, 10**12)  # set from the data by execute()

    # ---- layout -------------------------------------------------------------------------------------
    def part_path(self, model: str, method: str, metric: str, batch: int) -> Path:
        return self.out / "parts" / safe_name(model) / safe_name(method) / safe_name(metric) / f"b{batch:05d}.csv"

    def preview_path(self, model: str, method: str) -> Path:
        return self.out / "previews" / safe_name(model) / f"{safe_name(method)}.pt"

    def units(self, model: ModelSpec) -> list[Unit]:
        return units(self.suite, model)

    # ---- setup --------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Rank 0 claims, locks and stamps the folder (refusing a changed suite on resume); all ranks wait."""
        if self.rank == 0:
            self.dir.open(self.suite.to_dict(), self.resume)
        barrier(self.world)

    def load_data(self):
        """The dataset and the dataset indices of the evaluated samples, in evaluation order."""
        spec = self.suite.data
        ds = create_data(spec.name, spec.split, root=spec.root, **spec.params)
        n = min(spec.n_samples, len(ds))
        if spec.subset == "random":
            gen = torch.Generator().manual_seed(stable_seed(self.suite.seed, "subset"))
            idx = torch.randperm(len(ds), generator=gen)[:n].sort().values.tolist()
        else:
            idx = list(range(n))
        return ds, idx

    def batches(self, ds, idx: list[int], wanted: list[int]):
        """Yield ``(b, batch)`` for the batch numbers in ``wanted`` only: a rank or a resumed run
        never decodes images it has nothing to do for."""
        bs = self.suite.data.batch_size
        wanted = sorted(wanted)
        # every batch but the last is full, so the wanted batches' samples re-batch exactly
        flat = [i for b in wanted for i in idx[b * bs:(b + 1) * bs]]
        loader = DataLoader(Subset(ds.dataset, flat), batch_size=bs, shuffle=False,
                            num_workers=self.suite.data.num_workers)
        yield from zip(wanted, loader)

    def references(self) -> torch.Tensor | None:
        """Reference inputs for methods that take them (expected_gradients), loaded once."""
        if not any("references" in _params(METHODS.get(me.name).fn) for me in self.suite.methods):
            return None
        spec = self.suite.data
        ref = create_data(spec.name, spec.references, root=spec.root, **spec.params)
        gen = torch.Generator().manual_seed(stable_seed(self.suite.seed, "references"))
        idx = torch.randperm(len(ref), generator=gen)[: spec.n_references].tolist()
        x = torch.stack([torch.as_tensor(ref.dataset[i][0]) for i in idx])
        return x.to(self.device, self.dtype)

    # ---- planning -----------------------------------------------------------------------------------
    def cell_done(self, unit: Unit, cell: Cell, b: int) -> bool:
        """Whether a cell's part exists, verifies and was computed with this suite's settings.

        A part that does not verify is deleted and recomputed (said so in one line); a part from other
        settings stops the run (resume would mix them), naming the field that changed."""
        if not self.resume:
            return False  # a fresh start recomputes everything (old parts were deleted by the run directory)
        if cell.kind is CellKind.PREVIEW:
            return self.preview_path(unit.model.label, unit.label).exists()
        path = self.part_path(unit.model.label, unit.label, cell.label, b)
        if not path.exists():
            return False
        problem, changed = self.dir.part_problem(path, cell_settings(self.suite, unit, cell))
        if changed:
            raise XBenchError(f"--resume: {path.relative_to(self.out)} was computed with other settings "
                              f"({'; '.join(changed[:3])}); rerun without --resume to start over, or use --out")
        if problem:
            note(f"{path.relative_to(self.out)}: {problem}; recomputing it")
            path.unlink(missing_ok=True)
            return False
        return True

    def plan(self, my_batches: list[int]) -> list[tuple[ModelSpec, list[Unit], dict[tuple[int, str], list[Cell]]]]:
        """Per model: its units and, per (batch, method label), the cells still to compute."""
        work = []
        for model in self.suite.models:
            model_units = self.units(model)
            todo: dict[tuple[int, str], list[Cell]] = {}
            for b in my_batches:
                for u in model_units:
                    cells = list(u.cells) + ([Cell(CellKind.PREVIEW, PREVIEW)] if b == 0 and u.method else [])
                    missing = [c for c in cells if not self.cell_done(u, c, b)]
                    if missing:
                        todo[(b, u.label)] = missing
            work.append((model, model_units, todo))
        return work

    # ---- main loop ----------------------------------------------------------------------------------
    def execute(self) -> None:
        from tqdm.auto import tqdm

        ds, idx = self.load_data()
        self.n_evaluated = len(idx)
        my_batches = rank_batches(len(idx), self.suite.data.batch_size, self.rank, self.world)
        work = self.plan(my_batches)
        total = sum(len(u.cells) * len(my_batches) + (u.method is not None and 0 in my_batches)
                    for _, model_units, _ in work for u in model_units)
        left = sum(len(cells) for _, _, todo in work for cells in todo.values())
        # one tick per cell (a part file), and a refreshed chunk counter inside a cell
        self.bar = bar = tqdm(total=total, initial=total - left, desc=self.suite.name, disable=not self.progress,
                              unit="cell", dynamic_ncols=True)
        refs = None
        try:
            with batching.on_chunk(self._chunk_tick), precision.using(self.speed):  # speed
                for model_spec, model_units, todo in work:
                    if not todo:
                        continue
                    bar.set_description(f"{self.suite.name} | loading {model_spec.label}")
                    model = create_model(model_spec.name, x=model_spec.x, weights=model_spec.weights,
                                         num_classes=model_spec.num_classes, device=self.device,
                                         progress=self.progress, **model_spec.params).to(self.device, self.dtype)
                    bind_input_normalisation(model, ds.info)  # a user model declaring its own mean/std
                    model.eval()
                    for p in model.parameters():
                        p.requires_grad_(False)  # attributions need input gradients only
                    self.homogeneous[model_spec.label] = is_homogeneous(model)
                    model = precision.prepare_model(model, self.speed)  # speed: channels_last, compile
                    if refs is None and any(me != MODEL_ONLY for (_, me) in todo):
                        refs = self.references()
                    for b, batch in self.batches(ds, idx, sorted({bb for (bb, _) in todo})):
                        x = precision.prepare_inputs(batch[0].to(self.device, self.dtype), self.speed)  # speed
                        y = batch[1].to(self.device)
                        masks = batch[2].to(self.device) if len(batch) > 2 else None
                        with torch.no_grad():
                            target = model(x).argmax(1) if self.suite.data.target == "predicted" else y
                        bs = self.suite.data.batch_size
                        sample_ids = idx[b * bs: b * bs + len(x)]
                        for unit in model_units:
                            missing = todo.get((b, unit.label))
                            if missing:
                                bar.set_description(f"{self.suite.name} | {model_spec.label} | {unit.label} | "
                                                    f"batch {b}")
                                self.run_unit(model, unit, missing, b, x, y, masks, target, sample_ids, ds.info,
                                              refs)
                    del model
        finally:
            bar.close()  # before any error is printed: an error never shares the bar's line
            self.bar = None

    _last_tick = 0.0

    def _chunk_tick(self, done: int, total: int) -> None:
        bar = self.bar
        if bar is None or bar.disable:
            return
        t = time.monotonic()
        if t - self._last_tick > 0.2 or done == total:  # at most 5 redraws a second
            self._last_tick = t
            bar.set_postfix_str(f"chunk {done}/{total} items", refresh=True)

    def run_unit(self, model, unit: Unit, cells: list[Cell], b: int, x, y, masks, target, sample_ids, data_info,
                 refs) -> None:
        """Attribute one batch with the unit's method and compute its missing cells (one part file each)."""
        suite = self.suite
        model_spec, method, me_label = unit.model, unit.method, unit.label
        context = {"data_info": data_info, "references": refs}
        attr_seconds = 0.0
        info: dict[str, Any] = {}
        attr_chunk = len(x)
        if method is not None:
            torch.manual_seed(stable_seed(suite.seed, model_spec.label, me_label, b))
            with batching.record() as events:
                t0 = time.perf_counter()
                attr, info = precision.guarded(  # speed: autocast with the float32 check on the first batch
                    lambda: attribute(model, x, target, method.name, return_info=True, **method.params,
                                      **_accepted(METHODS.get(method.name).fn, context)),
                    self.speed, self.device, seed=stable_seed(suite.seed, model_spec.label, me_label, b),
                    key=f"{model_spec.label}/{me_label}", errors=self.amp_errors)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                attr_seconds = time.perf_counter() - t0
            if events:
                attr_chunk = min(e.chunk_size for e in events)
            # settings decided at run time (e.g. Grad-CAM's default layer) are recorded with the rows
            decided = {k: v for k, v in (info.pop("params", None) or {}).items() if method.params.get(k) != v}
            # where the method's path starts (declared at register): what completeness compares F(x) with
            baseline = path_start(method.name, method.params, x, data_info)

            def recompute(inp: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
                return attribute(model, inp, tgt, method.name, **method.params,
                                 **_accepted(METHODS.get(method.name).fn, context))
        else:
            attr = torch.zeros_like(x)
            baseline = torch.zeros_like(x)
            recompute = None  # type: ignore[assignment]
            decided = {}
        key = f"{model_spec.label}/{me_label}"
        self.cell_seconds[f"{key}/attribution"] = self.cell_seconds.get(f"{key}/attribution", 0.0) + attr_seconds
        ctx = CellContext(model=model, inputs=x, target=target, attributions=attr,
                          method=method.name if method else MODEL_ONLY,
                          method_params=dict(method.params) if method else {}, attribute=recompute,
                          baseline=baseline, labels=y, masks=masks, method_info=info, data_info=data_info,
                          references=refs, seed=suite.seed, batch=b)
        common = {"suite": suite.name, "model": model_spec.label, "method": me_label, "target": suite.data.target,
                  "device": str(self.device), "dtype": suite.dtype, "batch_size": suite.data.batch_size,
                  "batch": b, "seed": suite.seed,
                  "model_params": to_json({"name": model_spec.name, "x": model_spec.x, "weights": model_spec.weights,
                                           "num_classes": model_spec.num_classes, **model_spec.params,
                                           "homogeneous": self.homogeneous.get(model_spec.label),
                                           **({"speed": self.speed.recorded()} if self.speed.active else {})}),
                  "method_params": to_json({"name": method.name, **method.params, **decided,
                                            **_amp_error(self.amp_errors, key)} if method else {})}  # speed
        for cell in cells:
            if cell.kind is CellKind.PREVIEW:
                self.write_preview(model_spec.label, me_label, x, attr)
            elif cell.kind is CellKind.INFO:
                from .metrics import MetricOutput

                out = MetricOutput(values={k: v for k, v in info.items()
                                           if isinstance(v, torch.Tensor) and v.shape == (len(x),)})
                rows = output_rows(out, {**common, "metric": INFO, "metric_params": "{}", "chunk_size": attr_chunk},
                                   sample_ids)
                self._write_part(rows, unit, cell, b)
            else:
                spec = cell.metric
                torch.manual_seed(stable_seed(suite.seed, model_spec.label, me_label, cell.label, b))
                with batching.record() as events:
                    t0 = time.perf_counter()
                    with precision.autocast(self.speed, self.device):  # speed
                        out = METRICS.get(spec.name).fn(ctx, **spec.params)
                    seconds = time.perf_counter() - t0
                ckey = f"{key}/{cell.label}"
                self.cell_seconds[ckey] = self.cell_seconds.get(ckey, 0.0) + seconds
                chunk = min((e.chunk_size for e in events), default=len(x))
                params = {"name": spec.name, **spec.params, **out.settings}
                rows = output_rows(out, {**common, "metric": cell.label, "metric_params": to_json(params),
                                         "chunk_size": chunk}, sample_ids)
                self._write_part(rows, unit, cell, b)
            if self.bar is not None:
                self.bar.update(1)

    def _write_part(self, rows: pd.DataFrame, unit: Unit, cell: Cell, b: int) -> None:
        path = self.part_path(unit.model.label, unit.label, cell.label, b)
        self.dir.write_part(path, rows, cell_settings(self.suite, unit, cell))
        self.written.append(path)

    def write_preview(self, model: str, method: str, x: torch.Tensor, attr: torch.Tensor) -> None:
        """Keep a few channel-summed attribution maps (and the inputs) for the heatmap grid."""
        k = int(self.suite.report.get("heatmap_samples", 4))
        path = self.preview_path(model, method)
        maps = attr[:k].detach().float()
        maps = maps.sum(1) if maps.dim() == 4 else maps
        # clone: saving a view would write the whole batch's storage
        self.dir.write_torch(path, {"inputs": x[:k].detach().float().cpu().clone(), "attributions": maps.cpu().clone()})
        self.written.append(path)

    def gather(self) -> None:
        """Send every file this rank wrote to rank 0, which writes those it lacks (no shared disk needed)."""
        for path, blob in gather_files(self.out, self.written, self.rank, self.world):
            if path.exists():
                self.dir.record([path])  # a shared disk: the other rank wrote it here already
            else:
                self.dir.write_bytes(path, blob)

    # ---- finish -------------------------------------------------------------------------------------
    def merge(self) -> pd.DataFrame:
        """Concatenate every verified part in suite order into ``results.csv`` (atomic); a missing part stops
        the merge (never a silently shorter result)."""
        n_batches = -(-self.n_evaluated // self.suite.data.batch_size)
        paths = [self.part_path(model.label, u.label, c.label, b) for model in self.suite.models
                 for u in self.units(model) for c in u.cells for b in range(n_batches)]
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise XBenchError(f"{len(missing)} of {len(paths)} parts are missing (first: "
                              f"{missing[0].relative_to(self.out)}); rerun with --resume to compute them")
        if self.progress:
            note(f"merging {len(paths)} parts into {self.out / 'results.csv'}")
        frames = [self.dir.read_part(p) for p in paths]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
        self.dir.write_csv(self.out / "results.csv", df)
        return df


def _amp_error(errors: dict[str, dict[str, float]], key: str) -> dict[str, float]:
    """speed: the autocast errors measured for ``key`` (model/method), for method_params."""
    return {k: round(v, 6) for k, v in errors.get(key, {}).items()}


def _params(fn) -> set[str]:
    import inspect

    return set(inspect.signature(fn).parameters)


def _accepted(fn, context: dict[str, Any]) -> dict[str, Any]:
    names = _params(fn)
    return {k: v for k, v in context.items() if k in names and v is not None}


def run_suite(suite: Suite, out_dir: str | Path | None = None, *, resume: bool = False, progress: bool = True,
              report: bool = True, echo=print) -> Path:
    """Run ``suite`` into ``out_dir`` (default ``runs/<suite name>``) and write the report.

    Returns the run directory.  With ``resume`` finished units are skipped.
    """
    preflight(suite)
    out = Path(out_dir) if out_dir is not None else DEFAULT_OUT / suite.name
    check_out_path(out)  # before any work: the current folder, a file, a read-only place
    run = Run(suite, out, resume, progress and dist_info()[0] == 0)
    started = time.perf_counter()
    try:
        with process_group(run.world, run.device):
            torch.manual_seed(suite.seed)
            np.random.seed(suite.seed % 2**32)
            run.prepare()
            run.execute()
            # per-rank cell times travel to rank 0 with the parts
            times = out / "parts" / f"times.rank{run.rank}.json"
            run.dir.write_json(times, run.cell_seconds)
            run.written.append(times)
            run.gather()
            barrier(run.world)
        if run.rank != 0:
            return out
        df = run.merge()
        run.dir.write_json(out / "manifest.json", _manifest(run, time.perf_counter() - started, len(df)))
        if report:
            from .report import make_report

            if run.progress:
                note(f"writing the report (summary, tables, plots) in {out}")
            before = run.dir.snapshot()
            summary = make_report(out)
            run.dir.track_new_files(before)
            if echo is not None and summary is not None:
                echo(summary)
        run.dir.finish()  # the `complete` marker, last of all
    finally:
        run.dir.unlock()
    return out


def _manifest(run: Run, wall: float, n_rows: int) -> dict[str, Any]:
    import json

    times: dict[str, float] = {}
    for f in sorted((run.out / "parts").glob("times.rank*.json")):
        for k, v in json.loads(f.read_text()).items():
            times[k] = times.get(k, 0.0) + v
    stamp = run.dir.stamp
    return {
        "suite": run.suite.to_dict(), "suite_hash": stamp.get("settings_hash"), "seed": run.suite.seed,
        "versions": versions(), "device": str(run.device), "device_name": device_name(run.device),
        "world_size": run.world, "git_commit": git_commit(), "command": " ".join(sys.argv),
        "started": stamp.get("started"), "finished": now(),
        "wall_seconds_this_invocation": round(wall, 3),
        "resumed": run.resume or stamp.get("invocations", 1) > 1,
        "invocations": stamp.get("invocations", 1),  # counted when each invocation starts, killed ones too
        "cell_seconds_this_invocation": {k: round(v, 4) for k, v in times.items()},
        "skipped_pairs": run.suite.skipped, "rows": n_rows, "plugins": plugins_loaded(),
        "speed": run.speed.recorded(), "autocast_errors": run.amp_errors,  # speed
    }
