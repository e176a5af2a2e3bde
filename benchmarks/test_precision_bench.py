"""The speed options against the default path on CPU (run: pytest benchmarks/test_precision_bench.py --benchmark-only).

Each test times the work with one option on (pytest-benchmark) and the same work with every option off by the
same median-of-repeats clock, on the same ResNet-20 and inputs, and stores ``speedup`` = default time / option
time and, for autocast, the attribution's relative error against float32 in ``benchmark.extra_info``.
On a CPU without bfloat16 units autocast is expected to be slower (speedup < 1): the GPU figures come from
benchmarks/gpu_check.py's ``speed[...]`` rows.  ``memory_chunks`` only acts on CUDA, so it is not here.
"""

from __future__ import annotations

import copy
import time

import pytest
import torch
from test_metrics_bench import _median_seconds  # the same clock as the other comparisons

from xbench import precision
from xbench.methods import attribute
from xbench.metrics import deletion, insertion
from xbench.models import create as create_model

torch.set_num_threads(min(2, torch.get_num_threads()))
N, SIZE, STEPS, REPEATS = 16, 32, 16, 3


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = create_model("cifar_resnet20", weights=None, num_classes=10).eval()
    torch.nn.init.normal_(model.fc.weight, std=0.1)  # Fixup starts the head at zero: zero gradients otherwise
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(N, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    t = torch.arange(N) % 10
    a = torch.rand(x.shape, generator=torch.Generator().manual_seed(2))
    return model, x, t, a


def _work(model, x, t, a, speed: precision.Speed, what: str):
    net = precision.prepare_model(copy.deepcopy(model), speed)
    xs = precision.prepare_inputs(x, speed)

    def run():
        with precision.using(speed), precision.autocast(speed, torch.device("cpu")):
            if what == "input_x_gradient":
                return attribute(net, xs, t, "input_x_gradient")
            deletion(net, xs, t, a, steps=STEPS)
            insertion(net, xs, t, a, steps=STEPS)
            return None

    return run


OPTIONS = {"autocast_bf16": precision.Speed(autocast="bfloat16"),
           "channels_last": precision.Speed(channels_last=True),
           "inference_mode": precision.Speed(inference_mode=True)}


@pytest.mark.parametrize("what", ["input_x_gradient", "deletion+insertion"])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_option_vs_default(benchmark, setup, option, what):
    model, x, t, a = setup
    fast = _work(model, x, t, a, OPTIONS[option], what)
    slow = _work(model, x, t, a, precision.Speed(), what)
    benchmark.pedantic(fast, rounds=REPEATS, warmup_rounds=1)
    ours = benchmark.stats.stats.median
    ref = _median_seconds(slow)
    info = {"what": f"{what}, {N} images {SIZE}px, ResNet-20", "option": option, "option_s": ours,
            "default_s": ref, "speedup": ref / ours}
    if what == "input_x_gradient":
        info["rel_error_vs_fp32"] = precision.relative_error(fast(), slow())
    benchmark.extra_info.update(info)


def test_compile_vs_default(benchmark, setup):
    model, x, t, a = setup
    fast = _work(model, x, t, a, precision.Speed(compile=True), "input_x_gradient")
    slow = _work(model, x, t, a, precision.Speed(), "input_x_gradient")
    t0 = time.perf_counter()
    fast()  # the compilation itself, reported apart from the steady state
    compile_s = time.perf_counter() - t0
    benchmark.pedantic(fast, rounds=REPEATS, warmup_rounds=1)
    ours = benchmark.stats.stats.median
    ref = _median_seconds(slow)
    benchmark.extra_info.update({"what": f"input_x_gradient, {N} images {SIZE}px, ResNet-20", "option": "compile",
                                 "first_call_s": compile_s, "option_s": ours, "default_s": ref, "speedup": ref / ours,
                                 "rel_error_vs_fp32": precision.relative_error(fast(), slow())})
