"""Opt-in speed options: autocast with a fidelity guard, channels-last, inference mode, chunks
sized from free device memory, and torch.compile.

Every option is off by default, set in a suite's ``speed`` section (fields and meanings in
:data:`SPEED_FIELDS`) or through :class:`Speed` in the API, and recorded with every
result row (``model_params["speed"]`` when any option is on).  The runner needs only:
:func:`using` around the run, :func:`prepare_model` / :func:`prepare_inputs` once each,
:func:`guarded` around ``attribute()`` and :func:`autocast` around metric calls.

The fidelity guard (first batch of each (model, method): float32 and autocast from the same seed) holds two
numbers, both recorded in the rows' ``method_params`` and the manifest:

* ``autocast_rel_error`` = ||A_amp - A_fp32|| / ||A_fp32||, at most ``autocast_tolerance`` (default 2^-3).
  bfloat16 keeps an 8-bit significand: one rounding errs by at most u = 2^-8.  A gradient passes about six
  roundings per layer (activations, weights and output gradients, forward and backward; the sums themselves
  accumulate in float32), and a pre-activation within a few u of a ReLU's zero or of a max-pool tie sends its
  gradient down another route, which moves single pixels by their whole value.  Measured on the committed
  digits_cnn (16 test digits, CPU): 0.094 saliency, 0.105 input x gradient, 0.085 IG-16, 0.003 Grad-CAM
  (float16: 0.035, 0.041, 0.036, 0.0004); a 3-conv net without max-pool: 0.05.  32u = 2^-3 admits that
  routing noise and refuses what is broken (float16 overflow to inf, a path method whose small differences
  vanish in bf16).
* ``autocast_sum_error`` = relative error of the per-sample totals sum(A_i) (the number completeness compares
  with F(x) - F(x')), at most ``autocast_sum_tolerance`` (default 2^-5 = 8u).  Routing noise is zero-mean and
  cancels in a total (measured 3e-4 to 3e-3 above), so 2^-5 is generous for sound runs, yet it is under half
  of the smallest completeness gap of a non-exact method in the committed runs (input x gradient, 0.067
  relative gap on digits_cnn), so completeness still separates such methods.  Gaps below it (IG's 0.003) are
  not resolved under autocast; the rows carry the measured error so a reader can tell.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch

from . import batching
from .errors import XBenchError
from .registry import ParamSpec

# Each option changes how fast, never what is computed beyond a stated tolerance; the suite's ``speed``
# section is validated against these fields and rows record them in model_params["speed"] when any is on.
SPEED_FIELDS: dict[str, ParamSpec] = {s.name: s for s in (
    ParamSpec("autocast", None, choices=(None, "bfloat16", "float16"),
              doc="run forward/backward passes under torch.autocast in this type (attributions stay float32); "
                  "null = off; refused when the first batch's attribution error exceeds autocast_tolerance"),
    ParamSpec("autocast_tolerance", 2.0**-3, (float,), low=1e-6, high=1.0,
              doc="largest relative error ||A_amp - A_fp32|| / ||A_fp32|| accepted on the first batch of each "
                  "(model, method); default 2^-3 = 32 bf16 roundoffs (pointwise: ReLU/max-pool routing flips)"),
    ParamSpec("autocast_sum_tolerance", 2.0**-5, (float,), low=1e-6, high=1.0,
              doc="largest relative error of the per-sample attribution totals (what completeness reads) on that "
                  "batch; default 2^-5, under half the smallest non-exact completeness gap reported (0.067)"),
    ParamSpec("channels_last", False, (bool,), doc="channels-last memory format for convolutional models and "
              "their image inputs (same numbers up to float reordering)"),
    ParamSpec("inference_mode", False, (bool,), doc="forward-only passes (deletion/insertion, accuracy) under "
              "torch.inference_mode instead of no_grad (same numbers)"),
    ParamSpec("memory_chunks", False, (bool,), doc="on CUDA, size chunks from free device memory (measured on "
              "the first chunk) instead of the fixed max_batch; OOM halving stays the backstop; no effect on CPU"),
    ParamSpec("compile", False, (bool,), doc="torch.compile the model in place (slow first batch; hooked methods "
              "such as grad_cam may recompile)"),
)}

AUTOCAST_TOLERANCE: float = SPEED_FIELDS["autocast_tolerance"].default
"""Default largest accepted relative attribution error under autocast (see the module docstring)."""
AUTOCAST_SUM_TOLERANCE: float = SPEED_FIELDS["autocast_sum_tolerance"].default
"""Default largest accepted relative error of the per-sample attribution totals under autocast."""


class PrecisionError(XBenchError):
    """The autocast attribution differs from float32 by more than the tolerance (a one-line user error)."""


@dataclass(frozen=True)
class Speed:
    """The speed options of a run; field meanings in :data:`SPEED_FIELDS`."""

    autocast: str | None = SPEED_FIELDS["autocast"].default
    autocast_tolerance: float = AUTOCAST_TOLERANCE
    autocast_sum_tolerance: float = AUTOCAST_SUM_TOLERANCE
    channels_last: bool = SPEED_FIELDS["channels_last"].default
    inference_mode: bool = SPEED_FIELDS["inference_mode"].default
    memory_chunks: bool = SPEED_FIELDS["memory_chunks"].default
    compile: bool = SPEED_FIELDS["compile"].default

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None) -> Speed:
        """A :class:`Speed` from a validated suite ``speed`` mapping (missing keys: defaults)."""
        return cls(**{k: v for k, v in (options or {}).items() if k in SPEED_FIELDS})

    @property
    def active(self) -> bool:
        """Whether any option is on (the tolerance alone changes nothing)."""
        return bool(self.autocast or self.channels_last or self.inference_mode or self.memory_chunks
                    or self.compile)

    def recorded(self) -> dict[str, Any]:
        """The options as plain data for a result row or the manifest."""
        out = asdict(self)
        if not self.autocast:
            out.pop("autocast_tolerance")
            out.pop("autocast_sum_tolerance")
        return out


_current: contextvars.ContextVar[Speed | None] = contextvars.ContextVar("xbench_speed", default=None)


def current() -> Speed:
    """The options in force (set by :func:`using`; defaults outside it)."""
    return _current.get() or Speed()


@contextlib.contextmanager
def using(speed: Speed) -> Iterator[Speed]:
    """Put ``speed`` in force inside the block (forward-only mode and memory-sized chunks read it)."""
    token = _current.set(speed)
    try:
        with batching.memory_sized(speed.memory_chunks):
            yield speed
    finally:
        _current.reset(token)


def forward_only() -> contextlib.AbstractContextManager:
    """The context for forward-only passes: ``torch.inference_mode()`` when the option is on, else ``no_grad``.

    Safe where the outputs only feed scores (never a backward pass nor an in-place update outside the block)."""
    return torch.inference_mode() if current().inference_mode else torch.no_grad()


def autocast(speed: Speed, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on ``device``'s type in the option's dtype, or a no-op when autocast is off."""
    if not speed.autocast:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=getattr(torch, speed.autocast))


def has_conv(model: torch.nn.Module) -> bool:
    """Whether ``model`` holds a 2-d convolution (the layers channels-last speeds up)."""
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def _float_outputs(_module: torch.nn.Module, _inputs: Any, out: Any) -> Any:
    if isinstance(out, torch.Tensor) and out.dtype in (torch.bfloat16, torch.float16):
        return out.float()
    return None


def prepare_model(model: torch.nn.Module, speed: Speed) -> torch.nn.Module:
    """``model`` (same object) in channels-last when asked and convolutional, compiled in place when asked;
    under autocast its outputs are returned in float32 (so every metric scores, sums and stores in float32)."""
    if speed.autocast:
        model.register_forward_hook(_float_outputs)
    if speed.channels_last and has_conv(model):
        model.to(memory_format=torch.channels_last)
    if speed.compile:
        model.compile()  # in place: module names (Grad-CAM layers, hooks) stay as they were
    return model


def prepare_inputs(x: torch.Tensor, speed: Speed) -> torch.Tensor:
    """Image batches ([N, C, H, W]) in channels-last when asked; anything else unchanged (same values)."""
    if speed.channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """``||approx - exact|| / ||exact||`` (Frobenius, computed in float64; 0 when both are zero)."""
    a, e = approx.detach().double(), exact.detach().double()
    den = float(e.norm())
    num = float((a - e).norm())
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den


def sum_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """Relative error of the per-sample totals: :func:`relative_error` of ``approx.sum`` vs ``exact.sum`` over
    every dimension but the first (the quantity completeness compares with the change of the output)."""
    return relative_error(approx.detach().double().flatten(1).sum(1), exact.detach().double().flatten(1).sum(1))


def _attributions(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


def guarded(call: Callable[[], Any], speed: Speed, device: torch.device, *, seed: int, key: str,
            errors: dict[str, dict[str, float]]) -> Any:
    """Run ``call`` (an attribution; returns a tensor or ``(tensor, info)``) under autocast when on.

    The first time ``key`` (a model/method label) is seen, the attribution is also computed in float32
    from the same seed; ``errors[key]`` gets ``{"autocast_rel_error": ..., "autocast_sum_error": ...}``
    (see the module docstring), and :class:`PrecisionError` is raised when one exceeds its tolerance.
    Returns what ``call`` returns under autocast.
    """
    if not speed.autocast:
        return call()
    exact = None
    if key not in errors:
        torch.manual_seed(seed)
        exact = call()
    torch.manual_seed(seed)
    with autocast(speed, device):
        out = call()
    if exact is not None:
        amp, ref = _attributions(out), _attributions(exact)
        got = {"autocast_rel_error": relative_error(amp, ref), "autocast_sum_error": sum_error(amp, ref)}
        errors[key] = got
        for value, tol, field in ((got["autocast_rel_error"], speed.autocast_tolerance, "autocast_tolerance"),
                                 (got["autocast_sum_error"], speed.autocast_sum_tolerance, "autocast_sum_tolerance")):
            if not value <= tol:
                what = "attributions" if field == "autocast_tolerance" else "attribution totals"
                raise PrecisionError(f"speed.autocast: {key}'s {what} under {speed.autocast} differ from float32 by "
                                     f"{value:.3g} (relative, first batch) > {field} {tol:g}; use autocast: null, "
                                     f"float16, or raise the tolerance")
    return out
