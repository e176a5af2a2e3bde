"""Prior suites: YAML files (``xbench/priors/suites/*.yaml`` or any path) validated into a :class:`PriorSuite`.

Every problem becomes one line naming the field, e.g.
``methods[2].name: 'grad' is not a prior method; ... did you mean 'gradient'?``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import ParamError, SuiteError, UnknownNameError
from ..registry import ParamSpec, suggest
from ..suite.loader import read_suite_yaml
from ..suite.schema import REQUIRED, SAFE_NAME
from ..suite.schema import TOP_FIELDS as TOP_SUITE_FIELDS
from .attributions import MAX_K, PRIOR_METHODS
from .penalties import PENALTIES

PAPER_LAMBDAS = (0.01, 0.1, 1.0, 10.0, 100.0)
"""Paper A §4.3's grid of prior strengths, chosen per method on validation."""

KINDS = ("tabular", "image")
ATTRIBUTIONS = ("expected_gradients", "gradient", "x_gradient", "rrr", "own")
_LAMBDA = {"types": (list,), "items": (float,), "low": 0.0, "high": 1e6}


def _fields(*specs: ParamSpec) -> dict[str, ParamSpec]:
    return {s.name: s for s in specs}


TOP_FIELDS = _fields(
    ParamSpec("name", REQUIRED, (str,), pattern=SAFE_NAME, pattern_help=TOP_SUITE_FIELDS["name"].pattern_help,
              doc="the suite's name; names its output folder"),
    ParamSpec("description", "", (str,), doc="one line on what the suite measures"),
    ParamSpec("kind", "tabular", choices=KINDS, doc="tabular (MLP on features) or image (CNN on pixels)"),
    ParamSpec("seed", 0, (int,), low=0, high=2**32 - 1, doc="seed of every random draw"),
    ParamSpec("workers", None, (int, type(None)), low=1, high=64, doc="parallel processes (default: min(2, cores))"),
)
PROTOCOL_FIELDS = _fields(
    ParamSpec("repetitions", 10, (int,), low=1, high=1_000, doc="independent train/val/test draws"),
    ParamSpec("n_train", 100, (int,), low=2, high=10_000_000, doc="training samples per repetition"),
    ParamSpec("n_val", 100, (int,), low=2, high=10_000_000, doc="validation samples (choose lambda)"),
    ParamSpec("n_test", None, (int, type(None)), low=2, high=10_000_000, doc="test samples (null: the rest)"),
    ParamSpec("epochs", 100, (int,), low=1, high=100_000, doc="training epochs"),
    ParamSpec("lr", 1e-3, (float,), low=1e-9, high=10.0, doc="Adam learning rate"),
    ParamSpec("lambdas", list(PAPER_LAMBDAS), **_LAMBDA, doc="prior strengths tried, chosen on validation"),
    ParamSpec("standardize", True, (bool,), doc="standardise features with the training split's mean/std"),
)
K_SWEEP_FIELDS = _fields(
    ParamSpec("ks", [1, 2, 4, 8, 16, 32, 64, 128], (list,), items=(int,), low=1, high=MAX_K,
              doc="Expected Gradients reference counts k to train with"),
    ParamSpec("lambdas", None, (list, type(None)), items=(float,), low=0.0, high=1e6,
              doc="prior strengths (null: the protocol's)"),
    ParamSpec("repetitions", None, (int, type(None)), low=1, high=1_000, doc="repetitions (null: the protocol's)"),
)
TIMING_FIELDS = _fields(
    ParamSpec("steps", 10, (int,), low=1, high=100_000, doc="training steps timed per round"),
    ParamSpec("rounds", 5, (int,), low=1, high=1_000, doc="timed rounds (median reported)"),
    ParamSpec("warmup", 2, (int,), low=0, high=1_000, doc="untimed rounds first"),
    ParamSpec("lambda", 1.0, (float,), low=0.0, high=1e6, doc="prior strength while timing"),
)
EVALUATION_FIELDS = _fields(
    ParamSpec("attribution", "expected_gradients", choices=ATTRIBUTIONS,
              doc="attribution the trained models are evaluated with"),
    ParamSpec("k", 16, (int,), low=1, high=MAX_K, doc="references of the evaluation attribution"),
)
METHOD_FIELDS = _fields(
    ParamSpec("name", REQUIRED, (str,), doc="a prior method"),
    ParamSpec("k", 1, (int,), low=1, high=MAX_K, doc="Expected Gradients references (expected_gradients only)"),
    ParamSpec("lambdas", None, **_LAMBDA, doc="prior strengths (default: the protocol's)"),
)
TIMING_DEFAULTS: dict[str, Any] = {k: s.default for k, s in TIMING_FIELDS.items()}
EVALUATION_DEFAULTS: dict[str, Any] = {k: s.default for k, s in EVALUATION_FIELDS.items()}
TOP_KEYS = (*TOP_FIELDS, "data", "model", "prior", "protocol", "methods", "k_sweep", "timing", "evaluation")


@dataclass(frozen=True)
class MethodUnit:
    """One trained configuration family: a method (with k for EG) and the lambdas to try."""

    label: str
    name: str
    k: int
    lambdas: tuple[float, ...]
    repetitions: int  # trained in repetitions 0 .. repetitions-1 (the k-sweep may use fewer)

    @property
    def bias(self) -> bool:
        return PRIOR_METHODS[self.name].bias

    @property
    def attribution(self) -> str | None:
        return PRIOR_METHODS[self.name].attribution


@dataclass
class PriorSuite:
    """A validated prior suite (see the YAML files in ``xbench/priors/suites``)."""

    name: str
    kind: str
    data: dict[str, Any]
    model: dict[str, Any]
    prior: str
    protocol: dict[str, Any]
    methods: list[MethodUnit]
    k_sweep: dict[str, Any] | None = None
    timing: dict[str, Any] = field(default_factory=lambda: dict(TIMING_DEFAULTS))
    evaluation: dict[str, Any] = field(default_factory=lambda: dict(EVALUATION_DEFAULTS))
    seed: int = TOP_FIELDS["seed"].default
    workers: int | None = TOP_FIELDS["workers"].default
    description: str = TOP_FIELDS["description"].default
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able mapping of every setting (the run's identity for ``resume``), ``source`` excluded."""
        d = asdict(self)
        d.pop("source")
        return d

    def units(self, rep: int | None = None) -> list[MethodUnit]:
        """Method units in suite order (main methods, then the EG k-sweep), those trained in ``rep`` if given."""
        return [u for u in self.methods if rep is None or rep < u.repetitions]


def label_of(name: str, k: int) -> str:
    """The result label of a method: ``expected_gradients[k=8]`` for EG, the name otherwise."""
    return f"expected_gradients[k={k}]" if name == "expected_gradients" else name


def prior_suites_dir() -> Path:
    """The folder of the built-in prior suites."""
    return Path(str(resources.files("xbench.priors").joinpath("suites")))


def list_prior_suites() -> dict[str, str]:
    """Name -> description of every built-in prior suite."""
    out = {}
    for f in sorted(prior_suites_dir().glob("*.yaml")):
        raw = yaml.safe_load(f.read_text()) or {}
        out[f.stem] = raw.get("description", "") if isinstance(raw, dict) else ""
    return out


def load_prior_suite(spec: str | Path) -> PriorSuite:
    """Read a prior suite from a YAML path or a built-in name (``priors_breast_cancer``) and validate it."""
    spec = str(spec)
    path = Path(spec)
    if not (path.suffix in (".yaml", ".yml") or path.exists()):
        names = list_prior_suites()
        if spec not in names:
            raise SuiteError(f"'{spec}' is neither a suite file nor a built-in prior suite; built-in: "
                             f"{', '.join(names)}{suggest(spec, list(names))}")
        path = prior_suites_dir() / f"{spec}.yaml"
    raw, source = read_suite_yaml(str(path))
    return parse_prior_suite(raw, source)


def _get(obj: dict, spec: ParamSpec, where: str, problems: list[str]) -> Any:
    """``obj[spec.name]`` checked against ``spec`` (a problem recorded when wrong), else its default."""
    if spec.name not in obj:
        return spec.default
    try:
        return spec.check(obj[spec.name], f"{where}.{spec.name}" if where else spec.name)
    except ParamError as err:
        problems.append(str(err))
        return spec.default


def _named(value: Any, where: str, problems: list[str], registry) -> dict[str, Any]:
    """``name`` or ``{name: ..., params: {...}}`` -> a dict with both, the params checked against the registry."""
    if isinstance(value, str):
        value = {"name": value}
    if not (isinstance(value, dict) and isinstance(value.get("name"), str)):
        problems.append(f"{where}: {value!r} is not a name or a mapping with 'name'")
        return {"name": "", "params": {}}
    extra = sorted(set(value) - {"name", "params"})
    if extra:
        problems.append(f"{where}.{extra[0]}: unknown key; allowed: name, params{suggest(str(extra[0]), ['params'])}")
    params = value.get("params") or {}
    if not isinstance(params, dict):
        problems.append(f"{where}.params: {params!r} is not a mapping")
        params = {}
    try:
        registry.get(value["name"]).resolve(params, where=f"{where}.params")
    except UnknownNameError as err:
        problems.append(f"{where}.name: {err}")
    except ParamError as err:
        problems.append(str(err))
    return {"name": value["name"], "params": dict(params)}


def _section(raw: dict, key: str, fields: dict[str, ParamSpec], problems: list[str]) -> dict[str, Any]:
    """A mapping section (protocol, timing, ...) with every field checked and every default filled in."""
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        problems.append(f"{key}: {value!r} is not a mapping")
        value = {}
    for k in value:
        if k not in fields:
            problems.append(f"{key}.{k}: unknown key; allowed: {', '.join(fields)}{suggest(str(k), list(fields))}")
    return {name: _get(value, spec, key, problems) for name, spec in fields.items()}


def parse_prior_suite(raw: Any, source: str = "<dict>") -> PriorSuite:
    """Validate a raw mapping into a :class:`PriorSuite`; raises :class:`SuiteError`, one line per problem."""
    from ..data import DATASETS
    from ..models import MODELS

    if not isinstance(raw, dict):
        raise SuiteError(f"{source}: a prior suite must be a mapping, got {type(raw).__name__}")
    problems: list[str] = []
    for key in raw:
        if key not in TOP_KEYS:
            problems.append(f"{key}: unknown key; allowed: {', '.join(TOP_KEYS)}{suggest(str(key), list(TOP_KEYS))}")
    if "name" not in raw:
        problems.append("name: required but missing")
    top = {k: _get(raw, spec, "", problems) for k, spec in TOP_FIELDS.items()}
    kind = top["kind"]
    prior_spec = ParamSpec("prior", "sparsity" if kind == "tabular" else "smoothness", choices=tuple(PENALTIES))
    prior = _get(raw, prior_spec, "", problems)
    data = _named(raw.get("data"), "data", problems, DATASETS)
    model = _named(raw.get("model", "mlp" if kind == "tabular" else "digits_cnn"), "model", problems, MODELS)

    protocol = _section(raw, "protocol", PROTOCOL_FIELDS, problems)
    protocol["lambdas"] = list(protocol["lambdas"])
    reps = protocol["repetitions"]

    units: list[MethodUnit] = []
    methods = raw.get("methods")
    if not isinstance(methods, list) or not methods:
        problems.append("methods: must be a non-empty list of prior methods")
        methods = []
    for i, m in enumerate(methods):
        unit = _method(m, f"methods[{i}]", protocol["lambdas"], reps, problems)
        if unit is not None:
            if any(u.label == unit.label for u in units):
                problems.append(f"methods[{i}]: '{unit.label}' is listed twice")
            units.append(unit)

    sweep = raw.get("k_sweep")
    if sweep is not None:
        sweep = _section(raw, "k_sweep", K_SWEEP_FIELDS, problems)
        lams = tuple(sweep["lambdas"]) if sweep["lambdas"] is not None else tuple(protocol["lambdas"])
        sreps = min(reps, sweep["repetitions"] or reps)
        for k in sweep["ks"]:
            label = label_of("expected_gradients", k)
            same = next((j for j, u in enumerate(units) if u.label == label), None)
            if same is None:
                units.append(MethodUnit(label, "expected_gradients", k, lams, sreps))
            else:  # the main list trains this one already: train the union of both lambda grids
                u = units[same]
                union = tuple(sorted(set(u.lambdas) | set(lams)))
                units[same] = MethodUnit(u.label, u.name, u.k, union, max(u.repetitions, sreps))
        sweep = {"ks": list(sweep["ks"]), "lambdas": list(lams), "repetitions": sreps}

    timing = _section(raw, "timing", TIMING_FIELDS, problems)
    evaluation = _section(raw, "evaluation", EVALUATION_FIELDS, problems)
    if problems:
        raise SuiteError([f"{source}: {p}" for p in problems])
    return PriorSuite(name=top["name"], kind=kind, data=data, model=model, prior=prior, protocol=protocol,
                      methods=units, k_sweep=sweep, timing=timing, evaluation=evaluation, seed=top["seed"],
                      workers=top["workers"], description=top["description"], source=source)


def _method(m: Any, where: str, default_lambdas: list[float], reps: int, problems: list[str]) -> MethodUnit | None:
    if isinstance(m, str):
        m = {"name": m}
    if not isinstance(m, dict) or not isinstance(m.get("name"), str):
        problems.append(f"{where}: {m!r} is not a method name or a mapping with 'name'")
        return None
    for key in m:
        if key not in METHOD_FIELDS:
            problems.append(f"{where}.{key}: unknown key; allowed: {', '.join(METHOD_FIELDS)}"
                            f"{suggest(str(key), list(METHOD_FIELDS))}")
    name = m["name"]
    if name not in PRIOR_METHODS:
        problems.append(f"{where}.name: '{name}' is not a prior method; available: {', '.join(PRIOR_METHODS)}"
                        f"{suggest(name, list(PRIOR_METHODS))}")
        return None
    k = _get(m, METHOD_FIELDS["k"], where, problems)
    if "k" in m and name != "expected_gradients":
        problems.append(f"{where}.k: only expected_gradients takes k")
    if PRIOR_METHODS[name].attribution is None:
        lams: tuple[float, ...] = (0.0,)  # unregularised: lambda is meaningless, train once
        if "lambdas" in m:
            problems.append(f"{where}.lambdas: {name} is unregularised and takes no lambdas")
    else:
        given = _get(m, METHOD_FIELDS["lambdas"], where, problems)
        lams = tuple(given) if given is not None else tuple(default_lambdas)
    return MethodUnit(label_of(name, k), name, k, lams, reps)
