"""The suite schema: dataclasses for a resolved suite and the validation that builds them.

Every field is a :class:`~xbench.registry.ParamSpec` (the one validation vocabulary shared with
methods, metrics, models, datasets, prior suites and command-line numbers), and the dataclass
defaults are read from those specs, so each default has one source.  Validation collects every
problem as one line ``<field path>: <what is wrong>; allowed: ...`` and raises a single
:class:`~xbench.errors.SuiteError`.  It reads no file and builds no model: whatever needs the
data or a model (fit, homogeneity, checkpoints) is checked by :func:`xbench.preflight.preflight`.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..errors import ParamError, SuiteError, UnknownNameError
from ..precision import SPEED_FIELDS  # the speed options are the runtime's; the suite validates against them
from ..registry import ParamSpec, Registry, _short, suggest

REQUIRED = inspect.Parameter.empty
SAFE_NAME = r"(?!\.)[A-Za-z0-9_.-]{1,100}"
LABEL = r"(?!\.\.?$)[^\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]{1,100}"
RESERVED_LABELS = ("-", "_info", "_preview")
"""Labels xbench's own result rows use (``-``: the method of model-only metrics; ``_info``: a method's diagnostics;
``_preview``: heatmap maps; see :mod:`xbench.plan`): a method or metric cannot take them."""


def _fields(*specs: ParamSpec) -> dict[str, ParamSpec]:
    return {s.name: s for s in specs}


TOP_FIELDS = _fields(
    ParamSpec("name", REQUIRED, (str,), pattern=SAFE_NAME, doc="the suite's name; names its output folder",
              pattern_help="1-100 letters, digits, '_', '-' or '.', not starting with '.' (it names the output "
                           "folder)"),
    ParamSpec("description", "", (str,), doc="one line on what the suite measures"),
    ParamSpec("seed", 0, (int,), low=0, high=2**32 - 1, doc="seed of every random draw in the run"),
    ParamSpec("device", "auto", (str,), pattern=r"auto|cpu|mps|cuda(:\d{1,3})?", doc="where to compute",
              pattern_help="auto, cpu, cuda, cuda:N, mps"),
    ParamSpec("dtype", "float32", choices=("float32", "float64"), doc="floating point type of models and inputs"),
    ParamSpec("plugins", (), (list, tuple), doc="Python files (relative to the suite file) or module names that "
              "register methods, metrics, models or datasets; loading them runs their code"),
    ParamSpec("data", REQUIRED, doc="the dataset and which samples to evaluate"),
    ParamSpec("models", REQUIRED, doc="the models to explain"),
    ParamSpec("methods", REQUIRED, doc="the attribution methods (optional when every metric evaluates the model)"),
    ParamSpec("metrics", REQUIRED, doc="the metrics computed for every (model, method) pair"),
    ParamSpec("report", None, (dict,), doc="report settings"),
    ParamSpec("speed", None, (dict,), doc="opt-in speed options (autocast, channels_last, ...); all off by default"),
)
DATA_FIELDS = _fields(
    ParamSpec("name", REQUIRED, (str,), doc="a dataset name (xbench list datasets)"),
    ParamSpec("split", "test", (str,), doc="the split the samples come from (default: the dataset's own default)"),
    ParamSpec("n_samples", 64, (int,), low=1, high=10_000_000,
              doc="samples to evaluate (more than the split holds: all of them, recorded as that number)"),
    ParamSpec("batch_size", 32, (int,), low=1, high=100_000, doc="samples per batch"),
    ParamSpec("root", None, (str, type(None)), doc="folder of datasets that live on disk"),
    ParamSpec("subset", "first", choices=("first", "random"), doc="the first n_samples, or a seeded random subset"),
    ParamSpec("target", "predicted", choices=("predicted", "label"), doc="the class explained"),
    ParamSpec("references", "train", (str,), doc="split that expected_gradients draws its references from"),
    ParamSpec("n_references", 256, (int,), low=1, high=100_000, doc="reference inputs for expected_gradients"),
    ParamSpec("num_workers", 0, (int,), low=0, high=64, doc="data loader worker processes"),
)
MODEL_FIELDS = _fields(
    ParamSpec("name", REQUIRED, (str,), doc="a model name (xbench list models)"),
    ParamSpec("x", None, (bool, type(None)), doc="the bias-free X-variant (default: the model's own default)"),
    ParamSpec("weights", None, doc="weights: a name the model knows, a checkpoint path, or null (random init)"),
    ParamSpec("label", None, (str,), pattern=LABEL, pattern_help="1-100 printable characters, not '.' or '..'",
              doc="the name in results (default: the model name, + '_x' for x: true)"),
    ParamSpec("num_classes", None, (int, type(None)), low=1, high=100_000, doc="output logits"),
)
METHOD_FIELDS = _fields(
    ParamSpec("name", REQUIRED, (str,), doc="a method name (xbench list methods)"),
    ParamSpec("label", None, (str,), pattern=LABEL, pattern_help="1-100 printable characters, not '.' or '..'",
              doc="the name in results (default: the method name)"),
    ParamSpec("models", None, (list, type(None)), items=(str,), doc="model labels it runs on (default: all it fits)"),
)
METRIC_FIELDS = _fields(
    ParamSpec("name", REQUIRED, (str,), doc="a metric name (xbench list metrics)"),
    ParamSpec("label", None, (str,), pattern=LABEL, pattern_help="1-100 printable characters, not '.' or '..'",
              doc="the name in results (default: the metric name)"),
    ParamSpec("methods", None, (list, type(None)), items=(str,),
              doc="method labels it evaluates (default: every method); e.g. an expensive metric on a few"),
)
REPORT_FIELDS = _fields(
    ParamSpec("heatmap_samples", 4, (int,), low=0, high=64, doc="samples shown in the heatmap grid"),
)
TOP_KEYS = tuple(TOP_FIELDS)
DATA_KEYS = tuple(DATA_FIELDS)
MODEL_KEYS = tuple(MODEL_FIELDS)
METHOD_KEYS = tuple(METHOD_FIELDS)
METRIC_KEYS = tuple(METRIC_FIELDS)
REPORT_KEYS = tuple(REPORT_FIELDS)


def _default(fields: dict[str, ParamSpec], name: str) -> Any:
    return fields[name].default


@dataclass
class DataSpec:
    """Which samples to evaluate: dataset, split, how many, batch size, and what target to explain."""

    name: str
    split: str = _default(DATA_FIELDS, "split")
    n_samples: int = _default(DATA_FIELDS, "n_samples")
    batch_size: int = _default(DATA_FIELDS, "batch_size")
    root: str | None = _default(DATA_FIELDS, "root")
    subset: str = _default(DATA_FIELDS, "subset")
    target: str = _default(DATA_FIELDS, "target")
    references: str = _default(DATA_FIELDS, "references")
    n_references: int = _default(DATA_FIELDS, "n_references")
    num_workers: int = _default(DATA_FIELDS, "num_workers")
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelSpec:
    """A model as the run builds it.  ``x``, ``weights`` and ``num_classes`` hold resolved values (the
    factory's defaults filled in); ``x``/``num_classes`` stay None only until preflight reads them from
    a checkpoint's own config."""

    name: str
    label: str
    x: bool | None = None
    weights: Any = None
    num_classes: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodSpec:
    name: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)
    models: list[str] | None = None  # model labels it runs on; None = every model it fits (set by preflight)


@dataclass
class MetricSpec:
    name: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)
    methods: list[str] | None = None  # method labels it evaluates; None = every method

    def evaluates(self, method_label: str) -> bool:
        """Whether the metric runs on the method labelled ``method_label``."""
        return self.methods is None or method_label in self.methods


@dataclass
class Suite:
    name: str
    data: DataSpec
    models: list[ModelSpec]
    methods: list[MethodSpec]
    metrics: list[MetricSpec]
    seed: int = _default(TOP_FIELDS, "seed")
    device: str = _default(TOP_FIELDS, "device")
    dtype: str = _default(TOP_FIELDS, "dtype")
    description: str = _default(TOP_FIELDS, "description")
    report: dict[str, Any] = field(default_factory=lambda: {k: s.default for k, s in REPORT_FIELDS.items()})
    speed: dict[str, Any] = field(default_factory=lambda: {k: s.default for k, s in SPEED_FIELDS.items()})
    plugins: list[str] = field(default_factory=list)  # as written; xbench.plugins.loaded() has paths and hashes
    skipped: list[str] = field(default_factory=list)  # (model, method) pairs left out, with the reason

    def to_dict(self) -> dict[str, Any]:
        """The resolved suite as plain data (every default filled in), for the manifest and the run's stamp; a
        metric evaluating every method is written as before metrics could name theirs (a resumed run matches)."""
        out = asdict(self)
        for m in out["metrics"]:
            if m.get("methods") is None:
                m.pop("methods", None)
        return out

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


def _field(obj: dict, spec: ParamSpec, where: str, p: _Problems, default: Any = REQUIRED) -> Any:
    """``obj[spec.name]`` checked against ``spec`` (problems recorded), or its default when absent or wrong."""
    fallback = spec.default if default is REQUIRED else default
    if spec.name not in obj:
        return fallback
    try:
        return spec.check(obj[spec.name], f"{where}.{spec.name}" if where else spec.name)
    except ParamError as err:
        p.add(str(err))
        return fallback


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


def _captum_sugar(raw: dict) -> dict:
    """``captum.DeepLift`` (a name) -> ``{name: captum, class: DeepLift}``, on a copy of the methods list."""
    items = raw.get("methods")
    if not isinstance(items, list):
        return raw
    out = []
    for obj in items:
        name = obj if isinstance(obj, str) else obj.get("name") if isinstance(obj, dict) else None
        if isinstance(name, str) and name.startswith("captum.") and len(name) > len("captum."):
            rest = dict(obj) if isinstance(obj, dict) else {}
            rest.update(name="captum")
            rest.setdefault("class", name[len("captum."):])
            obj = rest
        out.append(obj)
    return {**raw, "methods": out}


def _resolve(entry, params: dict, where: str, p: _Problems) -> dict:
    try:
        return entry.resolve(params, where=where)
    except ParamError as err:
        p.add(str(err))
        return {}


def _check_baselines(params: dict, where: str, p: _Problems) -> None:
    """A method's ``baseline`` (``baselines`` for the Captum adapter, which also takes ``references`` or null):
    a finite number or a baseline name, checked here so a bad one is refused before any work."""
    import math

    from ..substrates import BASELINES

    for key, extra in (("baseline", ()), ("baselines", ("references",))):
        if key not in params or (key == "baselines" and params[key] is None):
            continue
        v = params[key]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            continue
        if isinstance(v, str) and (v in BASELINES or v in extra):
            continue
        allowed = [*BASELINES, *extra]
        hint = suggest(v, allowed) if isinstance(v, str) else ""
        p.add(f"{where}.{key}: {_short(v)} is not a baseline; allowed: {', '.join(allowed)} or a finite number{hint}")


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
        if kind != "models" and s.label in RESERVED_LABELS:
            p.add(f"{kind}[{i}].label: '{s.label}' is reserved for xbench's own rows ({', '.join(RESERVED_LABELS)}); "
                  "give the entry another 'label'")
        elif s.label in seen:
            p.add(f"{kind}[{i}].label: duplicate label '{s.label}'; give each entry a distinct 'label'")
        seen.add(s.label)


def _check_metric_methods(where: str, name: str, only: Any, entry: Any, methods: list[MethodSpec],
                          p: _Problems) -> None:
    """A metric's ``methods`` names method labels of the suite, and only a metric that reads attributions has any."""
    if only is None or not isinstance(only, list):
        return
    if not entry.meta.get("needs_attributions", True):
        p.add(f"{where}.methods: '{name}' evaluates the model, not a method; remove 'methods'")
        return
    labels = [m.label for m in methods]
    for label in only:
        if label not in labels:
            p.add(f"{where}.methods: '{label}' is not a method label of the suite; allowed: {', '.join(labels)}"
                  f"{suggest(label, labels)}")


def parse_suite(raw: Any, source: str = "<suite>") -> Suite:
    """Validate a suite mapping (as read from YAML) and return the resolved :class:`Suite`.

    Pure: reads no file, builds no model, leaves ``raw`` as it was.  Raises :class:`SuiteError`
    listing every problem, one line each.
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
    top = {key: _field(raw, TOP_FIELDS[key], "", p) for key in ("name", "seed", "device", "dtype", "description")}
    plugins = _field(raw, TOP_FIELDS["plugins"], "", p)
    if isinstance(plugins, (list, tuple)) and not all(isinstance(x, str) and x.strip() for x in plugins):
        p.add("plugins: expected a list of .py files or module names")
    top["plugins"] = list(plugins) if isinstance(plugins, (list, tuple)) else []
    report = {k: s.default for k, s in REPORT_FIELDS.items()}
    if "report" in raw:
        if isinstance(raw["report"], dict):
            _check_keys(raw["report"], REPORT_KEYS, "report", p)
            report = {k: _field(raw["report"], s, "report", p) for k, s in REPORT_FIELDS.items()}
        else:
            p.add(f"report: expected a mapping with keys {', '.join(REPORT_KEYS)}")
    speed = _section(raw, "speed", SPEED_FIELDS, p)
    if speed.get("autocast") and top["dtype"] != "float32":
        p.add(f"speed.autocast: '{speed['autocast']}' needs dtype float32 (autocast lowers float32 passes); "
              f"got dtype {top['dtype']}")
    data = _data(raw.get("data"), DATASETS, p)
    models = _models(raw, MODELS, p)

    # methods
    methods: list[MethodSpec] = []
    given_params: list[dict | None] = []
    for where, mname, rest, entry in _registered(_captum_sugar(raw), "methods", METHODS, p, allow_empty=model_only):
        # several Captum classes in one suite: each is labelled by its class unless the suite names it
        default_label = f"captum.{rest.get('class', rest.get('cls'))}" if mname == "captum" else mname
        label = _field(rest, METHOD_FIELDS["label"], where, p, default_label)
        only = _field(rest, METHOD_FIELDS["models"], where, p)
        params = {k: v for k, v in rest.items() if k not in METHOD_KEYS}
        resolved = _resolve(entry, params, where, p)
        _check_baselines(resolved, where, p)
        methods.append(MethodSpec(mname, label, resolved, only))
        given_params.append(params if "label" not in rest else None)
    _unique_labels(methods, "methods", p, given_params)

    # metrics
    metrics: list[MetricSpec] = []
    given_params = []
    for where, mname, rest, entry in _registered(raw, "metrics", METRICS, p):
        label = _field(rest, METRIC_FIELDS["label"], where, p, mname)
        only = _field(rest, METRIC_FIELDS["methods"], where, p)
        params = {k: v for k, v in rest.items() if k not in METRIC_KEYS}
        metrics.append(MetricSpec(mname, label, _resolve(entry, params, where, p), only))
        given_params.append(params if "label" not in rest else None)
        _check_metric_methods(where, mname, only, entry, methods, p)
    _unique_labels(metrics, "metrics", p, given_params)
    _check_method_models(methods, models, p)
    if p.lines:
        raise SuiteError(p.lines)
    return Suite(data=data, models=models, methods=methods, metrics=metrics, report=report, speed=speed, **top)


def _section(raw: dict, key: str, fields: dict[str, ParamSpec], p: _Problems) -> dict[str, Any]:
    """An optional mapping of plain fields (``speed``), every default filled in."""
    out = {k: s.default for k, s in fields.items()}
    if key not in raw or raw[key] is None:
        return out
    if not isinstance(raw[key], dict):
        p.add(f"{key}: expected a mapping with keys {', '.join(fields)}")
        return out
    _check_keys(raw[key], tuple(fields), key, p)
    return {k: _field(raw[key], s, key, p) for k, s in fields.items()}


def _data(rd: Any, datasets: Registry, p: _Problems) -> DataSpec:
    """The ``data`` section: harness fields from DATA_FIELDS, the rest are the dataset's own parameters."""
    data = DataSpec(name="?")
    if rd is None:
        return data
    dname, drest = _entry(rd, "data", p)
    dentry = _lookup(datasets, dname, "data", p) if dname else None
    if dname:
        data.name = dname
    if dentry is None:
        return data
    extra = tuple(k for k in dentry.params if k not in ("split", "root"))
    _check_keys(drest, DATA_KEYS, "data", p, extra=extra)
    split_spec = dentry.params.get("split")
    choices = split_spec.choices if split_spec is not None else None
    for key in ("n_samples", "batch_size", "n_references", "num_workers", "root", "subset", "target"):
        setattr(data, key, _field(drest, DATA_FIELDS[key], "data", p))
    own_split = split_spec.default if split_spec is not None else DATA_FIELDS["split"].default
    data.split = _field(drest, replace(DATA_FIELDS["split"], choices=choices), "data", p, own_split)
    data.references = _field(drest, replace(DATA_FIELDS["references"], choices=choices), "data", p)
    dparams = {k: v for k, v in drest.items() if k in extra}
    resolved = _resolve(dentry, {**dparams, "split": data.split,
                                 **({"root": data.root} if "root" in dentry.params else {})}, "data", p)
    data.params = {k: v for k, v in resolved.items() if k in extra}
    return data


def _models(raw: dict, models_registry: Registry, p: _Problems) -> list[ModelSpec]:
    """The ``models`` list with the factory's defaults resolved (never ``weights: default`` or ``x: null``).

    With a checkpoint path for ``weights``, ``x`` and ``num_classes`` left out stay None here:
    the checkpoint's own config decides them in preflight (it reads the file; validation does not).
    """
    from ..models.checkpoints import is_checkpoint_path

    models: list[ModelSpec] = []
    for where, mname, rest, entry in _registered(raw, "models", models_registry, p):
        extra = tuple(k for k in entry.params if k not in MODEL_KEYS)
        _check_keys(rest, MODEL_KEYS, where, p, extra=extra)
        given_x = _field(rest, MODEL_FIELDS["x"], where, p)
        label = _field(rest, MODEL_FIELDS["label"], where, p, mname + ("_x" if given_x else ""))
        num_classes = _field(rest, MODEL_FIELDS["num_classes"], where, p)
        params = {k: v for k, v in rest.items() if k in extra}
        own = {k: s.default for k, s in entry.params.items()}
        weights = rest["weights"] if "weights" in rest else own.get("weights")
        if weights == "default":  # the old spelling of "the factory's default"
            weights = own.get("weights")
        from_checkpoint = isinstance(weights, str) and is_checkpoint_path(weights)
        x = given_x if given_x is not None or from_checkpoint else own.get("x")
        if num_classes is None and not from_checkpoint:
            num_classes = own.get("num_classes")
        call = dict(params)
        for key, value in (("x", x), ("num_classes", num_classes), ("weights", weights)):
            if key in rest or (key in entry.params and value is not None):
                call[key] = value
        _resolve(entry, call, where, p)
        models.append(ModelSpec(mname, label, x, weights, num_classes, params))
    _unique_labels(models, "models", p, [None] * len(models))
    return models


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


def _check_method_models(methods: list[MethodSpec], models: list[ModelSpec], p: _Problems) -> None:
    """A method's ``models`` must name model labels of the suite.  (Whether a method fits a model is
    preflight's question: it needs the built architecture.)"""
    labels = [m.label for m in models]
    for i, me in enumerate(methods):
        for lab in me.models or []:
            if lab not in labels:
                p.add(f"methods[{i}].models: '{lab}' is not a model label; allowed: {', '.join(labels)}"
                      f"{suggest(lab, labels)}")
