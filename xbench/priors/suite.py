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

from ..errors import SuiteError
from ..registry import suggest
from ..suite.loader import read_suite_yaml
from .attributions import MAX_K, PRIOR_METHODS
from .penalties import PENALTIES

PAPER_LAMBDAS = (0.01, 0.1, 1.0, 10.0, 100.0)
"""Paper A §4.3's grid of prior strengths, chosen per method on validation."""

KINDS = ("tabular", "image")
TOP_KEYS = ("name", "description", "kind", "seed", "data", "model", "prior", "protocol", "methods", "k_sweep",
            "timing", "evaluation", "workers")
PROTOCOL_DEFAULTS: dict[str, Any] = {"repetitions": 10, "n_train": 100, "n_val": 100, "n_test": None, "epochs": 100,
                                     "lr": 1e-3, "lambdas": list(PAPER_LAMBDAS), "standardize": True}
TIMING_DEFAULTS: dict[str, Any] = {"steps": 10, "rounds": 5, "warmup": 2, "lambda": 1.0}
EVALUATION_DEFAULTS: dict[str, Any] = {"attribution": "expected_gradients", "k": 16}


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
    seed: int = 0
    workers: int | None = None
    description: str = ""
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


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_in(problems: list[str], where: str, value: Any, low: int, high: int | None = None,
            allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        problems.append(f"{where}: {value!r} is not an integer {rng}{' or null' if allow_none else ''}")


def _lambdas(problems: list[str], where: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not value or not all(_number(v) and v >= 0 for v in value):
        problems.append(f"{where}: {value!r} is not a non-empty list of numbers >= 0")
        return ()
    return tuple(float(v) for v in value)


def _named(value: Any, where: str, problems: list[str]) -> dict[str, Any]:
    """``name`` or ``{name: ..., params: {...}}`` -> a dict with both."""
    if isinstance(value, str):
        return {"name": value, "params": {}}
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        extra = sorted(set(value) - {"name", "params"})
        if extra:
            problems.append(f"{where}.{extra[0]}: unknown key; allowed: name, params{suggest(extra[0], ['params'])}")
        params = value.get("params") or {}
        if not isinstance(params, dict):
            problems.append(f"{where}.params: {params!r} is not a mapping")
            params = {}
        return {"name": value["name"], "params": dict(params)}
    problems.append(f"{where}: {value!r} is not a name or a mapping with 'name'")
    return {"name": "", "params": {}}


def _section(raw: dict, key: str, defaults: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        problems.append(f"{key}: {value!r} is not a mapping")
        return dict(defaults)
    for k in value:
        if k not in defaults:
            problems.append(f"{key}.{k}: unknown key; allowed: {', '.join(defaults)}{suggest(k, list(defaults))}")
    return {**defaults, **{k: v for k, v in value.items() if k in defaults}}


def parse_prior_suite(raw: Any, source: str = "<dict>") -> PriorSuite:
    """Validate a raw mapping into a :class:`PriorSuite`; raises :class:`SuiteError`, one line per problem."""
    if not isinstance(raw, dict):
        raise SuiteError(f"{source}: a prior suite must be a mapping, got {type(raw).__name__}")
    problems: list[str] = []
    for key in raw:
        if key not in TOP_KEYS:
            problems.append(f"{key}: unknown key; allowed: {', '.join(TOP_KEYS)}{suggest(str(key), list(TOP_KEYS))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"name: {name!r} is not a non-empty string")
    kind = raw.get("kind", "tabular")
    if kind not in KINDS:
        problems.append(f"kind: {kind!r} is not allowed; allowed: {', '.join(KINDS)}{suggest(str(kind), KINDS)}")
    prior = raw.get("prior", "sparsity" if kind == "tabular" else "smoothness")
    if prior not in PENALTIES:
        problems.append(f"prior: {prior!r} is not a prior; allowed: {', '.join(PENALTIES)}"
                        f"{suggest(str(prior), list(PENALTIES))}")
    seed = raw.get("seed", 0)
    _int_in(problems, "seed", seed, 0)
    workers = raw.get("workers")
    _int_in(problems, "workers", workers, 1, allow_none=True)
    data = _named(raw.get("data"), "data", problems)
    model = _named(raw.get("model", "mlp" if kind == "tabular" else "digits_cnn"), "model", problems)

    protocol = _section(raw, "protocol", PROTOCOL_DEFAULTS, problems)
    _int_in(problems, "protocol.repetitions", protocol["repetitions"], 1)
    for key in ("n_train", "n_val"):
        _int_in(problems, f"protocol.{key}", protocol[key], 2)
    _int_in(problems, "protocol.n_test", protocol["n_test"], 2, allow_none=True)
    _int_in(problems, "protocol.epochs", protocol["epochs"], 1)
    if not _number(protocol["lr"]) or protocol["lr"] <= 0:
        problems.append(f"protocol.lr: {protocol['lr']!r} is not a number > 0")
    protocol["lambdas"] = list(_lambdas(problems, "protocol.lambdas", protocol["lambdas"]))
    if not isinstance(protocol["standardize"], bool):
        problems.append(f"protocol.standardize: {protocol['standardize']!r} is not true or false")
    reps = protocol["repetitions"] if isinstance(protocol["repetitions"], int) else 1

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
        sweep = _section(raw, "k_sweep", {"ks": [1, 2, 4, 8, 16, 32, 64, 128], "lambdas": None, "repetitions": None},
                         problems)
        ks = sweep["ks"]
        if not isinstance(ks, list) or not ks or not all(isinstance(k, int) and 1 <= k <= MAX_K for k in ks):
            problems.append(f"k_sweep.ks: {ks!r} is not a non-empty list of integers in [1, {MAX_K}]")
            ks = []
        lams = (_lambdas(problems, "k_sweep.lambdas", sweep["lambdas"]) if sweep["lambdas"] is not None
                else tuple(protocol["lambdas"]))
        _int_in(problems, "k_sweep.repetitions", sweep["repetitions"], 1, allow_none=True)
        sreps = min(reps, sweep["repetitions"] or reps) if isinstance(sweep["repetitions"], (int, type(None))) else 1
        for k in ks:
            label = label_of("expected_gradients", k)
            same = next((j for j, u in enumerate(units) if u.label == label), None)
            if same is None:
                units.append(MethodUnit(label, "expected_gradients", k, lams, sreps))
            else:  # the main list trains this one already: train the union of both lambda grids
                u = units[same]
                union = tuple(sorted(set(u.lambdas) | set(lams)))
                units[same] = MethodUnit(u.label, u.name, u.k, union, max(u.repetitions, sreps))
        sweep = {"ks": list(ks), "lambdas": list(lams), "repetitions": sreps}

    timing = _section(raw, "timing", TIMING_DEFAULTS, problems)
    for key in ("steps", "rounds"):
        _int_in(problems, f"timing.{key}", timing[key], 1)
    _int_in(problems, "timing.warmup", timing["warmup"], 0)
    if not _number(timing["lambda"]) or timing["lambda"] < 0:
        problems.append(f"timing.lambda: {timing['lambda']!r} is not a number >= 0")
    evaluation = _section(raw, "evaluation", EVALUATION_DEFAULTS, problems)
    if evaluation["attribution"] not in ("expected_gradients", "gradient", "x_gradient", "rrr", "own"):
        problems.append(f"evaluation.attribution: {evaluation['attribution']!r} is not allowed; allowed: "
                        "expected_gradients, gradient, rrr, own")
    _int_in(problems, "evaluation.k", evaluation["k"], 1, MAX_K)
    desc = raw.get("description", "")
    if not isinstance(desc, str):
        problems.append(f"description: {desc!r} is not a string")
    if problems:
        raise SuiteError([f"{source}: {p}" for p in problems])
    return PriorSuite(name=name, kind=kind, data=data, model=model, prior=prior, protocol=protocol, methods=units,
                      k_sweep=sweep, timing=timing, evaluation=evaluation, seed=seed, workers=workers,
                      description=desc, source=source)


def _method(m: Any, where: str, default_lambdas: list[float], reps: int, problems: list[str]) -> MethodUnit | None:
    if isinstance(m, str):
        m = {"name": m}
    if not isinstance(m, dict) or not isinstance(m.get("name"), str):
        problems.append(f"{where}: {m!r} is not a method name or a mapping with 'name'")
        return None
    allowed = ("name", "k", "lambdas")
    for key in m:
        if key not in allowed:
            problems.append(f"{where}.{key}: unknown key; allowed: {', '.join(allowed)}{suggest(str(key), allowed)}")
    name = m["name"]
    if name not in PRIOR_METHODS:
        problems.append(f"{where}.name: '{name}' is not a prior method; available: {', '.join(PRIOR_METHODS)}"
                        f"{suggest(name, list(PRIOR_METHODS))}")
        return None
    k = m.get("k", 1)
    _int_in(problems, f"{where}.k", k, 1, MAX_K)
    if "k" in m and name != "expected_gradients":
        problems.append(f"{where}.k: only expected_gradients takes k")
    if PRIOR_METHODS[name].attribution is None:
        lams: tuple[float, ...] = (0.0,)  # unregularised: lambda is meaningless, train once
        if "lambdas" in m:
            problems.append(f"{where}.lambdas: {name} is unregularised and takes no lambdas")
    else:
        lams = _lambdas(problems, f"{where}.lambdas", m["lambdas"]) if "lambdas" in m else tuple(default_lambdas)
    return MethodUnit(label_of(name, k if isinstance(k, int) else 1), name, k if isinstance(k, int) else 1, lams, reps)
