"""The speed options: each gives the same numbers as the default path within a stated tolerance.

Tolerances: channels-last and inference mode change no arithmetic beyond the order of float32 sums, so
they are held to 1e-4 relative (a float32 dot product of K terms reordered moves by ~sqrt(K) x 6e-8; the
rest is margin for a ReLU at exactly zero).  Autocast is held to its own guard, ``autocast_tolerance``
(2^-5 by default, derived in xbench/precision.py).  Nothing here is timed: speed is in
benchmarks/test_precision_bench.py and benchmarks/gpu_check.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from xbench import batching, precision
from xbench.cli import describe_entry, main
from xbench.data import create as create_data
from xbench.errors import SuiteError
from xbench.methods import attribute
from xbench.metrics import deletion, insertion
from xbench.metrics.model_eval import accuracy
from xbench.models import create as create_model
from xbench.precision import PrecisionError, Speed
from xbench.results import read_results
from xbench.runner import run_suite
from xbench.suite import parse_suite

REORDER_RTOL = 1e-4
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    """The trained digits CNN and 16 real test digits with its predicted classes."""
    model = create_model("digits_cnn").eval()
    for p in model.parameters():
        p.requires_grad_(False)
    ds = create_data("digits", "test")
    x = torch.stack([torch.as_tensor(ds.dataset[i][0]) for i in range(16)])
    with torch.no_grad():
        t = model(x).argmax(1)
    return model, x, t


@pytest.fixture(scope="module")
def convnet(digits):
    """A seeded all-convolution net (no max-pool, so no pooling ties) on the same digits."""
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1),
                          nn.ReLU(), nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(32, 10)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = digits[1]
    with torch.no_grad():
        t = model(x).argmax(1)
    return model, x, t


def _twin(model: torch.nn.Module) -> torch.nn.Module:
    twin = create_model("digits_cnn").eval()
    twin.load_state_dict(model.state_dict())
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


# ---- the suite section ------------------------------------------------------------------------------
def test_speed_section_defaults_off_and_validates(tiny_suite):
    suite = parse_suite(tiny_suite)
    assert suite.speed == {"autocast": None, "autocast_tolerance": 2.0**-3, "autocast_sum_tolerance": 2.0**-5,
                           "channels_last": False,
                           "inference_mode": False, "memory_chunks": False, "compile": False}
    assert not Speed.from_dict(suite.speed).active
    on = parse_suite({**tiny_suite, "speed": {"autocast": "bfloat16", "channels_last": True}})
    assert Speed.from_dict(on.speed) == Speed(autocast="bfloat16", channels_last=True)


@pytest.mark.parametrize("speed, needle", [
    ({"autocast": "bf16"}, "speed.autocast: 'bf16' is not allowed; allowed: None | 'bfloat16' | 'float16'"),
    ({"channels_last": "yes"}, "speed.channels_last: 'yes' has type str; expected bool"),
    ({"autocast_tolerance": 0}, "speed.autocast_tolerance: 0.0 is out of range"),
    ({"fast": True}, "speed.fast: unknown key"),
    ("on", "speed: expected a mapping"),
])
def test_speed_section_bad_values_are_one_line_each(tiny_suite, speed, needle):
    with pytest.raises(SuiteError) as err:
        parse_suite({**tiny_suite, "speed": speed})
    assert any(line.startswith(needle) for line in err.value.problems), err.value.problems


def test_autocast_needs_float32(tiny_suite):
    with pytest.raises(SuiteError, match="speed.autocast: 'bfloat16' needs dtype float32"):
        parse_suite({**tiny_suite, "dtype": "float64", "speed": {"autocast": "bfloat16"}})


def test_describe_suite_lists_the_speed_fields():
    text = describe_entry("suite")
    for key in ("speed.autocast", "speed.autocast_tolerance", "speed.channels_last", "speed.inference_mode",
                "speed.memory_chunks", "speed.compile"):
        assert key in text, key


# ---- autocast and its guard ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("method, params", [("saliency", {}), ("input_x_gradient", {}),
                                            ("integrated_gradients", {"n_steps": 16}), ("grad_cam", {})])
def test_autocast_attributions_are_float32_and_within_the_guard(convnet, dtype, method, params):
    model, x, t = convnet
    exact = attribute(model, x, t, method, **params)
    errors: dict[str, dict[str, float]] = {}
    amp = precision.guarded(lambda: attribute(model, x, t, method, **params), Speed(autocast=dtype), CPU,
                            seed=0, key="m", errors=errors)
    assert amp.dtype == torch.float32
    err, total = precision.relative_error(amp, exact), precision.sum_error(amp, exact)
    assert errors["m"] == pytest.approx({"autocast_rel_error": err, "autocast_sum_error": total})
    # lowered precision really ran (an autocast that did nothing would pass any guard) ...
    assert err > 0
    # ... and stays inside the guard's default tolerances (measured here: at most 0.06 and 0.003)
    assert err <= precision.AUTOCAST_TOLERANCE and total <= precision.AUTOCAST_SUM_TOLERANCE


def test_autocast_model_outputs_stay_float32(convnet):
    model, x, _ = convnet
    twin = copy.deepcopy(model)
    precision.prepare_model(twin, Speed(autocast="bfloat16"))
    with precision.autocast(Speed(autocast="bfloat16"), CPU):
        inner = twin[:2](x)
        out = twin(x)
    assert inner.dtype == torch.bfloat16 and out.dtype == torch.float32  # lowered inside, float32 at the output
    assert precision.relative_error(out, model(x)) <= precision.AUTOCAST_SUM_TOLERANCE


@pytest.mark.parametrize("field", ["autocast_tolerance", "autocast_sum_tolerance"])
def test_autocast_guard_refuses_beyond_either_tolerance(convnet, field):
    model, x, t = convnet
    speed = Speed(autocast="bfloat16", **{field: 1e-6})
    what = "attributions" if field == "autocast_tolerance" else "attribution totals"
    with pytest.raises(PrecisionError, match=rf"^speed.autocast: m's {what} under bfloat16 differ from float32 by "
                                             rf".* > {field} 1e-06"):
        precision.guarded(lambda: attribute(model, x, t, "saliency"), speed, CPU, seed=0, key="m", errors={})


def test_guard_checks_only_the_first_batch_of_a_pair(digits):
    model, x, t = digits
    calls = []

    def call():
        calls.append(torch.is_autocast_enabled("cpu"))
        return attribute(model, x, t, "saliency")

    errors: dict[str, dict[str, float]] = {}
    speed = Speed(autocast="bfloat16", autocast_tolerance=1.0, autocast_sum_tolerance=1.0)
    precision.guarded(call, speed, CPU, seed=0, key="m", errors=errors)
    precision.guarded(call, speed, CPU, seed=0, key="m", errors=errors)
    assert calls == [False, True, True]  # float32 once, then autocast only
    assert precision.guarded(call, Speed(), CPU, seed=0, key="m", errors=errors) is not None
    assert calls[-1] is False


def test_relative_error():
    a = torch.tensor([3.0, 4.0])
    assert precision.relative_error(a, a) == 0.0
    assert precision.relative_error(a * 1.5, a) == pytest.approx(0.5)
    assert precision.relative_error(torch.zeros(2), torch.zeros(2)) == 0.0


def _untied(digits):
    """The digits with 1e-3 noise: their flat backgrounds give exactly tied conv outputs in max-pool windows,
    and a kernel that rounds another way may break a tie the other way, moving a gradient inside its window
    (an O(1) local change, 1.7e-4 relative here). Untied inputs measure the reordering of float32 sums alone."""
    model, x, t = digits
    return model, x + 1e-3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0)), t


# ---- channels-last ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "grad_cam"])
def test_channels_last_gives_the_same_attributions(digits, method):
    model, x, t = _untied(digits)
    speed = Speed(channels_last=True)
    twin = precision.prepare_model(_twin(model), speed)
    xc = precision.prepare_inputs(x, speed)
    conv = next(m for m in twin.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert xc.is_contiguous(memory_format=torch.channels_last) and torch.equal(xc, x)
    assert precision.relative_error(attribute(twin, xc, t, method), attribute(model, x, t, method)) <= REORDER_RTOL


def test_channels_last_leaves_non_image_inputs_and_dense_models_alone():
    speed = Speed(channels_last=True)
    v = torch.randn(4, 7)
    assert precision.prepare_inputs(v, speed) is v
    dense = torch.nn.Sequential(torch.nn.Linear(7, 3))
    assert not precision.has_conv(precision.prepare_model(dense, speed))


# ---- inference mode ----------------------------------------------------------------------------------------
def test_inference_mode_curves_and_accuracy_are_identical(digits):
    model, x, t = digits
    a = attribute(model, x, t, "saliency")
    seen = []
    handle = model.register_forward_hook(lambda *_: seen.append(torch.is_inference_mode_enabled()))

    def all_of() -> list[torch.Tensor]:
        out = [*deletion(model, x, t, a, steps=8, return_curves=True), *insertion(model, x, t, a, steps=8,
                                                                                  return_curves=True)]
        return [v for o in out for v in (o.values() if isinstance(o, dict) else [o])] + list(
            accuracy(model, x, t).values())

    try:
        ref = all_of()
        with precision.using(Speed(inference_mode=True)):
            fast = all_of()
    finally:
        handle.remove()
    assert True in seen and False in seen  # the forward passes really ran under inference mode
    assert len(ref) == len(fast) >= 5
    for r, f in zip(ref, fast):
        assert torch.equal(r, f)
        assert not f.is_inference()  # results stay usable outside inference mode


# ---- chunks from free memory -------------------------------------------------------------------------------
class FakeCuda:
    """Stands in for torch.cuda's memory queries: a device with ``free`` bytes where each item costs ``item``."""

    def __init__(self, monkeypatch, free: int, item: int = 0, reserved_unused: int = 0):
        self.free, self.item, self.base, self.peak = free, item, 1000, 1000
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (self.free, 10 * self.free))
        monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: self.base + reserved_unused)
        monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: self.base)
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: self.peak)
        monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: None)
        monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)

    def run(self, start: int, stop: int) -> None:
        self.peak = max(self.peak, self.base + self.item * (stop - start))


def test_chunk_for_memory_uses_the_free_memory(monkeypatch):
    FakeCuda(monkeypatch, free=10_000, reserved_unused=2_000)
    # 80 % of (10,000 free + 2,000 cached) at 100 bytes an item
    assert batching.chunk_for_memory(100, limit=10_000) == 96
    assert batching.chunk_for_memory(100, limit=50) == 50
    assert batching.chunk_for_memory(1e9, limit=50) == 1  # never below one item
    assert batching.chunk_for_memory(0, limit=50) == 50  # no estimate: the limit


def test_chunk_for_memory_on_cpu_returns_the_limit(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert batching.chunk_for_memory(100, limit=64) == 64


def test_for_chunks_grows_chunks_from_the_first_chunks_peak(monkeypatch):
    fake = FakeCuda(monkeypatch, free=100_000, item=100)
    done = []

    def fn(start, stop):
        fake.run(start, stop)
        done.append((start, stop))

    with batching.memory_sized():
        stats = batching.for_chunks(fn, 2000, max_batch=100)
    # first chunk at max_batch, then 0.8 * 100,000 / 100 = 800 items a chunk
    assert [b - a for a, b in done] == [100, 800, 800, 300]
    assert stats.chunk_size == 800 and sum(b - a for a, b in done) == 2000
    done.clear()
    batching.for_chunks(fn, 2000, max_batch=100)  # outside the block: the fixed budget
    assert {b - a for a, b in done} == {100}


def test_for_chunks_keeps_the_budget_when_no_device_memory_was_used(monkeypatch):
    fake = FakeCuda(monkeypatch, free=100_000, item=0)  # e.g. device: cpu on a machine that has CUDA
    sizes = []
    with batching.memory_sized():
        batching.for_chunks(lambda a, b: (fake.run(a, b), sizes.append(b - a)), 300, max_batch=100)
    assert sizes == [100, 100, 100]


def test_memory_chunks_change_nothing_on_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    sizes = []
    with precision.using(Speed(memory_chunks=True)):
        batching.for_chunks(lambda a, b: sizes.append(b - a), 300, max_batch=100)
    assert sizes == [100, 100, 100]


# ---- torch.compile --------------------------------------------------------------------------------------------
def test_compile_is_in_place_and_keeps_module_names():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU())
    names = [n for n, _ in model.named_modules()]
    out = precision.prepare_model(model, Speed(compile=True))
    assert out is model and [n for n, _ in out.named_modules()] == names  # Grad-CAM layer names still resolve


@pytest.mark.slow
def test_compiled_model_gives_the_same_attributions(digits):
    model, x, t = _untied(digits)
    twin = precision.prepare_model(_twin(model), Speed(compile=True))
    for method in ("saliency", "input_x_gradient"):
        # inductor fuses and reorders float32 work: the reordering tolerance
        assert precision.relative_error(attribute(twin, x, t, method), attribute(model, x, t, method)) <= REORDER_RTOL


# ---- end to end: rows and manifest record the options ---------------------------------------------------------
def _suite(tiny_suite, **speed):
    return {**tiny_suite, "models": [{"name": "digits_cnn"}], "methods": ["saliency", "input_x_gradient"],
            "metrics": ["completeness", {"name": "deletion", "steps": 8}], **({"speed": speed} if speed else {})}


def test_run_records_the_options_and_matches_float32(tiny_suite, tmp_path):
    ref = read_results(run_suite(parse_suite(_suite(tiny_suite)), tmp_path / "ref", progress=False, echo=None,
                                 report=False))
    # the guard's default is exercised above; here a loose one, so the test is about what the rows record
    out = run_suite(parse_suite(_suite(tiny_suite, autocast="bfloat16", autocast_tolerance=0.5, channels_last=True,
                                       inference_mode=True)),
                    tmp_path / "fast", progress=False, echo=None, report=False)
    fast = read_results(out)
    assert "speed" not in json.loads(ref["model_params"].iloc[0])
    assert "autocast_rel_error" not in json.loads(ref["method_params"].iloc[0])
    for mp, mep in zip(fast["model_params"], fast["method_params"]):
        speed = json.loads(mp)["speed"]
        assert speed["autocast"] == "bfloat16" and speed["channels_last"] and speed["inference_mode"]
        measured = json.loads(mep)
        assert 0 < measured["autocast_rel_error"] <= 0.5
        assert 0 <= measured["autocast_sum_error"] <= precision.AUTOCAST_SUM_TOLERANCE
    manifest = json.loads((Path(out) / "manifest.json").read_text())
    assert manifest["speed"]["autocast"] == "bfloat16"
    assert set(manifest["autocast_errors"]) == {"digits_cnn/saliency", "digits_cnn/input_x_gradient"}
    key = ["method", "metric", "stat", "sample", "point", "batch"]
    merged = ref.merge(fast, on=key, suffixes=("_ref", "_fast"))
    assert len(merged) == len(ref) == len(fast)
    auc = merged[merged["stat"] == "auc"]
    # a deletion AUC is a mean of softmax scores in [0, 1]: bf16 logits move it by a few roundoffs at most
    assert (auc["value_ref"] - auc["value_fast"]).abs().max() <= 2 * precision.AUTOCAST_TOLERANCE


def test_cli_refuses_a_failed_guard_in_one_line(tiny_suite, tmp_path, capsys):
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_suite(tiny_suite, autocast="bfloat16", autocast_tolerance=1e-6)))
    code = main(["run", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "speed.autocast: digits_cnn/saliency's attributions under bfloat16 differ" in err[0]
