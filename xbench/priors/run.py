"""The priors pipeline (``xbench train-prior``): paper A §4.3's protocol, run as resumable parallel repetitions.

A repetition draws its own train / validation / test split, then trains every method unit at every
lambda (full batch, Adam), keeping the epoch with the best validation score (ROC-AUC for tabular
data, accuracy for images).  Its rows are written to ``parts/rep<r>.csv`` in one atomic rename
when the whole repetition is done, so an interrupted run resumes at the first missing repetition
and never writes a repetition twice.
"""

from __future__ import annotations

import copy
import io
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import XBenchError
from ..manifest import write_manifest
from ..provenance import stable_seed
from ..results import to_json
from ..rundir import DEFAULT_OUT, RunDir, check_out_path
from .attributions import PRIOR_METHODS, prior_attribution, require_bias_free
from .penalties import PENALTIES, total_variation
from .suite import MethodUnit, PriorSuite, load_prior_suite

EVAL_CHUNK = 256
"""Test samples per attribution chunk when measuring total variation (bounds EG's N*k memory)."""


# ---- data ---------------------------------------------------------------------------------------------
_POOLS: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def load_pool(data: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """All samples of a dataset, (x float32 [N, ...], y long [N]): split ``all`` if it has one, else every split.

    Cached per process: a worker loads the data once for all its repetitions.
    """
    from ..data import DATASETS
    from ..data import create as create_data

    key = to_json(data)
    if key in _POOLS:
        return _POOLS[key]
    entry = DATASETS.get(data["name"])
    spec = entry.params.get("split")
    choices = list(spec.choices) if spec is not None and spec.choices else []
    if "all" in choices or not choices:
        sets = [create_data(data["name"], "all", **data["params"])] if choices else [
            create_data(data["name"], **data["params"])]
    else:
        sets = [create_data(data["name"], s, **data["params"]) for s in choices]
    xs, ys = zip(*(ds.tensors()[:2] for ds in sets))
    pool = (torch.cat(xs).float(), torch.cat(ys).long())
    _POOLS[key] = pool
    return pool


@dataclass
class Split:
    """One repetition's tensors; ``references`` (EG's background) is the training set, as in Erion et al."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def make_split(x: torch.Tensor, y: torch.Tensor, protocol: dict[str, Any], seed: int, rep: int) -> Split:
    """Repetition ``rep``'s random split: n_train / n_val / n_test (null: the rest), standardised on train."""
    n_tr, n_va, n_te = protocol["n_train"], protocol["n_val"], protocol["n_test"]
    rest = len(x) - n_tr - n_va
    if rest < 2 or (n_te is not None and n_te > rest):
        raise XBenchError(f"protocol: n_train + n_val (+ n_test) = {n_tr + n_va + (n_te or 2)} exceeds the "
                          f"{len(x)} samples of the data")
    gen = torch.Generator().manual_seed(stable_seed(seed, "split", rep))
    perm = torch.randperm(len(x), generator=gen)
    tr, va, te = perm[:n_tr], perm[n_tr:n_tr + n_va], perm[n_tr + n_va:n_tr + n_va + (n_te or rest)]
    xs = [x[tr], x[va], x[te]]
    if protocol["standardize"]:
        # statistics of the 100 training samples only: nothing about validation or test leaks in, and
        # zero (X-Gradient's implicit baseline) is the training mean
        mean, std = xs[0].mean(0), xs[0].std(0).clamp_min(1e-6)
        xs = [(v - mean) / std for v in xs]
    return Split(xs[0], y[tr], xs[1], y[va], xs[2], y[te])


# ---- model, loss, metric --------------------------------------------------------------------------------
def single_logit(suite: PriorSuite, y: torch.Tensor) -> bool:
    """Binary tabular data train one logit with BCE, as the paper does; everything else K logits with CE."""
    return suite.kind == "tabular" and int(y.max()) <= 1


def build_model(suite: PriorSuite, bias: bool, x: torch.Tensor, num_outputs: int, seed: int) -> nn.Module:
    """A freshly initialised model from the registry (``x=True`` when bias-free), seeded with ``seed``."""
    from ..models import MODELS
    from ..models import create as create_model

    params = dict(suite.model["params"])
    accepts = MODELS.get(suite.model["name"]).params
    if "in_features" in accepts and "in_features" not in params:
        params["in_features"] = int(x[0].numel())
    if "size" in accepts and "size" not in params and x.dim() == 4:
        params["size"] = int(x.shape[-1])
    model = create_model(suite.model["name"], x=not bias, weights=None, num_classes=num_outputs, **params)
    # the factories seed their own init identically every time; re-draw it so repetitions differ
    torch.manual_seed(seed)
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return model


def task_loss(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """BCE on a single logit, cross-entropy on K logits (mean over the batch, nats)."""
    if outputs.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(outputs[:, 0], y.to(outputs.dtype))
    return F.cross_entropy(outputs, y)


def attribution_target(outputs_dim: int, y: torch.Tensor) -> torch.Tensor:
    """The output whose attribution the prior shapes: the single logit, else the true class."""
    return torch.zeros_like(y) if outputs_dim == 1 else y


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Binary ROC-AUC in [0, 1] by the rank-sum (Mann-Whitney) formula, ties counted one half; nan if one class."""
    labels = labels.bool()
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0 or not torch.isfinite(scores).all():
        return float("nan")
    _, inverse, counts = torch.unique(scores.double(), return_inverse=True, return_counts=True)
    avg_rank = counts.cumsum(0).double() - (counts.double() - 1) / 2  # 1-based mean rank of each tied group
    ranks = avg_rank[inverse]
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@torch.no_grad()
def score(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """ROC-AUC (single logit or 2 classes) or top-1 accuracy (K > 2 classes), in [0, 1]."""
    model.eval()
    out = model(x)
    if out.shape[1] == 1:
        return roc_auc(out[:, 0], y)
    if out.shape[1] == 2:
        return roc_auc(out[:, 1] - out[:, 0], y)
    return float((out.argmax(1) == y).double().mean())


def metric_name(suite: PriorSuite) -> str:
    return "roc_auc" if suite.kind == "tabular" else "accuracy"


# ---- one step, one training ------------------------------------------------------------------------------
def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               unit: MethodUnit, lam: float, penalty: Callable[[torch.Tensor], torch.Tensor],
               references: torch.Tensor, generator: torch.Generator) -> float:
    """One full-batch Adam step on task loss + lam * Omega(A); returns the loss (nats + prior units)."""
    model.train()
    opt.zero_grad(set_to_none=True)
    attribution = unit.attribution if lam > 0 else None
    # X-Gradient, gradient and RRR reuse the task loss's forward pass: the prior costs one extra
    # (double) backward, which is what paper A's timing claim is about
    share = attribution is not None and attribution != "expected_gradients"
    xin = x.detach().requires_grad_(share)
    out = model(xin)
    loss = task_loss(out, y)
    if attribution is not None:
        a = prior_attribution(attribution, model, xin, attribution_target(out.shape[1], y),
                              outputs=out if share else None, references=references, k=unit.k, generator=generator)
        loss = loss + lam * penalty(a)
    loss.backward()
    opt.step()
    return float(loss.detach())


def eval_attributions(suite: PriorSuite, unit: MethodUnit, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                      references: torch.Tensor, seed: int) -> torch.Tensor:
    """Test-set attributions used to measure smoothness (no graph), chunked; shaped like ``x``."""
    name = suite.evaluation["attribution"]
    if name == "own":
        name = unit.attribution or ("gradient" if unit.bias else "x_gradient")
    if name == "x_gradient":
        require_bias_free(model, "evaluation.attribution")
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    parts = []
    for i in range(0, len(x), EVAL_CHUNK):
        xc, yc = x[i:i + EVAL_CHUNK], y[i:i + EVAL_CHUNK]
        with torch.enable_grad():
            out_dim = model(xc[:1]).shape[1]
            a = prior_attribution(name, model, xc, attribution_target(out_dim, yc), references=references,
                                  k=suite.evaluation["k"], generator=gen, create_graph=False)
        parts.append(a.detach())
    return torch.cat(parts)


def train_one(suite: PriorSuite, unit: MethodUnit, lam: float, split: Split, rep: int) -> dict[str, Any]:
    """Train one (method, lambda) in repetition ``rep``; returns its result row (scores in [0, 1], times in s/ms)."""
    num_out = 1 if single_logit(suite, split.y_train) else int(max(split.y_train.max(), split.y_test.max())) + 1
    model = build_model(suite, unit.bias, split.x_train, num_out, stable_seed(suite.seed, "init", rep, unit.bias))
    if unit.attribution == "x_gradient":
        require_bias_free(model, unit.label)
    opt = torch.optim.Adam(model.parameters(), lr=suite.protocol["lr"])
    gen = torch.Generator().manual_seed(stable_seed(suite.seed, "draws", rep, unit.label, lam))
    penalty = PENALTIES[suite.prior]
    best_val, best_epoch, best_state = -math.inf, 0, None
    step_seconds = 0.0
    loss = float("nan")
    for epoch in range(1, suite.protocol["epochs"] + 1):
        t0 = time.perf_counter()
        loss = train_step(model, opt, split.x_train, split.y_train, unit, lam, penalty, split.x_train, gen)
        step_seconds += time.perf_counter() - t0
        val = score(model, split.x_val, split.y_val)
        if val > best_val:  # strict: the first of equally good epochs; nan never wins
            best_val, best_epoch = val, epoch
            best_state = copy.deepcopy(model.state_dict())
    row: dict[str, Any] = {
        "suite": suite.name, "rep": rep, "method": unit.label, "name": unit.name, "k": unit.k, "bias": unit.bias,
        "lambda": lam, "metric": metric_name(suite), "val": best_val if best_state is not None else float("nan"),
        "test": float("nan"), "best_epoch": best_epoch, "epochs": suite.protocol["epochs"], "final_loss": loss,
        "step_ms": 1e3 * step_seconds / suite.protocol["epochs"], "train_seconds": step_seconds,
        "n_train": len(split.x_train), "n_val": len(split.x_val), "n_test": len(split.x_test),
        "threads": torch.get_num_threads(), "seed": suite.seed,
    }
    if best_state is not None:
        model.load_state_dict(best_state)
        row["test"] = score(model, split.x_test, split.y_test)
        if suite.kind == "image":
            a = eval_attributions(suite, unit, model, split.x_test, split.y_test, split.x_train,
                                  stable_seed(suite.seed, "eval", rep, unit.label, lam))
            tv = total_variation(a)
            row["test_tv"] = float(tv.mean())
            # TV relative to the attribution's own mass, so that models whose attributions differ in scale compare
            row["test_tv_rel"] = float((tv / a.abs().flatten(1).sum(1).clamp_min(1e-12)).mean())
            row["eval_attribution"] = suite.evaluation["attribution"]
    return row


# ---- a repetition (one worker task) ---------------------------------------------------------------------
def part_path(out: Path, rep: int) -> Path:
    return out / "parts" / f"rep{rep:04d}.csv"


def run_repetition(suite: PriorSuite, rep: int, out: str | Path, threads: int | None = None) -> int:
    """Train every unit x lambda of repetition ``rep`` and write its part file atomically; returns ``rep``."""
    if threads:
        torch.set_num_threads(threads)
    x, y = load_pool(suite.data)
    split = make_split(x, y, suite.protocol, suite.seed, rep)
    rows = [train_one(suite, unit, lam, split, rep) for unit in suite.units(rep) for lam in unit.lambdas]
    RunDir(out).write_part(part_path(Path(out), rep), pd.DataFrame(rows), rep_settings(suite, rep))
    return rep


def rep_settings(suite: PriorSuite, rep: int) -> dict[str, Any]:
    """Every setting a repetition's rows depend on (stored in its part, compared on resume)."""
    return {"suite": suite.to_dict(), "rep": rep}


def _read_csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


# ---- timing -----------------------------------------------------------------------------------------------
def measure_step_times(suite: PriorSuite, threads: int | None = None) -> pd.DataFrame:
    """Milliseconds per full-batch training step of every method (repetition 0's training set).

    Rounds interleave the methods so that load from other processes hits them alike; the table
    keeps the median over rounds and the ratio to the plain (unregularised, with bias) step.
    """
    if threads:
        torch.set_num_threads(threads)
    x, y = load_pool(suite.data)
    split = make_split(x, y, suite.protocol, suite.seed, 0)
    tcfg = suite.timing
    units = list(suite.units())
    if not any(u.name == "none" for u in units):
        units.insert(0, MethodUnit("none", "none", 1, (0.0,), 1))
    num_out = 1 if single_logit(suite, split.y_train) else int(split.y_train.max()) + 1
    states = []
    for u in units:
        model = build_model(suite, u.bias, split.x_train, num_out, stable_seed(suite.seed, "timing", u.bias))
        opt = torch.optim.Adam(model.parameters(), lr=suite.protocol["lr"])
        gen = torch.Generator().manual_seed(stable_seed(suite.seed, "timing", u.label))
        lam = tcfg["lambda"] if u.attribution is not None else 0.0
        states.append((u, model, opt, gen, lam))
    penalty = PENALTIES[suite.prior]
    per_round: dict[str, list[float]] = {u.label: [] for u in units}
    for r in range(tcfg["rounds"]):
        for u, model, opt, gen, lam in states:
            n_warm = tcfg["warmup"] if r == 0 else 0
            for _ in range(n_warm):
                train_step(model, opt, split.x_train, split.y_train, u, lam, penalty, split.x_train, gen)
            t0 = time.perf_counter()
            for _ in range(tcfg["steps"]):
                train_step(model, opt, split.x_train, split.y_train, u, lam, penalty, split.x_train, gen)
            per_round[u.label].append(1e3 * (time.perf_counter() - t0) / tcfg["steps"])
    plain = float(np.median(per_round["none"]))
    rows = []
    for u, *_ in states:
        ms = np.asarray(per_round[u.label])
        rows.append({"suite": suite.name, "method": u.label, "name": u.name, "k": u.k, "bias": u.bias,
                     "lambda": tcfg["lambda"] if u.attribution is not None else 0.0,
                     "ms_per_step": float(np.median(ms)), "ms_min": float(ms.min()), "ms_max": float(ms.max()),
                     "ratio_to_plain": float(np.median(ms)) / plain, "batch": len(split.x_train),
                     "steps": tcfg["steps"], "rounds": tcfg["rounds"], "threads": torch.get_num_threads(),
                     "device": "cpu"})
    return pd.DataFrame(rows)


# ---- the run ------------------------------------------------------------------------------------------------
def default_workers() -> int:
    """min(2, CPU count): the default number of worker processes."""
    return max(1, min(2, os.cpu_count() or 1))


def run_priors(suite_path_or_name: str | Path | PriorSuite, out_dir: str | Path | None = None, resume: bool = False,
               progress: bool = True, workers: int | None = None) -> Path:
    """Run a prior suite (built-in name, YAML path or :class:`PriorSuite`) into ``out_dir``; returns the run dir.

    Default ``out_dir``: ``runs/<suite name>``.  ``resume`` keeps finished repetitions (and the timing
    table) and refuses a changed suite; without it the run directory's previous results are cleared.
    ``workers``: processes for repetitions (default: the suite's ``workers``, else min(2, CPUs)); 1 runs
    in this process.
    """
    suite = suite_path_or_name if isinstance(suite_path_or_name, PriorSuite) else load_prior_suite(suite_path_or_name)
    out = Path(out_dir) if out_dir is not None else DEFAULT_OUT / suite.name
    check_out_path(out)
    rd = RunDir(out)
    rd.open(suite.to_dict(), resume)  # claim, lock, clean (or check the stamp on resume), count the invocation
    try:
        _run_priors(suite, rd, resume, progress, workers)
    finally:
        rd.unlock()
    return out


def _run_priors(suite: PriorSuite, rd: RunDir, resume: bool, progress: bool, workers: int | None) -> None:
    from tqdm.auto import tqdm

    from .report import make_prior_report

    out = rd.path
    started = time.perf_counter()
    n_workers = workers or suite.workers or default_workers()
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    reps = suite.protocol["repetitions"]
    todo = [r for r in range(reps) if not rd.part_done(part_path(out, r), rep_settings(suite, r), resume)]
    bar = tqdm(total=reps, initial=reps - len(todo), desc=f"{suite.name} | repetitions", unit="rep",
               disable=not progress, dynamic_ncols=True)
    t_reps = time.perf_counter()
    try:
        if todo and n_workers == 1:
            for r in todo:
                run_repetition(suite, r, out)
                bar.update(1)
        elif todo:
            import multiprocessing as mp

            # spawn: a fresh interpreter per worker; forking a process whose torch thread pools are
            # already running can deadlock
            with ProcessPoolExecutor(max_workers=min(n_workers, len(todo)), mp_context=mp.get_context("spawn"),
                                     initializer=_init_worker, initargs=(threads,)) as ex:
                futures = [ex.submit(run_repetition, suite, r, str(out)) for r in todo]
                for fut in as_completed(futures):
                    fut.result()
                    bar.update(1)
    finally:
        bar.close()  # before any error is printed: an error never shares the bar's line
    reps_seconds = time.perf_counter() - t_reps

    timing_file = out / "timing.csv"
    t_timing = time.perf_counter()
    if not (resume and timing_file.exists()):
        if progress:
            print(f"{suite.name}: timing training steps ({suite.timing['rounds']} rounds)", flush=True)
        old_threads = torch.get_num_threads()
        rd.write_csv(timing_file, measure_step_times(suite, threads))
        torch.set_num_threads(old_threads)
    timing_seconds = time.perf_counter() - t_timing

    rd.merge([part_path(out, r) for r in range(reps)], _read_csv)
    write_manifest(rd, suite.to_dict(), time.perf_counter() - started, source=suite.source, device="cpu",
                   cpu_count=os.cpu_count(), workers=n_workers, threads_per_worker=threads,
                   repetitions_run_this_invocation=len(todo),
                   repetition_seconds_this_invocation=round(reps_seconds, 2),
                   timing_seconds_this_invocation=round(timing_seconds, 2),
                   methods={u.label: PRIOR_METHODS[u.name].description for u in suite.units()})
    summary = rd.journaled(lambda: make_prior_report(out))
    rd.finish()
    if progress:
        print(summary)
