"""The suite schema: dataclasses for a resolved suite and the validation that builds them.

Validation collects every problem as one line ``<field path>: <what is wrong>; allowed: ...``
and raises a single :class:`~xbench.errors.SuiteError` before any work starts.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ParamError, SuiteError, UnknownNameError
from ..registry import Registry, suggest

DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
TOP_KEYS = ("name", "description", "seed", "device", "dtype", "data", "models", "methods", "metrics", "report")
DATA_KEYS = ("name", "split", "n_samples", "batch_size", "root", "subset", "target", "references",
             "n_references", "num_workers")
MODEL_KEYS = ("name", "x", "weights", "label", "num_classes")
METHOD_KEYS = ("name", "label", "models")
METRIC_KEYS = ("name", "label")
REPORT_KEYS = ("heatmap_samples",)


@dataclass
class DataSpec:
    """Which samples to evaluate: dataset, split, how many, batch size, and what target to explain."""

    name: str
    split: str = "test"
    n_samples: int = 64
    batch_size: int = 32
    root: str | None = None
    subset: str = "first"  # first | random (seeded)
    target: str = "predicted"  # predicted | label
    references: str = "train"  # split that expected_gradients draws its references from
    n_references: int = 256
    num_workers: int = 0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelSpec:
    name: str
    label: str
    x: bool | None = None  # None: the factory's default (a checkpoint's own setting, xalexnet's bias-free build)
    weights: Any = "default"
    num_classes: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodSpec:
    name: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)
    models: list[str] | None = None  # model labels it runs on; None = every model it fits


@dataclass
class MetricSpec:
    name: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Suite:
    name: str
    data: DataSpec
    models: list[ModelSpec]
    methods: list[MethodSpec]
    metrics: list[MetricSpec]
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    description: str = ""
    report: dict[str, Any] = field(default_factory=lambda: {"heatmap_samples": 4})
    skipped: list[str] = field(default_factory=list)  # (model, method) pairs left out, with the reason

    def to_dict(self) -> dict[str, Any]:
        """The resolved suite as plain data (every default filled in), for the manifest."""
        return asdict(self)

    def pairs(self) -> list[tuple[ModelSpec, MethodSpec]]:
        """The (model, method) pairs that run, in suite order."""
        return [(m, me) for m in self.models for me in self.methods if me.models is None or m.label in me.models]


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)


def _check_keys(obj: dict, allowed: tuple[str, ...], where: str, p: _Problems, extra: tuple[str, ...] = ()) -> None:
    for key in obj:
        if key not in allowed and key not in extra:
            valid = list(allowed) + list(extra)
            p.add(f"{where}.{key}: unknown key; allowed: {', '.join(valid)}{suggest(str(key), valid)}"
                  if where else f"{key}: unknown key; allowed: {', '.join(valid)}{suggest(str(key), valid)}")


def _typed(obj: dict, key: str, types: tuple[type, ...], where: str, p: _Problems, default: Any,
           low: float | None = None, choices: tuple | None = None) -> Any:
    if key not in obj:
        return default
    v = obj[key]
    path = f"{where}.{key}" if where else key
    if isinstance(v, bool) and bool not in types or not isinstance(v, types):
        names = "/".join(t.__name__ for t in types)
        p.add(f"{path}: {v!r} has type {type(v).__name__}; expected {names}")
        return default
    if choices is not None and v not in choices:
        p.add(f"{path}: {v!r} is not allowed; allowed: {', '.join(map(str, choices))}{suggest(str(v), choices)}")
        return default
    if low is not None and v < low:
        p.add(f"{path}: {v!r} is out of range; expected >= {low}")
        return default
    return v


def _entry(obj: Any, where: str, p: _Problems) -> tuple[str | None, dict]:
    """Accept ``name`` or ``{name: ..., ...}``; return (name, remaining mapping)."""
    if isinstance(obj, str):
        return obj, {}
    if isinstance(obj, dict):
        if "name" not in obj:
            p.add(f"{where}: missing 'name'")
            return None, {}
        if not isinstance(obj["name"], str):
            p.add(f"{where}.name: {obj['name']!r} has type {type(obj['name']).__name__}; expected str")
            return None, {}
        return obj["name"], {k: v for k, v in obj.items() if k != "name"}
    p.add(f"{where}: {obj!r} has type {type(obj).__name__}; expected a name or a mapping with 'name'")
    return None, {}


def _lookup(registry: Registry, name: str, where: str, p: _Problems):
    try:
        return registry.get(name)
    except UnknownNameError:
        p.add(f"{where}.name: '{name}' is not a {registry.kind}; allowed: {', '.join(registry.available())}"
              f"{suggest(name, registry.available())}")
        return None


def _registered(raw: dict, key: str, registry: Registry, p: _Problems, allow_empty: bool = False):
    """Yield ``(field path, name, other keys, registry entry)`` for every valid item of the list ``raw[key]``.

    ``allow_empty``: a missing or empty list is fine (methods of a suite of model evaluations only).
    """
    items = raw.get(key)
    if allow_empty and items in (None, []):
        return
    if items is not None and (not isinstance(items, list) or not items):
        p.add(f"{key}: expected a non-empty list of {registry.kind} names or mappings")
        return
    for i, obj in enumerate(items or []):
        where = f"{key}[{i}]"
        name, rest = _entry(obj, where, p)
        entry = _lookup(registry, name, where, p) if name else None
        if entry is not None:
            yield where, name, rest, entry


def _resolve(entry, params: dict, where: str, p: _Problems) -> dict:
    try:
        return entry.resolve(params, where=where)
    except ParamError as err:
        p.add(str(err))
        return {}


def _unique_labels(specs: list, kind: str, p: _Problems, user_params: list[dict]) -> None:
    """Give same-named entries labels built from the parameters the user set (``split_ig[ratio=0.95]``)."""
    counts: dict[str, int] = {}
    for s in specs:
        counts[s.label] = counts.get(s.label, 0) + 1
    for s, given in zip(specs, user_params):
        if counts[s.label] > 1 and given is not None:
            inner = ",".join(f"{k}={v}" for k, v in sorted(given.items()))
            s.label = f"{s.name}[{inner}]" if inner else s.name
    seen: set[str] = set()
    for i, s in enumerate(specs):
        if s.label in seen:
            p.add(f"{kind}[{i}].label: duplicate label '{s.label}'; give each entry a distinct 'label'")
        seen.add(s.label)


def parse_suite(raw: Any, source: str = "<suite>") -> Suite:
    """Validate a suite mapping (as read from YAML) and return the resolved :class:`Suite`.

    Raises :class:`SuiteError` listing every problem, one line each.
    """
    from ..data import DATASETS
    from ..methods import METHODS
    from ..metrics import METRICS
    from ..models import MODELS

    p = _Problems()
    if not isinstance(raw, dict):
        raise SuiteError(f"{source}: a suite is a mapping with keys {', '.join(TOP_KEYS)}; got {type(raw).__name__}")
    _check_keys(raw, TOP_KEYS, "", p)
    model_only = _all_model_only(raw.get("metrics"))
    for key in ("name", "data", "models", "methods", "metrics"):
        if key not in raw and not (key == "methods" and model_only):
            p.add(f"{key}: required but missing")
    name = _typed(raw, "name", (str,), "", p, "suite")
    if isinstance(name, str) and not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        p.add(f"name: {name!r} must use letters, digits, '_', '-' or '.' (it names the output folder)")
    seed = _typed(raw, "seed", (int,), "", p, 0, low=0)
    device = _typed(raw, "device", (str,), "", p, "auto")
    if isinstance(device, str) and not DEVICE_RE.match(device):
        p.add(f"device: {device!r} is not a device; allowed: auto, cpu, cuda, cuda:N, mps")
    dtype = _typed(raw, "dtype", (str,), "", p, "float32", choices=("float32", "float64"))
    description = _typed(raw, "description", (str,), "", p, "")
    report = {"heatmap_samples": 4}
    if "report" in raw:
        if isinstance(raw["report"], dict):
            _check_keys(raw["report"], REPORT_KEYS, "report", p)
            report["heatmap_samples"] = _typed(raw["report"], "heatmap_samples", (int,), "report", p, 4, low=0)
        else:
            p.add(f"report: expected a mapping with keys {', '.join(REPORT_KEYS)}")

    # data
    data = DataSpec(name="?")
    rd = raw.get("data")
    if rd is not None:
        dname, drest = _entry(rd, "data", p)
        dentry = _lookup(DATASETS, dname, "data", p) if dname else None
        if dname:
            data.name = dname
        if dentry is not None:
            extra = tuple(k for k in dentry.params if k not in ("split", "root"))
            _check_keys(drest, DATA_KEYS, "data", p, extra=extra)
            split_spec = dentry.params.get("split")
            choices = split_spec.choices if split_spec is not None else None
            data.split = _typed(drest, "split", (str,), "data", p, "test", choices=choices)
            data.references = _typed(drest, "references", (str,), "data", p, "train", choices=choices)
            data.n_samples = _typed(drest, "n_samples", (int,), "data", p, 64, low=1)
            data.batch_size = _typed(drest, "batch_size", (int,), "data", p, 32, low=1)
            data.n_references = _typed(drest, "n_references", (int,), "data", p, 256, low=1)
            data.num_workers = _typed(drest, "num_workers", (int,), "data", p, 0, low=0)
            data.root = _typed(drest, "root", (str, type(None)), "data", p, None)
            data.subset = _typed(drest, "subset", (str,), "data", p, "first", choices=("first", "random"))
            data.target = _typed(drest, "target", (str,), "data", p, "predicted", choices=("predicted", "label"))
            dparams = {k: v for k, v in drest.items() if k in extra}
            data.params = _resolve(dentry, {**dparams, "split": data.split,
                                            **({"root": data.root} if "root" in dentry.params else {})}, "data", p)
            data.params = {k: v for k, v in data.params.items() if k in extra}

    # models
    models: list[ModelSpec] = []
    for where, mname, rest, entry in _registered(raw, "models", MODELS, p):
        extra = tuple(k for k in entry.params if k not in MODEL_KEYS)
        _check_keys(rest, MODEL_KEYS, where, p, extra=extra)
        x = _typed(rest, "x", (bool, type(None)), where, p, None)
        label = _typed(rest, "label", (str,), where, p, mname + ("_x" if x else ""))
        weights = rest.get("weights", "default")
        num_classes = _typed(rest, "num_classes", (int, type(None)), where, p, None, low=None)
        params = {k: v for k, v in rest.items() if k in extra}
        call = dict(params) if x is None else dict(params, x=x)
        if weights != "default":
            call["weights"] = weights
        if num_classes is not None:
            call["num_classes"] = num_classes
        _resolve(entry, call, where, p)
        models.append(ModelSpec(mname, label, x, weights, num_classes, params))
    _unique_labels(models, "models", p, [None] * len(models))

    # methods
    methods: list[MethodSpec] = []
    given_params: list[dict] = []
    for where, mname, rest, entry in _registered(raw, "methods", METHODS, p, allow_empty=model_only):
        label = _typed(rest, "label", (str,), where, p, mname)
        only = rest.get("models")
        if only is not None and (not isinstance(only, list) or not all(isinstance(o, str) for o in only)):
            p.add(f"{where}.models: expected a list of model labels")
            only = None
        params = {k: v for k, v in rest.items() if k not in METHOD_KEYS}
        resolved = _resolve(entry, params, where, p)
        methods.append(MethodSpec(mname, label, resolved, only))
        given_params.append(params if "label" not in rest else None)
    _unique_labels(methods, "methods", p, given_params)

    # metrics
    metrics: list[MetricSpec] = []
    given_params = []
    for where, mname, rest, entry in _registered(raw, "metrics", METRICS, p):
        label = _typed(rest, "label", (str,), where, p, mname)
        params = {k: v for k, v in rest.items() if k not in METRIC_KEYS}
        metrics.append(MetricSpec(mname, label, _resolve(entry, params, where, p)))
        given_params.append(params if "label" not in rest else None)
    _unique_labels(metrics, "metrics", p, given_params)

    if p.lines:
        raise SuiteError(p.lines)
    suite = Suite(name=name, data=data, models=models, methods=methods, metrics=metrics, seed=seed, device=device,
                  dtype=dtype, description=description, report=report)
    _check_pairs(suite, p)
    if p.lines:
        raise SuiteError(p.lines)
    return suite


def _all_model_only(metrics: Any) -> bool:
    """True when every metric listed evaluates the model itself (needs no attributions)."""
    from ..metrics import METRICS

    if not isinstance(metrics, list) or not metrics:
        return False
    for m in metrics:
        name = m if isinstance(m, str) else m.get("name") if isinstance(m, dict) else None
        if not isinstance(name, str) or name not in METRICS or METRICS.get(name).meta.get("needs_attributions", True):
            return False
    return True


def _check_pairs(suite: Suite, p: _Problems) -> None:
    """Methods that need a homogeneous model: run them on the X-models, refuse explicit misfits."""
    from ..methods import METHODS
    from ..models import create, non_homogeneous_layers

    labels = [m.label for m in suite.models]
    structure: dict[str, list] = {}
    for i, me in enumerate(suite.methods):
        if me.models is not None:
            for lab in me.models:
                if lab not in labels:
                    p.add(f"methods[{i}].models: '{lab}' is not a model label; allowed: {', '.join(labels)}"
                          f"{suggest(lab, labels)}")
        if not METHODS.get(me.name).meta.get("requires_homogeneous") or not me.params.get("check", True):
            continue
        fits = []
        for m in suite.models:
            if me.models is not None and m.label not in me.models:
                continue
            if m.label not in structure:
                # the architecture alone, unless a checkpoint file decides it (its own x and config)
                ckpt = m.weights if isinstance(m.weights, str) and Path(m.weights).expanduser().is_file() else None
                arch = create(m.name, x=m.x, weights=ckpt, num_classes=m.num_classes, **m.params)
                structure[m.label] = non_homogeneous_layers(arch)
            bad = structure[m.label]
            if not bad:
                fits.append(m.label)
            elif me.models is not None:
                p.add(f"methods[{i}]: '{me.name}' needs a homogeneous model but '{m.label}' has layer "
                      f"'{bad[0][0]}' ({bad[0][1]}); use its X-variant (x: true)")
            else:
                suite.skipped.append(f"{me.label} on {m.label}: layer '{bad[0][0]}' ({bad[0][1]})")
        if not fits and me.models is None:
            p.add(f"methods[{i}]: '{me.name}' needs a homogeneous (bias-free) model and none of the suite's models "
                  f"is one; add an X-variant, e.g. {{name: {suite.models[0].name}, x: true}}")
        elif me.models is None:
            me.models = fits
