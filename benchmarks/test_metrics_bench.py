"""Metric speed against the references on a small CNN on CPU (run: pytest benchmarks/test_metrics_bench.py).

Each test times ours with pytest-benchmark and the reference by the same median-of-repeats clock,
on the same model, inputs and attributions, and stores ``speedup`` = reference time / our time in
``benchmark.extra_info`` (CPU target: >= 0.9, i.e. parity; both spend their time in the same
forward passes).
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch

from xbench.methods import attribute
from xbench.metrics import deletion, insertion, max_sensitivity
from xbench.models.digits import DigitsCNN

torch.set_num_threads(min(2, torch.get_num_threads()))
N, SIZE, STEPS, REPEATS = 16, 32, 32, 3


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = DigitsCNN(size=SIZE).eval()
    x = torch.randn(N, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    t = torch.arange(N) % 10
    a = attribute(model, x, t, "saliency")
    return model, x, t, a


def _median_seconds(fn, repeats: int = REPEATS) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _record(benchmark, ours_fn, reference_fn, what: str) -> None:
    benchmark.pedantic(ours_fn, rounds=REPEATS, warmup_rounds=1)
    ours = benchmark.stats.stats.median
    ref = _median_seconds(reference_fn)
    benchmark.extra_info.update({"what": what, "ours_s": ours, "reference_s": ref, "speedup": ref / ours})


def test_deletion_insertion_vs_quantus_pixel_flipping(benchmark, setup):
    quantus = pytest.importorskip("quantus")
    model, x, t, a = setup
    per_step = SIZE * SIZE // STEPS
    pf = quantus.PixelFlipping(features_in_step=per_step, perturb_baseline=0.0, abs=False, normalise=False,
                               disable_warnings=True, display_progressbar=False)
    xn, tn, an = x.numpy(), t.numpy(), a.numpy()

    def ours():
        deletion(model, x, t, a, steps=STEPS, substrate="zero")
        insertion(model, x, t, a, steps=STEPS, substrate="zero")

    def reference():  # Quantus has no insertion: two pixel-flipping runs do the same number of forward passes
        for _ in range(2):
            pf(model=model, x_batch=xn, y_batch=tn, a_batch=an, softmax=True, device="cpu", channel_first=True)

    _record(benchmark, ours, reference, f"deletion+insertion, {N} images {SIZE}px, {STEPS} steps vs 2x PixelFlipping")


def test_max_sensitivity_vs_captum(benchmark, setup):
    from captum.metrics import sensitivity_max

    model, x, t, a = setup

    def explain(inp, target):
        with torch.enable_grad():  # Captum calls it under no_grad
            if isinstance(inp, tuple):
                return (attribute(model, inp[0], target, "saliency"),)
            return attribute(model, inp, target, "saliency")

    _record(benchmark, lambda: max_sensitivity(model, x, t, method="saliency", radius=0.02, n_samples=10),
            lambda: sensitivity_max(explain, x, perturb_radius=0.02, n_perturb_samples=10, target=t),
            f"max_sensitivity saliency, {N} images {SIZE}px, 10 samples vs captum.metrics.sensitivity_max")
