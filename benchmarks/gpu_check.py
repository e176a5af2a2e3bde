"""The prepared GPU check: throughput of every expensive path against its physical limit, in one call.

    python benchmarks/gpu_check.py           # on a CUDA machine: ResNet-50, VGG16, EfficientNet-Lite0 at 224 px
    python benchmarks/gpu_check.py --tiny    # anywhere: a CIFAR ResNet-20 at 32 px, few steps (the test runs it)

Writes ``results/timing_<device>/`` (or ``--out``; ``--tiny`` without ``--out``: a temporary folder):
``gpu_check.json`` (every row with its settings, the device name, versions), ``gpu_check.csv`` and
``gpu_check.md``. One row per (model, what, implementation):
images per second, the ratio of its time to its limit, peak device memory and the chunk sizes xbench chose.

The limit of a method is ``passes`` forward+backward passes per image (X-Gradient: 1; IG-n: n; EG-k: k);
of a perturbation metric, ``forwards`` forward passes per image. Both limits are measured on the same
model, batch layout and device in the same call. Timing: one warm-up call, then the median of up to
``--reps`` calls (each synchronised), stopped early when a case has used its time share.
Captum and Quantus rows appear when those packages import; their absence is recorded, never fatal.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout without installing
    sys.path.insert(0, str(ROOT))

import xbench  # noqa: E402
import xbench.models  # noqa: E402,F401
from xbench import batching, precision  # noqa: E402
from xbench.metrics import deletion, insertion, max_sensitivity  # noqa: E402


@dataclass
class Config:
    """Sizes of one check: ``full`` for a GPU, ``tiny`` for a CPU smoke run."""

    models: list[tuple[str, str | None]]  # (registry name, its bias-free twin built with x=True for X-Gradient)
    size: int
    batch: int  # images per call for single-pass work
    path_images: int  # images per call for multi-pass work (IG, EG, Split IG, max-sensitivity)
    ig_steps: tuple[int, ...]
    split_steps: int
    eg_k: tuple[int, ...]
    curve_steps: int  # deletion/insertion steps (RISE: 224 of 224 px)
    curve_images: int
    quantus_images: int
    quantus_steps: int
    sens_samples: int
    captum_batches: tuple[int, ...]
    max_batch: int  # xbench's chunk budget (model inputs per pass)
    prior_batch: int
    prior_size: int
    prior_k: tuple[int, ...]  # Expected Gradients prior draws per sample
    reps: int
    case_seconds: float
    compile_cases: bool = False  # torch.compile rows (its first call compiles for tens of seconds)


FULL = Config(models=[("resnet50", "xfixup_resnet50"), ("vgg16", "xvgg16"), ("efficientnet_lite0", None)], size=224,
              batch=64, path_images=4, ig_steps=(50, 128), split_steps=200, eg_k=(1, 32), curve_steps=224,
              curve_images=8, quantus_images=2, quantus_steps=98, sens_samples=10, captum_batches=(64, 256),
              max_batch=256, prior_batch=128, prior_size=32, prior_k=(1, 8, 32), reps=5, case_seconds=12.0,
              compile_cases=True)
TINY = Config(models=[("cifar_resnet20", "cifar_resnet20")], size=32, batch=4, path_images=2, ig_steps=(4,),
              split_steps=8, eg_k=(1, 2), curve_steps=8, curve_images=2, quantus_images=1, quantus_steps=4,
              sens_samples=2, captum_batches=(8,), max_batch=16, prior_batch=4, prior_size=16, prior_k=(1,),
              reps=1, case_seconds=2.0)


@dataclass
class Row:
    model: str
    what: str
    impl: str
    images: int
    seconds: float
    images_per_s: float
    limit_seconds: float | None = None
    ratio_to_limit: float | None = None
    peak_mem_mib: float | None = None
    chunk_sizes: list[int] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, reps: int, budget: float) -> tuple[float, list[int]]:
    """Median wall time (s) of ``fn`` after one warm-up call; also the chunk sizes xbench chose in the last call."""
    with batching.record() as events:
        fn()
    sync(device)
    times: list[float] = []
    spent = 0.0
    for _ in range(reps):
        with batching.record() as events:
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            times.append(time.perf_counter() - t0)
        spent += times[-1]
        if spent > budget:
            break
    return statistics.median(times), sorted({e.chunk_size for e in events})


class Check:
    """Runs the cases of one :class:`Config` on one device and collects :class:`Row` s."""

    def __init__(self, cfg: Config, device: torch.device, echo: Callable[[str], None] = print):
        self.cfg = cfg
        self.device = device
        self.echo = echo
        self.rows: list[Row] = []

    # ---- one measurement ----------------------------------------------------------------------------
    def measure(self, model: str, what: str, impl: str, images: int, fn: Callable[[], object],
                limit: float | None = None, **settings: Any) -> Row:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        try:
            seconds, chunks = median_seconds(fn, self.device, self.cfg.reps, self.cfg.case_seconds)
            error = None
        except Exception as err:  # noqa: BLE001 - one failing case is a row with its error, not a failed check
            seconds, chunks, error = math.nan, [], f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
        peak = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.type == "cuda" else None
        row = Row(model=model, what=what, impl=impl, images=images, seconds=seconds,
                  images_per_s=images / seconds if seconds > 0 else math.nan, limit_seconds=limit,
                  ratio_to_limit=seconds / limit if limit and seconds == seconds else None, peak_mem_mib=peak,
                  chunk_sizes=chunks, settings=settings, error=error)
        self.rows.append(row)
        ratio = f"{row.ratio_to_limit:.2f}x limit" if row.ratio_to_limit is not None else ""
        self.echo(f"  {model:>20} {what:<28} {impl:<8} {row.images_per_s:10.1f} img/s {ratio}"
                  + (f"  [{error}]" if error else ""))
        return row

    # ---- the cases ----------------------------------------------------------------------------------
    def run(self) -> list[Row]:
        for name, x_name in self.cfg.models:
            try:
                model = self.build(name, x=False)
            except Exception as err:  # noqa: BLE001 - a model that is not installed is skipped, and said so
                self.rows.append(Row(model=name, what="build", impl="xbench", images=0, seconds=math.nan,
                                     images_per_s=math.nan, error=f"{type(err).__name__}: {err}"[:300]))
                self.echo(f"  {name}: skipped ({err})")
                continue
            self.model_cases(name, model, x_name)
            del model
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
        self.prior_cases()
        return self.rows

    def build(self, name: str, x: bool) -> torch.nn.Module:
        kwargs: dict[str, Any] = {"x": x} if x else {}
        if name != "efficientnet_lite0":
            kwargs["weights"] = None  # random weights: speed does not depend on them, and nothing is downloaded
        model = xbench.models.create(name, **kwargs).to(self.device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    def inputs(self, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 3, self.cfg.size, self.cfg.size, generator=gen).to(self.device)
        return x, torch.zeros(n, dtype=torch.long, device=self.device)

    def model_cases(self, name: str, model: torch.nn.Module, x_name: str | None) -> None:
        cfg = self.cfg
        x, t = self.inputs(cfg.batch)

        def forward() -> None:
            with torch.no_grad():
                model(x)

        def forward_backward() -> None:
            inp = x.detach().requires_grad_(True)
            torch.autograd.grad(model(inp).gather(1, t[:, None]).sum(), inp)

        fwd = self.measure(name, "forward", "torch", cfg.batch, forward, batch=cfg.batch)
        fb = self.measure(name, "forward+backward", "torch", cfg.batch, forward_backward, batch=cfg.batch)
        per_fwd = fwd.seconds / cfg.batch
        per_fb = fb.seconds / cfg.batch
        self.measure(name, "input_x_gradient", "xbench", cfg.batch,
                     lambda: xbench.attribute(model, x, t, "input_x_gradient"), limit=per_fb * cfg.batch,
                     batch=cfg.batch)
        if x_name is not None:
            xmodel = self.build(x_name, x=True)
            xlabel = x_name if x_name != name else f"x{name}"
            # the limit of X-Gradient is one forward+backward of the X-model itself
            xfb = self.measure(xlabel, "forward+backward", "torch", cfg.batch,
                               lambda: torch.autograd.grad(
                                   xmodel(xi := x.detach().requires_grad_(True)).gather(1, t[:, None]).sum(), xi),
                               batch=cfg.batch)
            self.measure(xlabel, "x_gradient", "xbench", cfg.batch,
                         lambda: xbench.attribute(xmodel, x, t, "x_gradient"), limit=xfb.seconds, batch=cfg.batch)
            del xmodel
        captum = _try_import("captum.attr")
        if captum is not None:
            ixg = captum.InputXGradient(model)
            self.measure(name, "input_x_gradient", "captum", cfg.batch, lambda: ixg.attribute(x, target=t),
                         limit=per_fb * cfg.batch, batch=cfg.batch)
        xp, tp = self.inputs(cfg.path_images, seed=1)
        n = cfg.path_images
        for steps in cfg.ig_steps:
            self.measure(name, f"integrated_gradients-{steps}", "xbench", n,
                         lambda s=steps: xbench.attribute(model, xp, tp, "integrated_gradients", n_steps=s,
                                                          max_batch=cfg.max_batch),
                         limit=per_fb * n * steps, n_steps=steps, rule="gausslegendre", max_batch=cfg.max_batch)
            if captum is not None:
                ig = captum.IntegratedGradients(model)
                best = None
                for ib in cfg.captum_batches:
                    row = self.measure(name, f"integrated_gradients-{steps}", "captum", n,
                                       lambda s=steps, b=ib, ig=ig: ig.attribute(xp, target=tp, n_steps=s,
                                                                          method="gausslegendre",
                                                                          internal_batch_size=b),
                                       limit=per_fb * n * steps, n_steps=steps, internal_batch_size=ib)
                    best = row if best is None or (row.seconds < best.seconds) else best
                if best is not None:
                    best.settings["best_internal_batch_size"] = True
        self.measure(name, f"split_ig-{cfg.split_steps}", "xbench", n,
                     lambda: xbench.attribute(model, xp, tp, "split_ig", n_steps=cfg.split_steps,
                                              max_batch=cfg.max_batch),
                     limit=per_fb * n * cfg.split_steps, n_steps=cfg.split_steps, max_batch=cfg.max_batch)
        refs, _ = self.inputs(max(cfg.eg_k) * 2, seed=2)
        for k in cfg.eg_k:
            self.measure(name, f"expected_gradients-k{k}", "xbench", n,
                         lambda kk=k: xbench.attribute(model, xp, tp, "expected_gradients", k=kk, references=refs,
                                                       max_batch=cfg.max_batch),
                         limit=per_fb * n * k, k=k, max_batch=cfg.max_batch)
        self.curve_cases(name, model, per_fwd)
        self.sensitivity_cases(name, model, per_fb)
        self.speed_cases(name, model)

    def curve_cases(self, name: str, model: torch.nn.Module, per_fwd: float) -> None:
        cfg = self.cfg
        xc, tc = self.inputs(cfg.curve_images, seed=3)
        # a curve's cost does not depend on the ranking; random maps avoid the exact zeros of a zero-initialised
        # (Fixup) head, which Quantus refuses
        attr = torch.rand(xc.shape, generator=torch.Generator().manual_seed(6)).to(self.device)
        n, steps = cfg.curve_images, cfg.curve_steps

        def both() -> None:
            deletion(model, xc, tc, attr, steps=steps, max_batch=cfg.max_batch)
            insertion(model, xc, tc, attr, steps=steps, max_batch=cfg.max_batch)

        # deletion and insertion each score steps + 1 images per input
        self.measure(name, f"deletion+insertion-{steps}", "xbench", n, both, limit=per_fwd * n * 2 * (steps + 1),
                     steps=steps, max_batch=cfg.max_batch)
        quantus = _try_import("quantus")
        if quantus is None:
            return
        nq, qsteps = cfg.quantus_images, cfg.quantus_steps
        xq = xc[:nq].detach().cpu().numpy()
        yq = tc[:nq].cpu().numpy()
        aq = attr[:nq].sum(1, keepdim=True).detach().cpu().numpy()
        per_step = math.ceil(cfg.size * cfg.size / qsteps)
        pf = quantus.PixelFlipping(features_in_step=per_step, perturb_baseline="black", disable_warnings=True,
                                   display_progressbar=False)
        self.measure(name, f"deletion-{qsteps}", "quantus", nq,
                     lambda: pf(model=model, x_batch=xq, y_batch=yq, a_batch=aq, device=str(self.device)),
                     limit=per_fwd * nq * (qsteps + 1), steps=qsteps)
        self.measure(name, f"deletion-{qsteps}", "xbench", nq,
                     lambda: deletion(model, xc[:nq], tc[:nq], attr[:nq], steps=qsteps, max_batch=cfg.max_batch),
                     limit=per_fwd * nq * (qsteps + 1), steps=qsteps)

    def sensitivity_cases(self, name: str, model: torch.nn.Module, per_fb: float) -> None:
        cfg = self.cfg
        xs, ts = self.inputs(cfg.path_images, seed=4)
        n, k = cfg.path_images, cfg.sens_samples
        self.measure(name, f"max_sensitivity-{k}", "xbench", n,
                     lambda: max_sensitivity(model, xs, ts, method="saliency", n_samples=k, max_batch=cfg.max_batch),
                     limit=per_fb * n * (k + 1), n_samples=k, method="saliency")
        captum_metrics = _try_import("captum.metrics")
        captum = _try_import("captum.attr")
        if captum_metrics is not None and captum is not None:
            sal = captum.Saliency(model)
            self.measure(name, f"max_sensitivity-{k}", "captum", n,
                         lambda: captum_metrics.sensitivity_max(sal.attribute, xs, target=ts, n_perturb_samples=k,
                                                                max_examples_per_batch=min(cfg.max_batch, n * k)),
                         limit=per_fb * n * (k + 1), n_samples=k, method="saliency")

    def speed_cases(self, name: str, model: torch.nn.Module) -> None:
        """The suite's speed options (xbench.precision) on the single-pass method and the curves.

        Each variant's limit is the same work with every option off, measured here, so ``ratio_to_limit`` < 1
        is a speed-up; ``settings`` carries the option and the attribution's relative error against float32."""
        import copy

        cfg = self.cfg
        x, t = self.inputs(cfg.batch, seed=7)
        xc, tc = self.inputs(cfg.curve_images, seed=8)
        attr = torch.rand(xc.shape, generator=torch.Generator().manual_seed(9)).to(self.device)
        steps = cfg.curve_steps
        variants: list[tuple[str, precision.Speed]] = [
            ("off", precision.Speed()), ("autocast_bf16", precision.Speed(autocast="bfloat16")),
            ("autocast_fp16", precision.Speed(autocast="float16")),
            ("channels_last", precision.Speed(channels_last=True)),
            ("inference_mode", precision.Speed(inference_mode=True)),
            ("memory_chunks", precision.Speed(memory_chunks=True)),
            ("all_but_compile", precision.Speed(autocast="bfloat16", channels_last=True, inference_mode=True,
                                                memory_chunks=True))]
        if cfg.compile_cases:
            variants.append(("compile", precision.Speed(compile=True)))
        exact = xbench.attribute(model, x, t, "input_x_gradient")
        base: dict[str, float] = {}
        for label, speed in variants:
            net = precision.prepare_model(copy.deepcopy(model), speed) if label != "off" else model
            xs, xcs = precision.prepare_inputs(x, speed), precision.prepare_inputs(xc, speed)

            def ixg(net=net, xs=xs, speed=speed) -> torch.Tensor:
                with precision.using(speed), precision.autocast(speed, self.device):
                    return xbench.attribute(net, xs, t, "input_x_gradient")

            def curves(net=net, xcs=xcs, speed=speed) -> None:
                with precision.using(speed), precision.autocast(speed, self.device):
                    deletion(net, xcs, tc, attr, steps=steps, max_batch=cfg.max_batch)
                    insertion(net, xcs, tc, attr, steps=steps, max_batch=cfg.max_batch)

            try:  # None: the float32 map is all zero (a zero-initialised Fixup head), nothing to compare
                err = precision.relative_error(ixg(), exact) if bool(exact.any()) else None
            except Exception as e:  # noqa: BLE001 - an option this device lacks is a row with its error
                err = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
            for what, fn, n in (("input_x_gradient", ixg, cfg.batch),
                                (f"deletion+insertion-{steps}", curves, cfg.curve_images)):
                row = self.measure(name, f"speed[{label}] {what}", "xbench", n, fn, limit=base.get(what),
                                   option=label, rel_error_vs_fp32=err if what == "input_x_gradient" else None,
                                   limit_is="the same work with every option off")
                if label == "off":
                    base[what] = row.seconds
            del net

    def prior_cases(self) -> None:
        """One training step with each attribution prior on a CIFAR-size ResNet (paper A §4.3's cost)."""
        from xbench.priors.attributions import prior_attribution
        from xbench.priors.penalties import smoothness

        cfg = self.cfg
        gen = torch.Generator().manual_seed(5)
        x = torch.randn(cfg.prior_batch, 3, cfg.prior_size, cfg.prior_size, generator=gen).to(self.device)
        y = torch.randint(10, (cfg.prior_batch,), generator=gen).to(self.device)
        refs = torch.randn(cfg.prior_batch, 3, cfg.prior_size, cfg.prior_size, generator=gen).to(self.device)
        limit = None
        priors = [("none", 0), ("gradient", 0), ("x_gradient", 0)] + [("expected_gradients", k) for k in cfg.prior_k]
        for prior, k in priors:
            # CIFAR-size Fixup ResNet-20: its bias-free twin is homogeneous, as the X-Gradient prior assumes
            net = xbench.models.create("cifar_resnet20", x=prior == "x_gradient", weights=None, num_classes=10)
            net = net.to(self.device).train()
            opt = torch.optim.SGD(net.parameters(), lr=1e-3)
            step_gen = torch.Generator(device=self.device).manual_seed(0)

            def step(net=net, opt=opt, prior=prior, k=k, step_gen=step_gen) -> None:
                opt.zero_grad(set_to_none=True)
                shared = prior in ("gradient", "x_gradient")
                xin = x.detach().requires_grad_(shared)
                out = net(xin)
                loss = torch.nn.functional.cross_entropy(out, y)
                if prior != "none":
                    a = prior_attribution(prior, net, xin, y, outputs=out if shared else None, references=refs,
                                          k=max(k, 1), generator=step_gen if self.device.type == "cuda" else None)
                    loss = loss + 0.1 * smoothness(a)
                loss.backward()
                opt.step()

            label = prior if not k else f"{prior}-k{k}"
            row = self.measure("cifar_resnet20", f"train_step[{label}]", "xbench", cfg.prior_batch, step,
                               limit=limit, prior=prior, k=k or None, batch=cfg.prior_batch, size=cfg.prior_size)
            if prior == "none":
                limit = row.seconds  # every prior's step is reported as a multiple of the plain step
            del net, opt


def _try_import(name: str):
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # noqa: BLE001 - an optional peer that is not installed
        return None


def device_label(device: torch.device) -> str:
    """The folder-safe name of the device: ``nvidia-h200``, ``cpu``."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def environment(device: torch.device) -> dict[str, Any]:
    env = {"device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
           else platform.processor() or platform.machine(), "torch": torch.__version__, "xbench": xbench.__version__,
           "python": platform.python_version(), "threads": torch.get_num_threads(),
           "cudnn_benchmark": torch.backends.cudnn.benchmark, "dtype": "float32"}
    for mod in ("captum", "quantus", "torchvision"):
        m = _try_import(mod)
        env[mod] = getattr(m, "__version__", "missing") if m is not None else "missing"
    return env


def markdown(rows: list[Row], env: dict[str, Any]) -> str:
    lines = [f"# GPU check on {env['device_name']}", "",
             f"torch {env['torch']}, captum {env['captum']}, quantus {env['quantus']}, fp32, "
             f"cudnn.benchmark={env['cudnn_benchmark']}. Ratio = time / limit (limit: passes x one forward+backward "
             "per image for methods, forwards x one forward for curves, the plain step for priors).", "",
             "| model | what | impl | images/s | ratio to limit | peak MiB | chunks | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r.ratio_to_limit:.2f}" if r.ratio_to_limit is not None else ""
        peak = f"{r.peak_mem_mib:.0f}" if r.peak_mem_mib is not None else ""
        note = r.error or ", ".join(f"{k}={v}" for k, v in r.settings.items())
        lines.append(f"| {r.model} | {r.what} | {r.impl} | {r.images_per_s:.1f} | {ratio} | {peak} | "
                     f"{' '.join(map(str, r.chunk_sizes))} | {note} |")
    return "\n".join(lines) + "\n"


def output_folder(out: str | None, tiny: bool, device: torch.device) -> Path:
    """``out``, else ``results/timing_<device>`` (the committed figures); the tiny smoke run is never a
    committed figure, so without ``out`` it writes to a temporary folder outside the checkout."""
    if out:
        return Path(out)
    if tiny:
        return Path(tempfile.gettempdir()) / "xbench-gpu-check-tiny"
    return ROOT / "results" / f"timing_{device_label(device)}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="small models and few steps (a CPU smoke run)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--out", default=None, help="output folder (default results/timing_<device>; with --tiny "
                    "a folder in the system's temporary directory)")
    ap.add_argument("--models", default=None, help="comma-separated subset of the configured models")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)  # Captum's "did not already require gradients"
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    cfg = TINY if args.tiny else FULL
    if args.models:
        keep = set(args.models.split(","))
        cfg = Config(**{**asdict(cfg), "models": [m for m in cfg.models if m[0] in keep]})
    out = output_folder(args.out, args.tiny, device)
    env = environment(device)
    print(f"gpu_check: {env['device_name']} ({'tiny' if args.tiny else 'full'}) -> {out}", flush=True)
    started = time.perf_counter()
    rows = Check(cfg, device, echo=lambda s: print(s, flush=True)).run()
    env["wall_seconds"] = round(time.perf_counter() - started, 1)
    env["config"] = "tiny" if args.tiny else "full"
    out.mkdir(parents=True, exist_ok=True)
    data = {"environment": env, "rows": [asdict(r) for r in rows]}
    (out / "gpu_check.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    import pandas as pd

    pd.DataFrame([{**{k: v for k, v in asdict(r).items() if k != "settings"}, "settings": json.dumps(r.settings)}
                  for r in rows]).to_csv(out / "gpu_check.csv", index=False)
    (out / "gpu_check.md").write_text(markdown(rows, env))
    print(f"gpu_check: {len(rows)} rows in {env['wall_seconds']} s; {sum(r.error is not None for r in rows)} errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
