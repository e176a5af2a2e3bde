"""Run a suite: expand it into (model, batch, method, metric) units, skip finished ones, write parts.

Loop order is model -> batch -> method -> metric: each batch is loaded once per model, each
method's attributions are computed once per batch and fed to every metric, and a unit's part
file is written atomically as soon as it is done, so a killed run resumes where it stopped.
Under ``torchrun`` every rank takes the batches ``b % world_size == rank``; rank 0 merges.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Subset

from . import __version__, batching
from .data import create as create_data
from .errors import XBenchError
from .methods import METHODS, attribute, path_start
from .metrics import METRICS, CellContext
from .models import create as create_model
from .models import is_homogeneous
from .results import COLUMNS, atomic_write_csv, output_rows, safe_name, to_json, write_json
from .suite import ModelSpec, Suite

MODEL_ONLY = "-"  # the method label of metrics that evaluate the model itself (accuracy, contrast)
INFO = "_info"  # the pseudo-metric that stores a method's per-sample diagnostics (alpha_star, delta, ...)
REPORT_FILES = ("results.csv", "summary.csv", "summary.md", "index.md")
REPORT_DIRS = ("parts", "plots", "tables", "previews")


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local rank>`` when CUDA is available, else ``cpu``; other specs as given."""
    if spec == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise XBenchError(f"device: '{spec}' was asked for but CUDA is not available here; use device: auto or cpu")
    return torch.device(spec)


def stable_seed(*parts: Any) -> int:
    """A 31-bit seed from any values, the same in every process (unlike ``hash``)."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except Exception:  # noqa: BLE001 - no git, no commit: the manifest says null
        return None


def versions() -> dict[str, str]:
    """Versions of Python and the packages whose behaviour a result depends on."""
    out = {"python": platform.python_version(), "xbench": __version__, "torch": torch.__version__}
    for mod in ("torchvision", "captum", "numpy", "pandas"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            out[mod] = "missing"
    return out


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return (f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads)")


def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torch.distributed or torchrun's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


class Run:
    """One execution of a suite into a run directory (see :func:`run_suite`)."""

    def __init__(self, suite: Suite, out_dir: Path, resume: bool, progress: bool):
        self.suite = suite
        self.out = Path(out_dir)
        self.resume = resume
        self.progress = progress
        self.rank, self.world, self.local_rank = dist_info()
        self.device = resolve_device(suite.device, self.local_rank)
        self.dtype = getattr(torch, suite.dtype)
        self.cell_seconds: dict[str, float] = {}
        self.homogeneous: dict[str, bool] = {}
        self.written: list[Path] = []  # files this rank wrote in this invocation (gathered by rank 0)

    # ---- layout -------------------------------------------------------------------------------------
    def part_path(self, model: str, method: str, metric: str, batch: int) -> Path:
        return self.out / "parts" / safe_name(model) / safe_name(method) / safe_name(metric) / f"b{batch:05d}.csv"

    def preview_path(self, model: str, method: str) -> Path:
        return self.out / "previews" / safe_name(model) / f"{safe_name(method)}.pt"

    def units(self, model: ModelSpec) -> list[tuple[str, list[str]]]:
        """(method label, metric labels) for one model in suite order, model-only metrics first."""
        out = []
        model_only = [m.label for m in self.suite.metrics if not METRICS.get(m.name).meta.get("needs_attributions",
                                                                                              True)]
        if model_only:
            out.append((MODEL_ONLY, model_only))
        attr_metrics = [m.label for m in self.suite.metrics if m.label not in model_only]
        for mo, me in self.suite.pairs():
            if mo.label == model.label:
                out.append((me.label, attr_metrics + [INFO]))
        return out

    # ---- setup --------------------------------------------------------------------------------------
    def prepare(self) -> None:
        suite_hash = hashlib.sha256(to_json(self.suite.to_dict()).encode()).hexdigest()[:16]
        stamp = self.out / "run.json"
        if self.rank == 0:
            if self.resume and stamp.exists():
                old = pd.read_json(stamp, typ="series")
                if old.get("suite_hash") != suite_hash:
                    raise XBenchError(
                        f"--resume: the suite differs from the one that started the run in '{self.out}' "
                        "(changed settings would mix results); rerun without --resume to start over, or use --out"
                    )
            elif not self.resume:
                for name in REPORT_FILES:
                    (self.out / name).unlink(missing_ok=True)
                for name in REPORT_DIRS:
                    shutil.rmtree(self.out / name, ignore_errors=True)
            self.out.mkdir(parents=True, exist_ok=True)
            if not (self.resume and stamp.exists()):
                write_json(stamp, {"suite_hash": suite_hash, "started": _now()})
        self.suite_hash = suite_hash
        self._barrier()

    def _barrier(self) -> None:
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.barrier()

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

    # ---- main loop ----------------------------------------------------------------------------------
    def execute(self) -> None:
        from tqdm.auto import tqdm

        ds, idx = self.load_data()
        n_batches = -(-len(idx) // self.suite.data.batch_size)
        my_batches = [b for b in range(n_batches) if b % self.world == self.rank]
        refs = None
        work = []
        for model in self.suite.models:
            units = self.units(model)
            todo = {(b, me): [mt for mt in mets if not self.part_path(model.label, me, mt, b).exists()]
                    for b in my_batches for me, mets in units}
            for (b, me), missing in todo.items():
                if b == 0 and me != MODEL_ONLY and not self.preview_path(model.label, me).exists():
                    missing.append("_preview")
            work.append((model, units, {k: v for k, v in todo.items() if v}))
        total = sum(len(units) * len(my_batches) for _, units, _ in work)
        done = sum(len(units) * len(my_batches) - len(todo) for _, units, todo in work)
        bar = tqdm(total=total, initial=done, desc=self.suite.name, disable=not self.progress, unit="unit",
                   dynamic_ncols=True)
        for model_spec, units, todo in work:
            if not todo:
                continue
            bar.set_description(f"{self.suite.name} | loading {model_spec.label}")
            model = create_model(model_spec.name, x=model_spec.x, weights=model_spec.weights,
                                 num_classes=model_spec.num_classes, device=self.device, progress=self.progress,
                                 **model_spec.params).to(self.device, self.dtype).eval()
            for p in model.parameters():
                p.requires_grad_(False)  # attributions need input gradients only
            self.homogeneous[model_spec.label] = is_homogeneous(model)
            if refs is None and any(me != MODEL_ONLY for (_, me) in todo):
                refs = self.references()
            for b, batch in self.batches(ds, idx, sorted({bb for (bb, _) in todo})):
                x = batch[0].to(self.device, self.dtype)
                y = batch[1].to(self.device)
                masks = batch[2].to(self.device) if len(batch) > 2 else None
                with torch.no_grad():
                    target = model(x).argmax(1) if self.suite.data.target == "predicted" else y
                sample_ids = idx[b * self.suite.data.batch_size: b * self.suite.data.batch_size + len(x)]
                for me_label, _ in units:
                    missing = todo.get((b, me_label))
                    if not missing:
                        continue
                    bar.set_description(f"{self.suite.name} | {model_spec.label} | {me_label}")
                    self.run_unit(model, model_spec, me_label, missing, b, x, y, masks, target, sample_ids,
                                  ds.info, refs)
                    bar.update(1)
            del model
        bar.close()

    def run_unit(self, model, model_spec: ModelSpec, me_label: str, metrics: list[str], b: int, x, y, masks,
                 target, sample_ids, data_info, refs) -> None:
        suite = self.suite
        method = next((m for m in suite.methods if m.label == me_label), None)
        context = {"data_info": data_info, "references": refs}
        attr_seconds = 0.0
        info: dict[str, Any] = {}
        attr_chunk = len(x)
        if method is not None:
            torch.manual_seed(stable_seed(suite.seed, model_spec.label, me_label, b))
            with batching.record() as events:
                t0 = time.perf_counter()
                attr, info = attribute(model, x, target, method.name, return_info=True, **method.params,
                                       **_accepted(METHODS.get(method.name).fn, context))
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                attr_seconds = time.perf_counter() - t0
            if events:
                attr_chunk = min(e.chunk_size for e in events)
            info.pop("params", None)
            # where the method's path starts (declared at register): what completeness compares F(x) with
            baseline = path_start(method.name, method.params, x, data_info)

            def recompute(inp: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
                return attribute(model, inp, tgt, method.name, **method.params,
                                 **_accepted(METHODS.get(method.name).fn, context))
        else:
            attr = torch.zeros_like(x)
            baseline = torch.zeros_like(x)
            recompute = None  # type: ignore[assignment]
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
                                           "homogeneous": self.homogeneous.get(model_spec.label)}),
                  "method_params": to_json({"name": method.name, **method.params} if method else {})}
        for label in metrics:
            if label == "_preview":
                self.write_preview(model_spec.label, me_label, x, attr)
                continue
            if label == INFO:
                from .metrics import MetricOutput

                out = MetricOutput(values={k: v for k, v in info.items()
                                           if isinstance(v, torch.Tensor) and v.shape == (len(x),)})
                rows = output_rows(out, {**common, "metric": INFO, "metric_params": "{}", "chunk_size": attr_chunk},
                                   sample_ids)
                self._write_part(rows, self.part_path(model_spec.label, me_label, INFO, b))
                continue
            spec = next(m for m in suite.metrics if m.label == label)
            torch.manual_seed(stable_seed(suite.seed, model_spec.label, me_label, label, b))
            with batching.record() as events:
                t0 = time.perf_counter()
                out = METRICS.get(spec.name).fn(ctx, **spec.params)
                seconds = time.perf_counter() - t0
            ckey = f"{key}/{label}"
            self.cell_seconds[ckey] = self.cell_seconds.get(ckey, 0.0) + seconds
            chunk = min((e.chunk_size for e in events), default=len(x))
            params = {"name": spec.name, **spec.params, **out.settings}
            rows = output_rows(out, {**common, "metric": label, "metric_params": to_json(params),
                                     "chunk_size": chunk}, sample_ids)
            self._write_part(rows, self.part_path(model_spec.label, me_label, label, b))

    def _write_part(self, rows: pd.DataFrame, path: Path) -> None:
        atomic_write_csv(rows, path)
        self.written.append(path)

    def write_preview(self, model: str, method: str, x: torch.Tensor, attr: torch.Tensor) -> None:
        """Keep a few channel-summed attribution maps (and the inputs) for the heatmap grid."""
        k = int(self.suite.report.get("heatmap_samples", 4))
        path = self.preview_path(model, method)
        path.parent.mkdir(parents=True, exist_ok=True)
        maps = attr[:k].detach().float()
        maps = maps.sum(1) if maps.dim() == 4 else maps
        tmp = path.with_suffix(".tmp")
        # clone: saving a view would write the whole batch's storage
        torch.save({"inputs": x[:k].detach().float().cpu().clone(), "attributions": maps.cpu().clone()}, tmp)
        os.replace(tmp, path)
        self.written.append(path)

    def gather(self) -> None:
        """Send every file this rank wrote to rank 0, which writes those it lacks (no shared disk needed)."""
        if self.world == 1:
            return
        payload = [(str(p.relative_to(self.out)), p.read_bytes()) for p in self.written if p.exists()]
        gathered: list | None = [None] * self.world if self.rank == 0 else None
        torch.distributed.gather_object(payload, gathered, dst=0)
        if self.rank != 0:
            return
        for files in gathered or []:
            for rel, blob in files or []:
                path = self.out / rel
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_name(f".{path.name}.gather.tmp")
                    tmp.write_bytes(blob)
                    os.replace(tmp, path)

    # ---- finish -------------------------------------------------------------------------------------
    def merge(self) -> pd.DataFrame:
        """Concatenate every part in suite order into ``results.csv`` (atomic)."""
        ds_n = min(self.suite.data.n_samples, 10**12)
        n_batches = -(-ds_n // self.suite.data.batch_size)
        frames = []
        for model in self.suite.models:
            for me, mets in self.units(model):
                for mt in mets:
                    for b in range(n_batches):
                        p = self.part_path(model.label, me, mt, b)
                        if p.exists():
                            frames.append(pd.read_csv(p, keep_default_na=False,
                                                      na_values={"value": ["nan", "NaN"], "x": ["nan", "NaN"]},
                                                      dtype={"flag": str}))
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
        atomic_write_csv(df, self.out / "results.csv")
        return df


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _params(fn) -> set[str]:
    import inspect

    return set(inspect.signature(fn).parameters)


def _accepted(fn, context: dict[str, Any]) -> dict[str, Any]:
    names = _params(fn)
    return {k: v for k, v in context.items() if k in names and v is not None}


def run_suite(suite: Suite, out_dir: str | Path | None = None, *, resume: bool = False, progress: bool = True,
              report: bool = True, echo=print) -> Path:
    """Run ``suite`` into ``out_dir`` (default ``results/<suite name>``) and write the report.

    Returns the run directory.  With ``resume`` finished units are skipped.
    """
    out = Path(out_dir) if out_dir is not None else Path("results") / suite.name
    rank, world, _ = dist_info()
    run = Run(suite, out, resume, progress and rank == 0)
    started = time.perf_counter()
    own_group = False
    if run.world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if run.device.type == "cuda" else "gloo"
        if run.device.type == "cuda":
            torch.cuda.set_device(run.device)
        torch.distributed.init_process_group(backend)
        own_group = True
    try:
        preflight(suite)
        torch.manual_seed(suite.seed)
        np.random.seed(suite.seed % 2**32)
        run.prepare()
        run.execute()
        # per-rank cell times travel to rank 0 with the parts
        times = out / "parts" / f"times.rank{run.rank}.json"
        write_json(times, run.cell_seconds)
        run.written.append(times)
        run.gather()
        run._barrier()
    finally:
        if own_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    if run.rank != 0:
        return out
    df = run.merge()
    manifest = _manifest(run, out, time.perf_counter() - started, len(df))
    write_json(out / "manifest.json", manifest)
    if report:
        from .report import make_report

        summary = make_report(out)
        if echo is not None and summary is not None:
            echo(summary)
    return out


CHECKPOINT_SUFFIXES = (".pt", ".pth", ".tar", ".ckpt", ".bin")


def preflight(suite: Suite) -> None:
    """Fail fast, before any work, on a missing dataset folder or checkpoint file."""
    from .errors import DataNotFoundError

    for i, m in enumerate(suite.models):
        w = m.weights
        if isinstance(w, str) and ("/" in w or w.endswith(CHECKPOINT_SUFFIXES)) and not Path(w).expanduser().exists():
            raise DataNotFoundError(f"models[{i}].weights: checkpoint file '{w}' does not exist; give its path in the "
                                    f"suite or with --set models.{i}.weights=/path/to/checkpoint")
    spec = suite.data
    create_data(spec.name, spec.split, root=spec.root, **spec.params)  # raises DataNotFoundError with the fix


def _manifest(run: Run, out: Path, wall: float, n_rows: int) -> dict[str, Any]:
    import json

    prev = {}
    if (out / "manifest.json").exists() and run.resume:
        prev = json.loads((out / "manifest.json").read_text())
    times: dict[str, float] = {}
    for f in sorted((out / "parts").glob("times.rank*.json")):
        for k, v in json.loads(f.read_text()).items():
            times[k] = times.get(k, 0.0) + v
    stamp = json.loads((out / "run.json").read_text())
    return {
        "suite": run.suite.to_dict(), "suite_hash": run.suite_hash, "seed": run.suite.seed,
        "versions": versions(), "device": str(run.device), "device_name": device_name(run.device),
        "world_size": run.world, "git_commit": _git_commit(), "command": " ".join(sys.argv),
        "started": stamp.get("started"), "finished": _now(),
        "wall_seconds_this_invocation": round(wall, 3),
        "resumed": run.resume or bool(prev), "invocations": prev.get("invocations", 0) + 1,
        "cell_seconds_this_invocation": {k: round(v, 4) for k, v in times.items()},
        "skipped_pairs": run.suite.skipped, "rows": n_rows,
    }

