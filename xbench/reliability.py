"""Which metrics are reliable on this model: MetaQuantus's model perturbation test (Hedström et al. 2023), made
cheap (few draws, few samples) and run through :func:`xbench.evaluate` (the runner itself, no second one).

For each model of a suite, every method x metric is evaluated on ``samples`` inputs with the model as it is and
with ``draws`` copies whose weights are multiplied by N(1, std) noise: a *minor* std that keeps the predictions
(noise resilience: a reliable metric's scores and rankings should not move) and a *disruptive* one that changes
them (adversarial reactivity: its scores should get worse).  The explained class is always the unperturbed
model's prediction.  Per metric (each directed stat), averaged over methods and draws:

- ``IAC_NR``: p of the paired Wilcoxon test between the unperturbed and perturbed scores over the samples whose
  prediction was kept (high: no detectable change);
- ``IAC_AR``: 1 - that p over the samples whose prediction changed (high: a detectable change);
- ``IEC_NR``: the share of (sample, rank position) where the methods' order is unchanged (kept samples);
- ``IEC_AR``: the share of (method, sample) whose score got worse under disruption (changed samples);
- ``MC``: their mean, MetaQuantus's meta-consistency score (1 = ideal).

Only the model perturbation test is run (the input perturbation test would double the cost); MetaQuantus
counts ties with ``zsplit``, this uses the verdict's Wilcoxon (``pratt``).  Results go to ``reliability.csv``
in the run directory, which the verdict reads.
"""

from __future__ import annotations

import copy
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .api import evaluate
from .metrics import METRICS
from .provenance import stable_seed
from .sampling import load_data
from .suite import Suite
from .verdict.stats import paired_p
from .verdict.table import cubes

TESTS = {"resilience": "minor", "adversary": "disruptive"}


def _entry(spec) -> dict:
    return {"name": spec.name, "label": spec.label, **spec.params}


def perturbed(model: torch.nn.Module, std: float, seed: int) -> torch.nn.Module:
    """A copy of ``model`` with every parameter multiplied by seeded N(1, std) noise (the user's model untouched)."""
    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in out.parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.device, p.dtype)
            p.mul_(1.0 + std * noise)
    return out


def _scores(rows: pd.DataFrame, methods: list[str], criteria: list[tuple[str, str]]) -> np.ndarray:
    """[methods, criteria, samples] of the per-sample values (the verdict's reading of tidy rows)."""
    cube = cubes(rows)[0]
    mi = [cube.methods.index(m) for m in methods]
    ci = [cube.criteria.index(c) for c in criteria]
    return cube.values[np.ix_(mi, ci)]


def scores(q: np.ndarray, q_hat: list[np.ndarray], keep: list[np.ndarray], test: str, direction: str) -> dict:
    """IAC and IEC of one criterion for one test: ``q`` [methods, samples] unperturbed, ``q_hat`` one such array
    per draw, ``keep`` the samples each draw counts (kept / changed predictions)."""
    iac, iec = [], []
    better = 1.0 if direction == "higher" else -1.0
    for qh, k in zip(q_hat, keep):
        if not k.any():
            continue
        ps = []
        for m in range(q.shape[0]):
            ok = k & np.isfinite(q[m]) & np.isfinite(qh[m])
            if ok.any():
                ps.append(paired_p(qh[m, ok] - q[m, ok]))
        if ps:
            iac.append(np.mean(ps) if test == "resilience" else 1.0 - np.mean(ps))
        a, b = q[:, k], qh[:, k]
        if test == "resilience":
            iec.append(float((np.argsort(a, axis=0, kind="stable") == np.argsort(b, axis=0, kind="stable")).mean()))
        else:
            iec.append(float((better * (a - b) > 0).mean()))
    nan = float("nan")
    return {"IAC": float(np.mean(iac)) if iac else nan, "IEC": float(np.mean(iec)) if iec else nan}


def model_reliability(suite: Suite, draws: int = 2, samples: int = 8, minor: float = 1e-3,
                      disruptive: float = 2.0, progress: bool = False) -> pd.DataFrame:
    """reliability.csv's rows for every model of ``suite`` (see the module docstring)."""
    from .executor import Executor
    from .preflight import preflight
    from .rundir import RunDir

    preflight(suite)  # resolves which models each method fits (x_gradient: the X-variants only), as a run does
    ds, idx = load_data(suite)
    items = [ds[i] for i in idx[:samples]]
    x = torch.stack([torch.as_tensor(it[0]) for it in items])
    masks = torch.stack([torch.as_tensor(it[2]) for it in items]) if ds.has_masks else None
    meta = {m.name: METRICS.get(m.name).meta for m in suite.metrics}
    metrics = [_entry(m) for m in suite.metrics  # per-sample scores of attributions only (not timing, accuracy)
               if meta[m.name]["needs_attributions"] and meta[m.name].get("first_batches") is None]
    executor = Executor(suite, RunDir(Path(".")), torch.device("cpu"))
    out = []
    for spec in suite.models:
        methods = [_entry(me) for m, me in suite.pairs() if m.label == spec.label]
        model = executor.load_model(spec, ds.info, progress)
        with torch.no_grad():
            pred = model(x.to(executor.dtype)).argmax(1)
        data = (x, pred) if masks is None else (x, pred, masks)

        run = partial(evaluate, data=data, methods=methods, metrics=metrics, target="label", data_info=ds.info,
                      model_label=spec.label, x=spec.x, device="cpu", seed=suite.seed,
                      batch_size=suite.data.batch_size)
        base = cubes(run(model))[0]
        crit = [c for c, d in zip(base.criteria, base.directions) if d is not None]
        dirs = {c: d for c, d in zip(base.criteria, base.directions)}
        q = base.values[:, [base.criteria.index(c) for c in crit]]
        res: dict[str, dict] = {}
        shares = {}
        for test, size in TESTS.items():
            std = minor if size == "minor" else disruptive
            q_hats, keeps = [], []
            for k in range(draws):
                net = perturbed(model, std, stable_seed(suite.seed, "reliability", spec.label, test, k))
                with torch.no_grad():
                    p2 = net(x.to(executor.dtype)).argmax(1)
                keeps.append((p2 == pred).numpy() if test == "resilience" else (p2 != pred).numpy())
                q_hats.append(_scores(run(net), base.methods, crit))
            shares[test] = float(np.mean([k.mean() for k in keeps]))
            res[test] = {c: scores(q[:, j], [qh[:, j] for qh in q_hats], keeps, test, dirs[c])
                         for j, c in enumerate(crit)}
        for c in crit:
            row = {"IAC_NR": res["resilience"][c]["IAC"], "IAC_AR": res["adversary"][c]["IAC"],
                   "IEC_NR": res["resilience"][c]["IEC"], "IEC_AR": res["adversary"][c]["IEC"]}
            label = c[0] if c[0] == c[1] else f"{c[0]}.{c[1]}"
            out.append({"model": spec.label, "criterion": label, **row, "MC": float(np.nanmean(list(row.values()))),
                        "draws": draws, "samples": len(idx[:samples]), "minor_std": minor, "disruptive_std": disruptive,
                        "kept_minor": shares["resilience"], "changed_disruptive": shares["adversary"]})
    return pd.DataFrame(out)
