"""Run a suite: expand it into (model, batch, method, metric) units, skip finished ones, write parts.

Loop order is model -> batch -> method -> metric: each batch is loaded once per model, each
method's attributions are computed once per batch and fed to every metric, and a unit's part
file is written atomically as soon as it is done, so a killed run resumes where it stopped.
Under ``torchrun`` every rank takes the batches ``b % world_size == rank``; rank 0 merges.

The output folder (ownership, lock, stamp, resume check, merge, completion) is :mod:`xbench.rundir`'s,
the manifest :mod:`xbench.manifest`'s, the plan (units, cells, part layout) :mod:`xbench.plan`'s, the
samples and batches :mod:`xbench.sampling`'s, what a unit computes :mod:`xbench.executor`'s, the ranks
:mod:`xbench.distributed`'s; this module orchestrates.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import allocator, batching, precision
from .distributed import barrier, dist_info, gather_files, process_group, resolve_device
from .errors import XBenchError
from .executor import Executor
from .manifest import add_weight_records, cell_seconds, model_files, weight_files, write_manifest
from .methods import release_caches
from .plan import (
    INFO,
    MODEL_ONLY,
    Cell,
    CellKind,
    Unit,
    all_parts,
    cell_settings,
    part_path,
    preview_path,
    rank_batches,
    todo,
)
from .plugins import loaded as plugins_loaded
from .preflight import preflight
from .provenance import device_name, stable_seed, versions
from .results import COLUMNS
from .rundir import DEFAULT_OUT, RunDir, check_out_path, note
from .sampling import batches, load_data, references
from .suite import Suite

__all__ = ["INFO", "MODEL_ONLY", "Run", "device_name", "dist_info", "preflight", "resolve_device", "run_suite",
           "stable_seed", "versions"]

class Run:
    """One execution of a suite into a run directory (see :func:`run_suite`)."""

    def __init__(self, suite: Suite, out_dir: Path, resume: bool, progress: bool):
        self.suite, self.out, self.resume, self.progress = suite, Path(out_dir), resume, progress
        self.dir = RunDir(self.out)
        self.rank, self.world, self.local_rank = dist_info()
        self.device = resolve_device(suite.device, self.local_rank)
        self.allocator = allocator.tune_for(self.device)  # CPU: keep freed activation blocks (no page faults)
        self.speed = precision.Speed.from_dict(suite.speed)  # the opt-in speed options (xbench.precision)
        self.executor = Executor(suite, self.dir, self.device, self.speed)
        self.bar = None
        self.n_evaluated = min(suite.data.n_samples, 10**12)  # set from the data by execute()
        self.items: dict[str, list[dict]] = {}  # model label -> the dataset's named items as that model got them

    def cell_done(self, unit: Unit, cell: Cell, b: int) -> bool:
        """Whether a cell is finished with this suite's settings (the run directory's resume check)."""
        if cell.kind is CellKind.PREVIEW:
            return self.resume and preview_path(self.out, unit.model.label, unit.label).exists()
        return self.dir.part_done(part_path(self.out, unit.model.label, unit.label, cell.label, b),
                                  cell_settings(self.suite, unit, cell), self.resume)

    def execute(self) -> None:
        """Compute this rank's missing cells: model -> batch -> unit, one model in memory at a time."""
        from tqdm.auto import tqdm

        ds, idx = load_data(self.suite)
        # each model receives the data as it declares (a dataset served per model: its size and normalisation)
        data = {m.label: ds if i == 0 else load_data(self.suite, m)[0] for i, m in enumerate(self.suite.models)}
        self.items = {label: d.info["items"] for label, d in data.items() if "items" in d.info}
        self.n_evaluated = len(idx)
        bs = self.suite.data.batch_size
        work, total = todo(self.suite, rank_batches(len(idx), bs, self.rank, self.world), self.cell_done)
        left = sum(len(cells) for _, _, missing in work for cells in missing.values())
        # one tick per cell (a part file), and a refreshed chunk counter inside a cell
        self.bar = bar = tqdm(total=total, initial=total - left, desc=self.suite.name, disable=not self.progress,
                              unit="cell", dynamic_ncols=True)
        self.executor.tick = lambda: bar.update(1)
        try:
            with batching.on_chunk(self._chunk_tick), precision.using(self.speed):  # speed
                for model_spec, model_units, missing in work:
                    if not missing:
                        continue
                    mds = data[model_spec.label]
                    bar.set_description(f"{self.suite.name} | loading {model_spec.label}")
                    model = self.executor.load_model(model_spec, mds.info, self.progress)
                    self.save_weight_records()
                    refs = None
                    if any(me != MODEL_ONLY for (_, me) in missing):
                        refs = references(self.suite, self.device, self.executor.dtype, model_spec)
                    for b, batch_data in batches(self.suite, mds, idx, sorted({bb for (bb, _) in missing})):
                        batch = self.executor.make_batch(model, b, batch_data, idx[b * bs: (b + 1) * bs], mds.info,
                                                         refs)
                        for unit in model_units:
                            if (b, unit.label) in missing:
                                bar.set_description(f"{self.suite.name} | {model_spec.label} | {unit.label} | "
                                                    f"batch {b}")
                                self.executor.run_unit(model, unit, missing[(b, unit.label)], batch)
                    del model
                    release_caches()
        finally:
            bar.close()  # before any error is printed: an error never shares the bar's line
            self.bar = None

    def save_weight_records(self) -> None:
        """Write the weight files of the models loaded so far to ``parts/weights.rank<r>.json`` (kept over
        invocations: a resumed run that loads no model still reports the files its rows came from)."""
        path = self.out / "parts" / f"weights.rank{self.rank}.json"
        records = weight_files(path.parent, path.name)
        for label, entries in self.executor.weights.items():
            before = {e["file"]: e["sha256"] for e in records.get(label, [])}
            changed = [e for e in entries if before.get(e["file"], e["sha256"]) != e["sha256"]]
            if changed:  # finished parts were computed with other weights: mixing them is a silent wrong answer
                e = changed[0]
                raise XBenchError(f"models ({label}): the weights file '{e['file']}' changed since this run folder "
                                  f"was started (SHA-256 {before[e['file']][:12]}... now {e['sha256'][:12]}...); its "
                                  "finished parts used the old weights: start over in a new or emptied --out folder")
        add_weight_records(records, self.executor.weights)
        self.dir.write_json(path, records)
        if path not in self.executor.written:
            self.executor.written.append(path)

    _last_tick = 0.0

    def _chunk_tick(self, done: int, total: int) -> None:
        if self.bar is None or self.bar.disable:
            return
        t = time.monotonic()
        if t - self._last_tick > 0.2 or done == total:  # at most 5 redraws a second
            self._last_tick = t
            self.bar.set_postfix_str(f"chunk {done}/{total} items", refresh=True)

    def gather(self) -> None:
        """Send every file this rank wrote to rank 0, which writes those it lacks (no shared disk needed)."""
        for path, blob in gather_files(self.out, self.executor.written, self.rank, self.world):
            if path.exists():
                self.dir.record([path])  # a shared disk: the other rank wrote it here already
            else:
                self.dir.write_bytes(path, blob)

    def merge(self) -> pd.DataFrame:
        """Every verified part in suite order, concatenated into ``results.csv`` (see :meth:`RunDir.merge`)."""
        n_batches = -(-self.n_evaluated // self.suite.data.batch_size)
        return self.dir.merge(all_parts(self.suite, self.out, n_batches), columns=COLUMNS, progress=self.progress)


def run_suite(suite: Suite, out_dir: str | Path | None = None, *, resume: bool = False, progress: bool = True,
              report: bool = True, echo=print) -> Path:
    """Run ``suite`` into ``out_dir`` (default ``runs/<suite name>``) and write the report.

    Returns the run directory.  With ``resume`` finished units of an earlier run of the same settings in
    ``out_dir`` are kept (said in one line; a changed setting is refused naming the field); without it the
    folder starts over.  ``xbench run`` resumes by default (``--fresh`` starts over).
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
            if run.rank == 0:  # claim, lock and stamp the folder (refusing a changed suite on resume)
                run.dir.open(suite.to_dict(), resume)
            barrier(run.world)
            run.execute()
            times = out / "parts" / f"times.rank{run.rank}.json"  # cell times travel to rank 0 with the parts
            run.dir.write_json(times, run.executor.cell_seconds)
            run.executor.written.append(times)
            run.gather()
            barrier(run.world)
        if run.rank != 0:
            return out
        df = run.merge()
        write_manifest(run.dir, suite.to_dict(), time.perf_counter() - started, seed=suite.seed,
                       device=str(run.device), device_name=device_name(run.device), world_size=run.world,
                       command=" ".join(sys.argv), resumed=resume or run.dir.stamp.get("invocations", 1) > 1,
                       cell_seconds_this_invocation=cell_seconds(out / "parts"), skipped_pairs=suite.skipped,
                       rows=len(df), plugins=plugins_loaded(), model_files=model_files(suite.models),
                       speed=run.speed.recorded(),
                       autocast_errors=run.executor.amp_errors, cpu_allocator=run.allocator,  # speed
                       weights=weight_files(out / "parts"),
                       **({"data_items": run.items} if run.items else {}))
        if report:
            from .report import make_report

            if run.progress:
                note(f"writing the report (summary, tables, plots) in {out}")
            summary = run.dir.journaled(lambda: make_report(out))
            if echo is not None and summary is not None:
                echo(summary)
        run.dir.finish()  # the `complete` marker, last of all
    finally:
        run.dir.unlock()
    return out
