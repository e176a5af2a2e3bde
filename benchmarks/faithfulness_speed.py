"""Speed of the faithfulness metrics against Quantus 0.6's implementations, same model, inputs and work.

    OMP_NUM_THREADS=1 nice python benchmarks/faithfulness_speed.py --out results/timing_cpu/faithfulness

Digits CNN on 16 digits (1 x 32 x 32) and EfficientNet-Lite0 on 2 photos (3 x 224 x 224), on the CPU.  Each
metric runs once untimed on each side (a first pass pays for kernel selection and allocation), then
``--repeats`` times alternating xbench and Quantus in one process; a row gives each side's median.
Settings give both the same number of model passes: Quantus' features
are input elements, xbench's pixels, so on 3-channel photos Quantus' counts are 3 x xbench's.  xbench's
region perturbation and ROAD compute MoRF and LeRF in one call: Quantus is timed for both orders of region
perturbation, and for its only order (MoRF) of ROAD, so xbench's ROAD does twice Quantus' work in its ratio.
Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import xbench  # noqa: E402
from tests.conformance.checks_faithfulness import _numpy_trapz  # noqa: E402

FR = [0.1, 0.3, 0.5, 0.7, 0.9]


def cases(kind: str) -> list[tuple[str, dict, str, dict, bool]]:
    """(metric, xbench kwargs, Quantus class, Quantus kwargs, softmax) with matched work (model passes)."""
    b = {"perturb_baseline": 0.0}
    if kind == "digits":  # 1 channel: pixels are elements
        step, nguyen, runs, row, patch = {"x": 32, "q": 32}, {"x": 128, "q": 128}, 32, {"x": 32, "q": 32}, 4
    else:  # Quantus needs H*W % features_in_step == 0 and counts elements: 3 per pixel; 48 and 12 groups for both
        step, nguyen, runs, row, patch = {"x": 1046, "q": 3136}, {"x": 4182, "q": 12544}, 16, {"x": 224, "q": 672}, 28
    draws = 8 if kind == "digits" else 4
    return [
        ("faithfulness_correlation", {"n_subsets": runs, "subset_size": row["x"]},
         "FaithfulnessCorrelation", {"nr_runs": runs, "subset_size": row["q"], **b}, False),
        ("faithfulness_estimate", {"features_in_step": step["x"]},
         "FaithfulnessEstimate", {"features_in_step": step["q"], **b}, False),
        ("monotonicity_arya", {"features_in_step": step["x"]},
         "Monotonicity", {"features_in_step": step["q"], **b}, True),
        ("monotonicity_nguyen", {"features_in_step": nguyen["x"], "n_samples": draws},
         "MonotonicityCorrelation", {"features_in_step": nguyen["q"], "nr_samples": draws}, True),
        ("selectivity", {"patch_size": patch}, "Selectivity", {"patch_size": patch, **b}, True),
        ("region_perturbation", {"patch_size": patch, "regions": 16},
         "RegionPerturbation", {"patch_size": patch, "regions_evaluation": 16, **b}, True),
        ("irof", {"substrate": "zero"}, "IROF", {**b, "return_aggregate": False}, True),
        ("road", {"fractions": FR}, "ROAD", {"percentages": [int(100 * f) for f in FR]}, True),
    ]


def setup(kind: str):
    from xbench.data import create
    from xbench.serving import open_data

    if kind == "digits":
        x, _ = create("digits").tensors(16)
        model = xbench.models.create("digits_cnn")
    else:
        x, _ = open_data("photos").tensors(2)
        model = xbench.models.create("efficientnet_lite0")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        t = model(x).argmax(1)
    a = xbench.attribute(model, x, t, "saliency")
    return model, x, t, a


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(kind: str, repeats: int = 3) -> list[dict]:
    """One row per metric: the median of ``repeats`` alternating timings of each side, after one untimed
    warm-up call of each."""
    import quantus

    from xbench.allocator import retain_freed_memory

    retain_freed_memory()  # what xbench's runner does on a CPU run (Quantus, in the same process, gains too)
    model, x, t, a = setup(kind)
    a1 = a.sum(1, keepdim=True)  # one attribution per pixel, which Quantus broadcasts over the channels
    rows = []
    for name, ours_kw, qcls, q_kw, softmax in cases(kind):
        fn = getattr(xbench.metrics, name)
        orders = ["morf", "lerf"] if qcls == "RegionPerturbation" else [None]

        def ours(fn=fn, ours_kw=ours_kw):
            fn(model, x, t, a1, **ours_kw)

        def theirs(qcls=qcls, q_kw=q_kw, softmax=softmax, orders=orders):
            for order in orders:
                extra = {"order": order} if order else {}
                metric = getattr(quantus, qcls)(abs=False, normalise=False, disable_warnings=True,
                                                display_progressbar=False, **q_kw, **extra)
                with _numpy_trapz():
                    metric(model=model, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a1.numpy(), softmax=softmax,
                           device="cpu", channel_first=True)

        err = None
        try:
            theirs()  # warm-up: the first pass at a batch size pays for kernel selection and allocation
        except Exception as e:  # noqa: BLE001 - a reference that fails is reported, not hidden
            err = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
        ours()
        times = {"xbench": [], "quantus": []}
        for _ in range(repeats):  # alternate, so a change of machine load hits both sides alike
            times["xbench"].append(_seconds(ours))
            if err is None:
                times["quantus"].append(_seconds(theirs))
        x_s = statistics.median(times["xbench"])
        q_s = statistics.median(times["quantus"]) if err is None else None
        rows.append({"data": kind, "metric": name, "xbench_s": round(x_s, 3),
                     "quantus_s": None if err else round(q_s, 3),
                     "speedup": None if err else round(q_s / x_s, 2), "quantus_error": err,
                     "repeats": repeats, "times_s": {k: [round(v, 3) for v in vs] for k, vs in times.items()},
                     "xbench": ours_kw, "quantus": {"class": qcls, **q_kw, "softmax": softmax}})
        print(rows[-1], flush=True)
    return rows


def write(rows: list[dict], out: Path, note: str = "") -> None:
    """``<out>.json`` (rows and the machine) and ``<out>.md`` (the table)."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    meta = {"commit": commit, "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
            "torch": torch.__version__, "quantus": __import__("quantus").__version__,
            "load_average": list(__import__("os").getloadavg()),
            "note": "CPU; per row one untimed warm-up call each, then the median of alternating timings. " + note}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    lines = ["# Faithfulness metrics: xbench vs Quantus 0.6 on the CPU", "",
             f"`python benchmarks/faithfulness_speed.py` at {commit[:10]}, {meta['threads']} thread(s), "
             f"torch {torch.__version__}, Quantus {meta['quantus']}: per row one untimed warm-up call of each side, "
             "then the median of alternating timings (seconds). " + note, "",
             "| data | metric | xbench s | Quantus s | speed-up | xbench settings | Quantus settings |",
             "|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        q = r["quantus_s"] if r["quantus_error"] is None else f"fails: {r['quantus_error']}"
        s = "" if r["speedup"] is None else f"{r['speedup']}x"
        ours = ", ".join(f"{k}={v}" for k, v in r["xbench"].items())
        theirs = ", ".join(f"{k}={v}" for k, v in r["quantus"].items())
        lines.append(f"| {r['data']} | {r['metric']} | {r['xbench_s']} | {q} | {s} | {ours} | {theirs} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None, help="write <out>.json and <out>.md")
    ap.add_argument("--data", nargs="*", default=["digits", "photos"])
    ap.add_argument("--from-log", default=None, help="write the rows an interrupted run printed (its stdout)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per side and row (the median is kept)")
    ap.add_argument("--note", default="", help="a line on how the rows were measured, kept with them")
    args = ap.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    if args.from_log:
        import ast

        rows = [ast.literal_eval(line) for line in Path(args.from_log).read_text().splitlines() if line.startswith("{")]
    else:
        rows = [r for kind in args.data for r in run(kind, args.repeats)]
    if args.out:
        write(rows, Path(args.out), args.note)


if __name__ == "__main__":
    main()
