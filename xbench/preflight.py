"""Preflight: everything a validated suite still needs checked against the data and the models, before any work.

:func:`xbench.suite.parse_suite` checks what the YAML says; :func:`preflight` checks what it means
on this machine, reading one input and building every model on PyTorch's ``meta`` device (shapes
only: no memory, no compute, no weights copied):

* the device exists (``mps``, ``cuda:N``);
* the data split opens; ``n_samples`` beyond its size is resolved to the number actually evaluated;
* every checkpoint is a readable file that fits its architecture (errors name ``models[i].weights``),
  torchvision weights are in the local cache or downloadable;
* one dry forward pass of one input through each model (a model that does not fit the data is
  named by field), and the model's outputs cover the data's classes;
* what each method and metric declares at registration holds: the data's kind is among its ``inputs``,
  what it ``consumes`` (masks) the data has, its data-bounded counts (steps, ns, windows) fit one input,
  a method that hooks modules runs on a hookable model, a homogeneous one on a homogeneous model, and
  the entry's own ``fits(model, data_info, params)`` check passes (Grad-CAM's layer fires);
* a memory estimate of the largest buffers before anything is allocated.

It fills in what planning needs: which models each method runs on (``MethodSpec.models``), the
pairs left out (``Suite.skipped``), and ``x``/``num_classes`` read from a checkpoint's config.
Every problem is one line; they are raised together as a :class:`~xbench.errors.SuiteError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from .errors import SuiteError, XBenchError
from .registry import data_kind
from .suite.schema import ModelSpec, Suite

log = logging.getLogger(__name__)

MEMORY_SHARE = 0.5  # refuse a run whose estimated buffers exceed this share of the device's memory


def preflight(suite: Suite) -> None:
    """Check ``suite`` against the data and the models (see the module docstring); raise SuiteError."""
    problems: list[str] = []
    _check_device(suite.device, problems)
    if problems:
        raise SuiteError(problems)
    x0, info, has_masks = _check_data(suite, problems)
    if x0 is None:
        raise SuiteError(problems)
    served = _served_data(suite, x0, info, problems)  # model label -> (one input, info) as that model receives it
    built = {m.label: _check_model(i, m, suite, *served[m.label], problems) if m.label in served else None
             for i, m in enumerate(suite.models)}
    if problems:
        raise SuiteError(problems)
    # data-bounded counts are checked against the smallest input any model receives
    small, small_info = min(served.values(), key=lambda s: s[0].numel())
    facts = data_facts(small, small_info, has_masks)
    _check_methods(suite, built, facts, problems)
    _check_metrics(suite, facts, built, problems)
    _check_memory(suite, {label: x for label, (x, _) in served.items()}, built, problems)
    if problems:
        raise SuiteError(problems)


# ---- device ---------------------------------------------------------------------------------------
def _check_device(device: str, problems: list[str]) -> None:
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        problems.append("device: 'mps' was asked for but this machine has no MPS (Apple GPU) backend; "
                        "use device: auto or cpu")
    elif device.startswith("cuda"):
        if not torch.cuda.is_available():
            problems.append(f"device: '{device}' was asked for but CUDA is not available here; use device: auto or cpu")
        elif ":" in device and int(device.split(":")[1]) >= torch.cuda.device_count():
            problems.append(f"device: '{device}' does not exist; this machine has cuda:0..cuda:"
                            f"{torch.cuda.device_count() - 1}")


# ---- data -----------------------------------------------------------------------------------------
def _open(suite: Suite, split: str, field: str, problems: list[str], model: ModelSpec | None = None):
    """The suite's data split as ``model`` (default: the first) receives it (:func:`xbench.serving.data_for`), or
    None with one line in ``problems``."""
    from .serving import data_for

    name = suite.data.name
    try:
        return data_for(suite, model or suite.models[0], split)
    except XBenchError as err:
        if str(err) not in problems:
            problems.append(str(err))
    except Exception as err:  # noqa: BLE001 - a broken data folder must still give one line
        problems.append(f"{field}: cannot read {name} split '{split}': {type(err).__name__}: {_first_line(err)}")
    return None


def _served_data(suite: Suite, x0: torch.Tensor, info: dict,
                 problems: list[str]) -> dict[str, tuple[torch.Tensor, dict]]:
    """Model label -> (one input, the data's info) as each model receives the data: a dataset served per model
    (``photos``) is opened for each at its declared input size and normalisation; any other is the same for all.
    A model the served data does not fit is left out, with one line in ``problems``."""
    from .data import DATASETS

    first = suite.models[0].label
    if not DATASETS.get(suite.data.name).meta.get("per_model"):
        return {m.label: (x0, info) for m in suite.models}
    out = {first: (x0, info)}
    for m in suite.models[1:]:
        ds = _open(suite, suite.data.split, "data", problems, m)
        if ds is not None:
            out[m.label] = (torch.as_tensor(ds.dataset[0][0]), dict(ds.info))
    return out


def _check_data(suite: Suite, problems: list[str]) -> tuple[torch.Tensor | None, dict, bool]:
    """Open the split (as the first model receives it), read one input; resolve n_samples / n_references to what
    the split holds."""
    spec = suite.data
    ds = _open(suite, spec.split, "data", problems)
    if ds is None:
        return None, {}, False
    n = len(ds)
    if n == 0:
        problems.append(f"data.split: {spec.name} split '{spec.split}' holds no samples")
        return None, {}, False
    if spec.n_samples > n:
        # documented choice: evaluate the whole split and record the number actually evaluated
        log.warning("data.n_samples: %d asked, %s split '%s' holds %d; evaluating (and recording) %d",
                    spec.n_samples, spec.name, spec.split, n, n)
        spec.n_samples = n
    try:
        item = ds.dataset[0]
    except Exception as err:  # noqa: BLE001
        problems.append(f"data: cannot read the first sample of {spec.name}: {type(err).__name__}: {_first_line(err)}")
        return None, {}, False
    x0 = torch.as_tensor(item[0])
    if _uses_references(suite):
        ref = _open(suite, spec.references, "data.references", problems)
        if ref is not None:
            spec.n_references = min(spec.n_references, len(ref))
    return x0, dict(ds.info), bool(getattr(ds, "has_masks", False) or len(item) > 2)


def _uses_references(suite: Suite) -> bool:
    from .methods import METHODS
    from .metrics import METRICS

    return (any("references" in METHODS.get(me.name).meta["needs"] for me in suite.methods)
            or any("references" in METRICS.get(mt.name).meta["consumes"] for mt in suite.metrics))


# ---- models ---------------------------------------------------------------------------------------
def _check_model(i: int, m: ModelSpec, suite: Suite, x0: torch.Tensor, info: dict,
                 problems: list[str]) -> torch.nn.Module | None:
    """Build model ``i`` on the meta device (loading a checkpoint checks it fits) and run one input through."""
    from .models import MODELS, create
    from .models.checkpoints import is_checkpoint_path

    where = f"models[{i}]"
    entry = MODELS.get(m.name)
    w = m.weights
    if isinstance(w, str) and is_checkpoint_path(w):
        if not _check_checkpoint_file(i, w, problems):
            return None
        _resolve_from_checkpoint(i, m, problems)
    build_w = None if w == "trained" else w  # the cached/trained model has exactly this architecture
    declared = m.params.get("input_shape")
    if declared is not None and [int(v) for v in declared] != list(x0.shape):
        problems.append(f"{where}.input_shape: the model takes {list(declared)} but {suite.data.name} gives one "
                        f"input of {list(x0.shape)}")
        return None
    # a user's archive or factory is built for real (TorchScript cannot run on meta tensors): one small forward
    on_meta = entry.meta.get("meta_build", True)
    try:
        with (torch.device("meta") if on_meta else contextlib.nullcontext()), warnings.catch_warnings():
            # loading a checkpoint into a meta model checks keys and shapes and copies nothing, as intended
            warnings.filterwarnings("ignore", message=".*copying from a non-meta parameter")
            model = create(m.name, x=m.x, weights=build_w, num_classes=m.num_classes,
                           **({"device": "meta"} if on_meta else {}), **m.params)
    except XBenchError as err:
        problems.append(_name_field(where, str(err)))
        return None
    except Exception as err:  # noqa: BLE001 - e.g. a negative layer size: still one line naming the model
        problems.append(f"{where}: '{m.name}' cannot be built with {_settings(m)}: {_first_line(err)}")
        return None
    if m.x is None:
        m.x = bool(entry.params["x"].default) if "x" in entry.params else None
    dtype = getattr(torch, suite.dtype)
    try:
        with torch.no_grad():
            probe = (torch.empty((1, *x0.shape), device="meta", dtype=dtype) if on_meta
                     else x0[None].to(dtype))
            out = model.to(dtype)(probe)
    except Exception as err:  # noqa: BLE001 - any shape error of the dry forward pass
        problems.append(f"{where}: '{m.name}' does not fit the data ({suite.data.name}: one input is "
                        f"{'x'.join(map(str, x0.shape))}): {_first_line(err)}{_shape_hint(i, m, suite)}")
        return None
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
        problems.append(f"{where}: '{m.name}' returns {tuple(getattr(out, 'shape', ()))} for one input; "
                        "a classifier returns [N, classes]")
        return None
    if not on_meta and not _batch_fits(where, model, x0.to(dtype), suite, problems):
        return None
    k, classes = int(out.shape[1]), info.get("num_classes")
    if isinstance(classes, int) and k < classes:
        problems.append(f"{where}.num_classes: the model has {k} outputs but {suite.data.name} has {classes} "
                        f"classes; set num_classes: {classes}")
    if m.num_classes is None:
        m.num_classes = k
    return model


def _batch_fits(where: str, model: torch.nn.Module, x0: torch.Tensor, suite: Suite, problems: list[str]) -> bool:
    """A real (not meta) model also runs on the run's batch sizes: a program exported or traced with a fixed
    batch size passes the one-input forward and would fail on the first real batch."""
    bs = min(suite.data.batch_size, suite.data.n_samples)
    sizes = sorted({2, bs, suite.data.n_samples % bs or bs} - {1})
    for n in sizes:
        try:
            with torch.no_grad():
                out = model(x0[None].expand(n, *x0.shape).contiguous())
            if isinstance(out, torch.Tensor) and out.shape[0] == n:
                continue
            got = tuple(getattr(out, "shape", ()))
            why = f"returns {got} for a batch of {n} inputs"
        except Exception as err:  # noqa: BLE001 - a guard of a static-shape export, a reshape fixed to N=1
            why = f"fails on a batch of {n} inputs: {_first_line(err)}"
        problems.append(f"{where}: '{_model_name(where, suite)}' {why}; the run feeds batches of up to {bs}. "
                        "Export with a dynamic batch dimension: torch.export.export(model, (x,), dynamic_shapes="
                        "({0: torch.export.Dim('batch')},)), or trace/script without a fixed batch size")
        return False
    return True


def _model_name(where: str, suite: Suite) -> str:
    return suite.models[int(where.split("[")[1].split("]")[0])].name


def _check_checkpoint_file(i: int, w: str, problems: list[str]) -> bool:
    p = Path(w).expanduser()
    field = f"models[{i}].weights"
    fix = f"give the path of a file written by torch.save (--set models.{i}.weights=/path/to/checkpoint)"
    if not p.exists():
        problems.append(f"{field}: checkpoint file '{w}' does not exist; {fix}")
    elif p.is_dir():
        problems.append(f"{field}: '{w}' is a folder, not a checkpoint file; {fix}")
    elif p.stat().st_size == 0:
        problems.append(f"{field}: '{w}' is empty (0 bytes); {fix}")
    elif not os.access(p, os.R_OK):
        problems.append(f"{field}: '{w}' cannot be read (permissions)")
    else:
        return True
    return False


def _resolve_from_checkpoint(i: int, m: ModelSpec, problems: list[str]) -> None:
    """x and num_classes left unset follow the checkpoint's own config (as ``models.create`` does)."""
    from .models.checkpoints import checkpoint_config

    try:
        cfg = checkpoint_config(m.weights) or {}
    except XBenchError:
        return  # unreadable: the meta build below reports it, naming the field
    if cfg.get("model") not in (None, m.name):
        return
    if m.x is None and "x" in cfg:
        m.x = bool(cfg["x"])
    if m.num_classes is None:
        m.num_classes = (cfg.get("model_params") or {}).get("num_classes")


def _name_field(where: str, message: str) -> str:
    """Prefix a model factory's message with the field path: ``weights: ...`` -> ``models[0].weights: ...``."""
    head, sep, rest = message.partition(": ")
    if sep and all(part.isidentifier() for part in head.split(".")):  # weights: / weights.key_map:
        return f"{where}.{head}: {rest}"
    if sep and head.startswith("model(") and ")." in head:  # the registry's "model(name).param: ..."
        return f"{where}.{head.split(').', 1)[1]}: {rest}"
    return f"{where}: {message}"


def _shape_hint(i: int, m: ModelSpec, suite: Suite) -> str:
    from .models import MODELS

    own = MODELS.get(m.name).params
    keys = [k for k in ("size", "in_features", "in_channels") if k in own]
    parts = [f"models[{i}].{k} = {m.params.get(k, own[k].default)}" for k in keys]
    parts += [f"data.{k} = {v}" for k, v in suite.data.params.items() if k == "size"]
    return f" (check {', '.join(parts)})" if parts else ""


def _settings(m: ModelSpec) -> str:
    return ", ".join(f"{k}={v}" for k, v in {"x": m.x, "num_classes": m.num_classes, **m.params}.items()
                     if v is not None)


# ---- methods and metrics --------------------------------------------------------------------------
def data_facts(x0: torch.Tensor, info: dict, has_masks: bool) -> dict[str, Any]:
    """What the entries' declarations are checked against: the dataset's info with its ``kind`` (image or
    tabular), the shape of one input, whether it has masks, and the bounds of data-bounded counts."""
    shape = tuple(int(v) for v in x0.shape)
    kind = info.get("kind") or data_kind(shape)
    units = int(shape[-2] * shape[-1]) if kind == "image" else int(x0.numel())
    side = int(min(shape[-2:])) if kind == "image" else units
    return {**info, "kind": kind, "input_shape": shape, "has_masks": has_masks,
            "bounds": {"units": (units, "pixels of one input" if kind == "image" else "features of one input"),
                       "side": (side, "pixels of the image side" if kind == "image" else "features of one input")}}


def _misfit_data(entry: Any, params: dict[str, Any], facts: dict[str, Any], where: str,
                 problems: list[str]) -> str | None:
    """What an entry's declarations say against the data: its input kinds (returned as the reason it does not
    fit) and its data-bounded counts (appended to ``problems`` naming ``where.param``)."""
    kinds = entry.meta["inputs"]
    if facts["kind"] not in kinds:
        return (f"works on {' or '.join(kinds)} inputs and the data is {facts['kind']} "
                f"(one input is {'x'.join(map(str, facts['input_shape']))})")
    for name, spec in entry.params.items():
        if spec.bounded_by is None:
            continue
        limit, what = facts["bounds"][spec.bounded_by]
        value = params.get(name)
        for v in (value if isinstance(value, (list, tuple)) else (value,)):
            _at_most(v, limit, f"{where}.{name}", what, problems)
    return None


def _misfit(method: Any, model: torch.nn.Module, facts: dict[str, Any]) -> str | None:
    """Why ``method`` cannot run on ``model`` (None when it can), from what the method declares."""
    from .methods import METHODS
    from .methods.base import declared
    from .models import non_homogeneous_layers
    from .models.user import unhookable

    entry = METHODS.get(method.name)
    if declared(method.name, "needs_hooks", method.params):
        why = unhookable(model)
        if why is not None:
            return (f"hooks the model's modules and {why}; use the eager nn.Module (a python: factory or a "
                    "checkpoint), or a method without hooks")
    if entry.meta.get("requires_homogeneous") and method.params.get("check", True):
        bad = non_homogeneous_layers(model)
        if bad:
            return (f"needs a homogeneous model but it has layer '{bad[0][0]}' ({bad[0][1]}); "
                    "use its X-variant (x: true)")
    fits = entry.meta.get("fits")
    return fits(model, facts, dict(method.params)) if fits is not None else None


def _check_methods(suite: Suite, built: dict[str, torch.nn.Module | None], facts: dict[str, Any],
                   problems: list[str]) -> None:
    """Decide the models each method runs on: explicit misfits are errors, implicit ones are skipped.

    A method whose declared inputs exclude the data's kind fits no model: refused in one line."""
    from .methods import METHODS

    for j, me in enumerate(suite.methods):
        why = _misfit_data(METHODS.get(me.name), me.params, facts, f"methods[{j}]", problems)
        if why is not None:
            problems.append(f"methods[{j}]: '{me.name}' {why}; drop it or use {facts['kind']}-capable methods")
            continue
        pinned = me.models is not None
        fits = []
        for m in suite.models:
            if pinned and m.label not in me.models:
                continue
            why = _misfit(me, built[m.label], facts)
            if why is None:
                fits.append(m.label)
            elif pinned:
                problems.append(f"methods[{j}]: '{me.name}' on '{m.label}': {why}")
            else:
                suite.skipped.append(f"{me.label} on {m.label}: {why}")
        if not fits and not pinned:
            first = _misfit(me, built[suite.models[0].label], facts)
            hint = (f"; add an X-variant, e.g. {{name: {suite.models[0].name}, x: true}}"
                    if "homogeneous" in (first or "") else "")
            problems.append(f"methods[{j}]: '{me.name}' fits none of the suite's models ({first}){hint}")
        elif not pinned:
            me.models = fits


def _check_metrics(suite: Suite, facts: dict[str, Any], built: dict[str, torch.nn.Module | None],
                   problems: list[str]) -> None:
    """What each metric declares against the data: its input kinds, what it consumes (masks), its
    data-bounded counts and its own ``fits`` check (on the first model)."""
    from .metrics import METRICS

    model = next((m for m in built.values() if m is not None), None)
    for k, mt in enumerate(suite.metrics):
        entry = METRICS.get(mt.name)
        where = f"metrics[{k}]"
        why = _misfit_data(entry, mt.params, facts, where, problems)
        if why is None and "masks" in entry.meta["consumes"] and not facts["has_masks"]:
            why = (f"consumes ground-truth masks and {suite.data.name} has none; use a dataset with masks "
                   "(synthetic) or drop it")
        # a metric that works on named data only (e.g. retrains on it) reads the name the data declares, which
        # is the registered name, or the origin of tensors handed to xbench.evaluate with that data's info
        datasets = entry.meta.get("datasets")
        origin = facts.get("name") or suite.data.name
        if why is None and datasets and origin not in datasets:
            why = f"cannot run on data {origin!r}; allowed: {', '.join(datasets)}"
        fits = entry.meta.get("fits")
        if why is None and fits is not None:
            why = fits(model, facts, dict(mt.params))
        if why is not None:
            problems.append(f"{where}: '{mt.name}': {why}")


def _at_most(value: Any, limit: int, field: str, what: str, problems: list[str]) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value > limit:
        problems.append(f"{field}: {value} is more than the {limit} {what}; expected int in [1, {limit}]")


# ---- memory ---------------------------------------------------------------------------------------
def memory_budget(device: str) -> int:
    """Bytes of memory on ``device`` (the GPU's total, ``auto`` resolved as the run does, or the machine's RAM)."""
    if device == "auto" and torch.cuda.is_available():
        device = "cuda"
    if device.startswith("cuda") and torch.cuda.is_available():
        idx = int(device.split(":")[1]) if ":" in device else 0
        return int(torch.cuda.get_device_properties(idx).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _inputs(x0: torch.Tensor | dict[str, torch.Tensor]) -> dict[str | None, torch.Tensor]:
    return dict(x0) if isinstance(x0, dict) else {None: x0}


def estimate_bytes(suite: Suite, x0: torch.Tensor | dict[str, torch.Tensor],
                   built: dict[str, torch.nn.Module | None]) -> dict[str, int]:
    """Lower bounds (bytes) of the largest buffers a run holds at once, by the field that sizes them.

    One batch of inputs and its attributions; the reference inputs; the largest model's weights;
    per-sample buffers of the largest count parameter (curve points, noise draws) at 8 bytes each.
    ``x0``: one input, or model label -> one input as that model receives the data (the largest counts).
    """
    esize = torch.tensor([], dtype=getattr(torch, suite.dtype)).element_size()
    item = max(int(x.numel()) for x in _inputs(x0).values()) * esize  # one input, the largest model's
    bs = min(suite.data.batch_size, suite.data.n_samples)
    out = {"data.batch_size": 2 * bs * item}
    if _uses_references(suite):
        out["data.n_references"] = suite.data.n_references * item
    for i, m in enumerate(suite.models):
        model = built.get(m.label)
        if model is not None:
            out[f"models[{i}]"] = sum(p.numel() for p in model.parameters()) * esize
    from .methods import METHODS
    from .metrics import METRICS

    for kind, specs, reg in (("methods", suite.methods, METHODS), ("metrics", suite.metrics, METRICS)):
        for j, s in enumerate(specs):
            for key, spec in reg.get(s.name).params.items():
                v = s.params.get(key)
                if spec.per_sample and isinstance(v, int) and not isinstance(v, bool):
                    out[f"{kind}[{j}].{key}"] = bs * (v + 1) * 8
    return out


def _check_memory(suite: Suite, x0: torch.Tensor | dict[str, torch.Tensor], built: dict,
                  problems: list[str]) -> None:
    """Refuse a run whose buffers (:func:`estimate_bytes`) plus the largest method's expanded model inputs
    (:func:`_method_bytes`: noise samples, path steps, window positions x the activations of one input) exceed
    :data:`MEMORY_SHARE` of the device's memory; one line naming the field that sizes the largest part."""
    est = estimate_bytes(suite, x0, built)
    per_input = _bytes_per_model_input(suite, x0, built)
    methods = {f: b for j, spec in enumerate(suite.methods) for f, b in [_method_bytes(spec, j, suite, per_input)]}
    if methods:  # one method's attributions are computed at a time
        field, peak = max(methods.items(), key=lambda kv: kv[1])
        est[field] = max(est.get(field, 0), peak)
    budget = memory_budget(suite.device)
    total = sum(est.values())
    if total > MEMORY_SHARE * budget:
        field, biggest = max(est.items(), key=lambda kv: kv[1])
        problems.append(f"{field}: the run would hold at least {total / 2**30:.1f} GiB at once ({field}: "
                        f"{biggest / 2**30:.1f} GiB), more than {MEMORY_SHARE:.0%} of the {budget / 2**30:.0f} GiB "
                        f"this device has; lower it")


def _bytes_per_model_input(suite: Suite, x0: torch.Tensor | dict[str, torch.Tensor], built: dict) -> int:
    """Bytes one model input costs inside a gradient pass, for the largest model: the input and its gradient,
    and every leaf module's output and its gradient (counted by hooks on one forward pass of the input that model
    receives, on the meta device where the model was built there: shapes only, no compute)."""
    esize = torch.tensor([], dtype=getattr(torch, suite.dtype)).element_size()
    inputs = _inputs(x0)
    best = 2 * max(int(x.numel()) for x in inputs.values()) * esize
    for label, model in built.items():
        if not isinstance(model, torch.nn.Module) or isinstance(model, torch.jit.ScriptModule):
            continue  # TorchScript refuses Python hooks: its activations are not counted (the input still is)
        x0 = inputs.get(label, next(iter(inputs.values())))
        count = [0]

        def hook(_m, _i, out, count=count):
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor):
                    count[0] += t.numel()

        leaves = [m for m in model.modules() if not any(True for _ in m.children())]
        handles = [m.register_forward_hook(hook) for m in leaves]
        try:
            param = next(model.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
            with torch.no_grad():
                model(x0[None].to(device=device, dtype=getattr(torch, suite.dtype)))
        except Exception:  # noqa: BLE001 - a model that does not fit the data is reported by its own check
            pass
        finally:
            for h in handles:
                h.remove()
        best = max(best, 2 * (int(x0.numel()) + count[0]) * esize)
    return best


def _method_bytes(spec, j: int, suite: Suite, per_input: int) -> tuple[str, int]:
    """(the field that sizes it, bytes): the model inputs method ``j`` holds at once times ``per_input``.

    A method expands each image into the count of its per-sample parameter (:attr:`ParamSpec.per_sample`:
    ``n_samples``, ``n_steps``, ``k``); ``max_batch`` chunks them, except that a Captum-backed method (chunked
    by whole images: Captum expands one image's noise samples in one call) holds at least one image's whole
    expansion."""
    from .batching import DEFAULT_MAX_BATCH
    from .methods import METHODS

    entry = METHODS.get(spec.name)
    key = next((k for k, p in entry.params.items() if p.per_sample and isinstance(spec.params.get(k), int)),
               None)
    count = spec.params.get(key) if key else None
    expansion = count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1
    cap = spec.params.get("max_batch")
    cap = cap if isinstance(cap, int) and cap > 0 else DEFAULT_MAX_BATCH
    bs = min(suite.data.batch_size, suite.data.n_samples)
    whole_images = getattr(entry.fn, "__module__", "").startswith(("xbench.methods.captum_methods",
                                                                    "xbench.methods.captum_any"))
    held = min(bs * expansion, max(cap, expansion) if whole_images else cap)
    return f"methods[{j}].{key or 'max_batch'}", held * per_input


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    return line if len(line) <= 200 else line[:197] + "..."
