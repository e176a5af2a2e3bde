"""Every method on every built-in model family, each against its physical limit.

The limit for a method that needs n gradient passes is n x (one forward + backward of the same
batch), measured in the same process; ``report-bench`` divides the median by it.  Occlusion's limit
is one forward per window position.  CPU: digits and CIFAR-size models at batch 32; CUDA (when
present): the ImageNet models at 224 px are added.  Run with ``pytest --benchmark-only``.
"""

from __future__ import annotations

import math
import statistics
import time

import pytest
import torch

import xbench
from xbench import models
from xbench.provenance import device_name

BATCH = 32
# Modest step counts so the whole file runs in a few minutes on 2 CPU cores; the limit scales with them.
METHODS = {
    "saliency": ({}, 1), "input_x_gradient": ({}, 1), "x_gradient": ({}, 1), "random": ({}, 0),
    "integrated_gradients": ({"n_steps": 32}, 32), "split_ig": ({"n_steps": 32}, 32),
    "expected_gradients": ({"k": 8}, 8), "smoothgrad": ({"n_samples": 8}, 8), "gradient_shap": ({"n_samples": 8}, 8),
    "guided_ig": ({"n_steps": 16}, 16), "idg": ({"n_steps": 32}, 32), "blur_ig": ({"n_steps": 16}, 16),
    "occlusion": ({"window": 8, "stride": 8}, None), "grad_cam": ({}, 1), "guided_backprop": ({}, 1),
}
FAMILIES = {"digits_cnn": (1, 32, 10), "cifar_resnet20": (3, 32, 10), "cifar_vgg": (3, 32, 10)}
GPU_FAMILIES = {"resnet50": (3, 224, 1000), "vgg16": (3, 224, 1000), "alexnet": (3, 224, 1000)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(name: str, x: bool, device: torch.device) -> torch.nn.Module:
    weights = "trained" if name == "digits_cnn" else None  # speed does not depend on the weights
    m = models.create(name, x=x, weights=weights).to(device).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def _fwd_bwd_seconds(model, x, target, repeats: int = 5) -> float:
    from xbench.methods.base import input_gradient

    input_gradient(model, x, target)
    times = []
    for _ in range(repeats):
        _sync(x.device)
        t0 = time.perf_counter()
        input_gradient(model, x, target)
        _sync(x.device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _cases():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    fams = dict(FAMILIES, **(GPU_FAMILIES if device.type == "cuda" else {}))
    for fam in fams:
        for method in METHODS:
            yield pytest.param(fam, method, device, id=f"{fam}-{method}")


@pytest.mark.parametrize("family,method,device", list(_cases()))
def test_method_time(benchmark, family, method, device):
    channels, size, classes = ({**FAMILIES, **GPU_FAMILIES})[family]
    homogeneous_ok = family not in ("resnet50",)
    model = _model(family, x=(method == "x_gradient" and homogeneous_ok), device=device)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((BATCH, channels, size, size), generator=gen).to(device)
    target = model(x).argmax(1)
    params = dict(METHODS[method][0])
    if method == "x_gradient" and not homogeneous_ok:
        params["check"] = False
    if method == "expected_gradients":
        params["references"] = torch.randn((64, channels, size, size), generator=gen).to(device)
    passes = METHODS[method][1]
    if method == "occlusion":
        windows = (math.floor((size - 8) / 8) + 1) ** 2
        limit_unit = "forward per window"
    limit = _fwd_bwd_seconds(model, x, target)

    def run():
        xbench.attribute(model, x, target, method, **params)
        _sync(device)

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    info = {"model": family, "method": method, "batch": BATCH, "device": str(device),
            "device_name": device_name(device),
            "fwd_bwd_seconds": limit, "params": {k: v for k, v in params.items() if k != "references"}}
    if method == "occlusion":
        with torch.no_grad():
            model(x)
            _sync(device)
            t0 = time.perf_counter()
            model(x)
            _sync(device)
            fwd = time.perf_counter() - t0
        info.update(limit_seconds=windows * fwd, limit_kind=limit_unit)
    elif passes:
        info.update(limit_seconds=passes * limit, limit_kind=f"{passes} x forward+backward")
    benchmark.extra_info.update(info)
