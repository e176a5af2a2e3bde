"""Run a suite: expand it into (model, batch, method, metric) units, skip finished ones, write parts.

Loop order is model -> batch -> method -> metric: each batch is loaded once per model, each
method's attributions are computed once per batch and fed to every metric, and a unit's part
file is written atomically as soon as it is done, so a killed run resumes where it stopped.
Under ``torchrun`` every rank takes the batches ``b % world_size == rank``; rank 0 merges.

The output folder (ownership, lock, stamp, verified parts, completion) is :mod:`xbench.rundir`'s,
the plan :mod:`xbench.plan`'s, the samples and batches :mod:`xbench.sampling`'s, what a unit computes
:mod:`xbench.executor`'s, the ranks :mod:`xbench.distributed`'s; this module orchestrates.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import allocator, batching, precision
from .distributed import barrier, dist_info, gather_files, process_group
from .errors import XBenchError
from .executor import Batch, Executor, part_path, preview_path
from .models import create as create_model
from .models import is_homogeneous
from .models.user import bind_input_normalisation
from .plan import INFO, MODEL_ONLY, PREVIEW, Cell, CellKind, Unit, cell_settings, rank_batches, units
from .plugins import loaded as plugins_loaded
from .preflight import preflight
from .provenance import device_name, git_commit, now, stable_seed, versions
from .results import COLUMNS
from .rundir import RunDir, check_out_path
from .sampling import batches, load_data, references
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
        self.allocator = allocator.tune_for(self.device)  # CPU: keep freed activation blocks (no page faults)
        self.dtype = getattr(torch, suite.dtype)
        self.speed = precision.Speed.from_dict(suite.speed)  # speed: issue 16's options
        self.executor = Executor(suite, self.dir, self.device, self.speed)
        self.bar = None
        self.n_evaluated = min(suite.data.n_samples, 10**12)  # set from the data by execute()

    # ---- setup --------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Rank 0 claims, locks and stamps the folder (refusing a changed suite on resume); all ranks wait."""
        if self.rank == 0:
            self.dir.open(self.suite.to_dict(), self.resume)
        barrier(self.world)

    # ---- planning -----------------------------------------------------------------------------------
    def cell_done(self, unit: Unit, cell: Cell, b: int) -> bool:
        """Whether a cell's part exists, verifies and was computed with this suite's settings.

        A part that does not verify is deleted and recomputed (said so in one line); a part from other
        settings stops the run (resume would mix them), naming the field that changed."""
        if not self.resume:
            return False  # a fresh start recomputes everything (old parts were deleted by the run directory)
        if cell.kind is CellKind.PREVIEW:
            return preview_path(self.out, unit.model.label, unit.label).exists()
        path = part_path(self.out, unit.model.label, unit.label, cell.label, b)
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
            model_units = units(self.suite, model)
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
    def load_model(self, spec: ModelSpec, data_info: dict):
        """The model on the run's device and dtype, in eval mode, parameters frozen."""
        model = create_model(spec.name, x=spec.x, weights=spec.weights, num_classes=spec.num_classes,
                             device=self.device, progress=self.progress, **spec.params).to(self.device, self.dtype)
        bind_input_normalisation(model, data_info)  # a user model declaring its own mean/std
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)  # attributions need input gradients only
        self.executor.homogeneous[spec.label] = is_homogeneous(model)
        return precision.prepare_model(model, self.speed)  # speed: channels_last, compile

    def execute(self) -> None:
        from tqdm.auto import tqdm

        ds, idx = load_data(self.suite)
        self.n_evaluated = len(idx)
        bs = self.suite.data.batch_size
        my_batches = rank_batches(len(idx), bs, self.rank, self.world)
        work = self.plan(my_batches)
        total = sum(len(u.cells) * len(my_batches) + (u.method is not None and 0 in my_batches)
                    for _, model_units, _ in work for u in model_units)
        left = sum(len(cells) for _, _, todo in work for cells in todo.values())
        # one tick per cell (a part file), and a refreshed chunk counter inside a cell
        self.bar = bar = tqdm(total=total, initial=total - left, desc=self.suite.name, disable=not self.progress,
                              unit="cell", dynamic_ncols=True)
        self.executor.tick = lambda: bar.update(1)
        refs = None
        try:
            with batching.on_chunk(self._chunk_tick), precision.using(self.speed):  # speed
                for model_spec, model_units, todo in work:
                    if not todo:
                        continue
                    bar.set_description(f"{self.suite.name} | loading {model_spec.label}")
                    model = self.load_model(model_spec, ds.info)
                    if refs is None and any(me != MODEL_ONLY for (_, me) in todo):
                        refs = references(self.suite, self.device, self.dtype)
                    for b, data in batches(self.suite, ds, idx, sorted({bb for (bb, _) in todo})):
                        x = precision.prepare_inputs(data[0].to(self.device, self.dtype), self.speed)  # speed
                        with torch.no_grad():
                            target = model(x).argmax(1) if self.suite.data.target == "predicted" else None
                        y = data[1].to(self.device)
                        batch = Batch(b, x, y, data[2].to(self.device) if len(data) > 2 else None,
                                      y if target is None else target, idx[b * bs: b * bs + len(x)], ds.info, refs)
                        for unit in model_units:
                            missing = todo.get((b, unit.label))
                            if missing:
                                bar.set_description(f"{self.suite.name} | {model_spec.label} | {unit.label} | "
                                                    f"batch {b}")
                                self.executor.run_unit(model, unit, missing, batch)
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

    def gather(self) -> None:
        """Send every file this rank wrote to rank 0, which writes those it lacks (no shared disk needed)."""
        for path, blob in gather_files(self.out, self.executor.written, self.rank, self.world):
            if path.exists():
                self.dir.record([path])  # a shared disk: the other rank wrote it here already
            else:
                self.dir.write_bytes(path, blob)

    # ---- finish -------------------------------------------------------------------------------------
    def merge(self) -> pd.DataFrame:
        """Concatenate every verified part in suite order into ``results.csv`` (atomic); a missing part stops
        the merge (never a silently shorter result)."""
        n_batches = -(-self.n_evaluated // self.suite.data.batch_size)
        paths = [part_path(self.out, model.label, u.label, c.label, b) for model in self.suite.models
                 for u in units(self.suite, model) for c in u.cells for b in range(n_batches)]
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
            run.dir.write_json(times, run.executor.cell_seconds)
            run.executor.written.append(times)
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
        "speed": run.speed.recorded(), "autocast_errors": run.executor.amp_errors,  # speed
        "cpu_allocator": run.allocator,
    }
