"""Speed of the complexity and stability metrics against Quantus 0.6 on the same model, inputs and settings.

    OMP_NUM_THREADS=1 python benchmarks/stability_speed.py --out results/timing_cpu/complexity_stability

Both sides get the same attributions (xbench's saliency: Quantus through ``explain_func``), the same number of
noisy draws and the same prediction check (RIS/ROS/RRS: draws changing the prediction are marked, Lipschitz:
none), so the ratio compares the metrics' own machinery: xbench's one chunked pass over images x draws
against Quantus' loop over draws with NumPy round-trips.  Setups: the digits CNN on 16 test digits and
EfficientNet-Lite0 on the 2 shipped photos, CPU, one thread.  Times are the fastest of interleaved rounds
(:func:`benchmarks.test_methods_bench.best_times`: on a shared machine other processes only add time), xbench
and Quantus back to back in one process; the ratio is Quantus' time / xbench's (> 1: xbench is faster).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import xbench  # noqa: E402
from benchmarks.test_methods_bench import best_times  # noqa: E402

DRAWS = 4


def _setups(which: list[str]) -> dict[str, tuple]:
    from xbench.data import create
    from xbench.serving import open_data

    out = {}
    if "digits" in which:
        x, _ = create("digits", "test").tensors(16)
        out["digits_cnn, 16 digits"] = (xbench.models.create("digits_cnn"), x, "classifier.2", 3)
    if "photos" in which:
        x, _ = open_data("photos").tensors(2)
        out["efficientnet_lite0, 2 photos"] = (xbench.models.create("efficientnet_lite0"), x, "global_pool", 2)
    return out


def pairs(model, x: torch.Tensor, layer: str) -> dict[str, tuple]:
    """metric -> (xbench call, Quantus call), each computing the metric on (model, x) with the same settings."""
    import quantus

    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        t = model(x).argmax(1)
    a = xbench.attribute(model, x, t, "saliency")
    xn, tn, an = x.numpy(), t.numpy(), a.numpy()

    def explain(model, inputs, targets, **kwargs):
        return xbench.attribute(model, torch.as_tensor(inputs), torch.as_tensor(targets), "saliency").numpy()

    q = {"disable_warnings": True, "display_progressbar": False}
    call = {"model": model, "x_batch": xn, "y_batch": tn, "channel_first": True, "device": "cpu"}
    m = xbench.metrics
    out = {}
    for name, fn, cls in (("sparseness", m.sparseness, "Sparseness"), ("complexity", m.complexity, "Complexity"),
                          ("effective_complexity", m.effective_complexity, "EffectiveComplexity")):
        metric = getattr(quantus, cls)(normalise=False, **q)
        out[name] = (lambda fn=fn: fn(model, x, t, a), lambda metric=metric: metric(**call, a_batch=an.copy()))
    stab = {"radius": 0.05, "n_samples": DRAWS, "method": "saliency"}
    for name, fn, cls, extra in (
            ("relative_input_stability", m.relative_input_stability, "RelativeInputStability", {}),
            ("relative_output_stability", m.relative_output_stability, "RelativeOutputStability", {}),
            ("relative_representation_stability", m.relative_representation_stability,
             "RelativeRepresentationStability", {"layer_names": [layer]}),
            ("local_lipschitz_estimate", m.local_lipschitz_estimate, "LocalLipschitzEstimate", {})):
        lipschitz = name == "local_lipschitz_estimate"
        metric = getattr(quantus, cls)(nr_samples=DRAWS, abs=False, normalise=False,
                                       return_nan_when_prediction_changes=not lipschitz, **extra, **q)
        kw = {**stab, "radius": 0.1} if lipschitz else stab
        out[name] = (lambda fn=fn, kw=kw: fn(model, x, t, a, **kw),
                     lambda metric=metric: metric(**call, a_batch=an, explain_func=explain, softmax=False))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write <out>.json and <out>.md (default: print)")
    parser.add_argument("--setups", nargs="+", default=["digits", "photos"], choices=["digits", "photos"])
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    import quantus

    rows = []
    for setup, (model, x, layer, rounds) in _setups(args.setups).items():
        for metric, (ours, theirs) in pairs(model, x, layer).items():
            best = best_times({"xbench": ours, "quantus": theirs}, rounds=rounds)
            rows.append({"setup": setup, "metric": metric, "xbench_s": best["xbench"], "quantus_s": best["quantus"],
                         "ratio": best["quantus"] / best["xbench"]})
            print(f"{setup:32s} {metric:36s} xbench {best['xbench']:.4f} s  quantus {best['quantus']:.4f} s  "
                  f"ratio {rows[-1]['ratio']:.2f}", flush=True)
    meta = {"command": "OMP_NUM_THREADS=1 python benchmarks/stability_speed.py --out "
                       "results/timing_cpu/complexity_stability", "torch": torch.__version__,
            "quantus": quantus.__version__, "numpy": np.__version__, "threads": 1, "draws": DRAWS,
            "machine": f"{platform.machine()}, shared 2-core machine under load (other jobs running)"}
    md = ["# Complexity and stability metrics: xbench vs Quantus 0.6 (CPU, one thread)", "",
          f"`{meta['command']}`; torch {meta['torch']}, quantus {meta['quantus']}; {DRAWS} noisy draws, saliency "
          "attributions on both sides; fastest of interleaved rounds, back to back in one process on a busy "
          "shared 2-core machine. Ratio = Quantus time / xbench time (> 1: xbench faster).", "",
          "| setup | metric | xbench (s) | Quantus (s) | ratio |", "|---|---|---|---|---|"]
    md += [f"| {r['setup']} | {r['metric']} | {r['xbench_s']:.4f} | {r['quantus_s']:.4f} | {r['ratio']:.2f} |"
           for r in rows]
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
        args.out.with_suffix(".md").write_text("\n".join(md) + "\n")
        print(f"wrote {args.out}.json and .md")
    else:
        print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
