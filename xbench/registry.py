"""Name -> factory registries (the way timm maps a model name to one function).

Every registry entry keeps the function, a one-line description, free-form metadata and a
parameter schema read from the function's keyword-only arguments.  The schema is what suite
validation and ``attribute(..., **params)`` check against, so a typo in YAML and a typo in Python
fail with the same one-line message.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from .errors import ParamError, UnknownNameError

_MISSING = inspect.Parameter.empty


def suggest(name: str, valid: list[str] | tuple[str, ...]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest valid name, or ``""``."""
    close = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


INT64_MAX = 2**63 - 1
MAX_ITEMS = 10_000  # longest list a parameter may hold (a grid of fractions, a list of lambdas)

IMPLIED_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    # The stated maximum of every count a registered function takes, where its registration declares none:
    # beyond these a run allocates gigabytes or takes days without measuring anything new.  A bound declared
    # at registration wins; data-dependent bounds (steps <= pixels) are checked in xbench.preflight.
    "seed": (0, 2**32 - 1), "rep": (0, 10_000), "max_batch": (1, 1_000_000),
    "n_samples": (1, 10_000), "n_steps": (1, 100_000), "steps": (1, 100_000), "n_subsets": (2, 100_000),
    "n_patches": (1, 100_000), "patch_size": (1, 4096), "window": (1, 4096), "stride": (1, 4096),
    "repeats": (1, 1_000), "warmup": (0, 1_000), "batches": (1, 1_000_000), "topk": (1, 100_000),
    "blur_kernel": (1, 1_001), "num_classes": (1, 100_000), "width": (1, 4_096), "size": (1, 4_096),
    "in_features": (1, 10_000_000), "in_channels": (1, 1_024), "n": (1, 10_000_000),
    "n_train": (1, 10_000_000), "n_val": (1, 10_000_000), "k": (1, 1_024),
    # lists: the bound holds for every element
    "fractions": (0.0, 1.0), "scales": (0.0, 1_000.0), "ns": (1, 10_000_000), "hidden": (1, 65_536),
}

PER_SAMPLE = ("steps", "n_samples", "n_subsets", "n_steps", "k", "n_patches")
"""Counts that multiply the work and the buffers of every sample (model passes, noise draws, curve points):
a registered parameter of one of these names is :attr:`ParamSpec.per_sample` unless its registration says
otherwise (``per_sample=(...)``), and preflight's memory estimate reads the flag."""

INPUT_KINDS = ("image", "tabular")
"""The kinds of data an entry can declare it works on (``inputs=`` at ``register(...)``): ``image`` inputs
[C, H, W], ``tabular`` inputs [F]; ``"any"`` stands for both."""

DATA_BOUNDS = ("units", "side")
"""What a count can be bounded by in the data (``data_bounds={param: ...}`` at ``register(...)``): ``units``
the pixels of one image (H x W) or the features of one tabular input; ``side`` the shorter image side (the
features of a tabular input)."""


def input_kinds(value: Any, where: str) -> tuple[str, ...]:
    """``inputs`` as declared (``"image"``, ``"tabular"``, ``"any"`` or a tuple of kinds) -> a tuple of kinds.

    Raises ValueError naming ``where`` for anything else (a registration mistake, found at import)."""
    if value == "any":
        return INPUT_KINDS
    kinds = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if not kinds or any(k not in INPUT_KINDS for k in kinds):
        raise ValueError(f"{where}: inputs={value!r}; give 'image', 'tabular', 'any' or a tuple of "
                         f"{', '.join(repr(k) for k in INPUT_KINDS)}")
    return tuple(dict.fromkeys(kinds))


def declare_fit(kind: str, name: str, fn: Callable, meta: dict[str, Any]) -> dict[str, Any]:
    """Check the part of a method's or metric's contract that says which data and models it fits.

    ``inputs`` (:func:`input_kinds`) is required of every built-in entry (a function defined in
    ``xbench``); a plugin entry that omits it is taken to work on images only, the kind every built-in
    supports, so that on tabular data it is refused before any work rather than crashing mid-run (a plugin
    declares ``inputs="any"`` to run there).  ``fits(model, data_info, params) -> str | None`` is an optional
    check of what a declaration cannot say (a layer that must exist, hooks a compiled model lacks), run by
    preflight on the dry-forward model; it returns why the entry does not fit, or None.
    """
    where = f"{kind} '{name}'"
    if "inputs" not in meta and str(getattr(fn, "__module__", "")).startswith("xbench."):
        raise ValueError(f"{where} must declare inputs= ('image', 'tabular' or 'any') at register(...)")
    meta["inputs"] = input_kinds(meta.get("inputs", "image"), where)
    fits = meta.get("fits")
    if fits is not None and not callable(fits):
        raise ValueError(f"{where}: fits must be a function (model, data_info, params) -> str | None")
    return meta


def data_kind(input_shape: Any) -> str:
    """The kind of data whose one input has ``input_shape``: ``image`` for (C, H, W), ``tabular`` for (F,)."""
    n = len(tuple(input_shape))
    return "image" if n == 3 else "tabular" if n == 1 else f"{n}-d"


@dataclass
class ParamSpec:
    """One user-settable value: its default, accepted types, allowed values, bounds and meaning.

    The one vocabulary for every check xbench makes on user input: registered functions' keyword
    parameters, suite fields, prior-suite protocols and command-line numbers.  ``low``/``high``
    bound a number, or every element of a list; ``items`` are the element types a list may hold;
    ``pattern`` is a regular expression a string must match fully (``pattern_help`` says it in words).
    Floats must be finite and ints must fit in 64 bits.
    """

    name: str
    default: Any
    types: tuple[type, ...] = ()
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    doc: str = ""
    items: tuple[type, ...] | None = None
    pattern: str | None = None
    pattern_help: str = ""
    per_sample: bool = False  # a count that multiplies every sample's work and buffers (see PER_SAMPLE)
    bounded_by: str | None = None  # at most the data's ``units`` or image ``side`` (see DATA_BOUNDS)

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def describe(self) -> str:
        """The accepted values in a few words: ``int in [1, 100000]``, ``'zero' | 'blur'``."""
        if self.choices is not None:
            return " | ".join(repr(c) for c in self.choices)
        if self.pattern is not None:
            return self.pattern_help or f"str matching {self.pattern}"
        names = "/".join(t.__name__ for t in self.types) or "any"
        if self.items:
            names += " of " + "/".join(t.__name__ for t in self.items)
        if self.low is not None or self.high is not None:
            lo = "-inf" if self.low is None else _num(self.low)
            hi = "inf" if self.high is None else _num(self.high)
            names += f" in [{lo}, {hi}]"
        return names

    def check(self, value: Any, where: str) -> Any:
        """Return ``value`` (ints widened to float where a float is expected) or raise ParamError."""
        if self.choices is not None:
            if not _hashable(value) or value not in self.choices:
                raise ParamError(
                    f"{where}: {_short(value)} is not allowed; allowed: {self.describe()}"
                    + suggest(str(value), [str(c) for c in self.choices])
                )
            return value
        if self.types and not _isinstance(value, self.types):
            raise ParamError(f"{where}: {_short(value)} has type {type(value).__name__}; expected {self.describe()}")
        if isinstance(value, str) and self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ParamError(f"{where}: {_short(value)} is not allowed; allowed: {self.describe()}")
        if isinstance(value, (list, tuple)) and (list in self.types or tuple in self.types):
            return self._check_items(value, where)
        return self._check_number(value, where, self.types)

    def _check_number(self, value: Any, where: str, types: tuple[type, ...]) -> Any:
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ParamError(f"{where}: {value!r} is not a finite number; expected {self.describe()}")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT64_MAX:
            raise ParamError(f"{where}: {value!r} does not fit in 64 bits; expected {self.describe()}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                raise ParamError(f"{where}: {value!r} is out of range; expected {self.describe()}")
        return value

    def _check_items(self, value: list | tuple, where: str) -> Any:
        if not value or len(value) > MAX_ITEMS:
            raise ParamError(f"{where}: a list of {len(value)} items; expected 1 to {MAX_ITEMS} items "
                             f"({self.describe()})")
        out = []
        for i, v in enumerate(value):
            if isinstance(v, (list, tuple, dict)) or (self.items and not _isinstance(v, self.items)):
                want = "/".join(t.__name__ for t in self.items) if self.items else "a number or a name"
                raise ParamError(f"{where}[{i}]: {_short(v)} has type {type(v).__name__}; expected {want}")
            out.append(self._check_number(v, f"{where}[{i}]", self.items or ()))
        return type(value)(out) if isinstance(value, tuple) else out


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters: an error line stays one readable line whatever the input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _isinstance(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def _types_of(annotation: Any) -> tuple[tuple[type, ...], tuple[Any, ...] | None]:
    """Map a type hint to (accepted runtime types, Literal choices or None)."""
    if annotation is _MISSING or annotation is Any:
        return (), None
    origin = get_origin(annotation)
    if origin is Literal:
        return (), tuple(get_args(annotation))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        types: list[type] = []
        choices: list[Any] = []
        for arg in get_args(annotation):
            if arg is type(None):
                types.append(type(None))
                continue
            t, c = _types_of(arg)
            if c is not None:
                choices.extend(c)
            if not t and c is None:
                return (), None  # a member we cannot check (e.g. a Tensor): accept anything
            types.extend(t)
        if choices and not types:
            return (), tuple(choices)
        if choices:
            return (), None  # mixed Literal + types: too loose to check here, the function checks it
        return tuple(types), None
    if origin in (list, tuple):
        return (list, tuple), None
    if origin is dict:
        return (dict,), None
    if isinstance(annotation, type):
        return (annotation,), None
    return (), None


def _items_of(annotation: Any) -> tuple[type, ...] | None:
    """Element types of ``list[int]`` / ``tuple[float, ...]`` (inside an Optional too), else None."""
    origin = get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        found = [_items_of(a) for a in get_args(annotation) if a is not type(None)]
        return next((f for f in found if f), None)
    if origin in (list, tuple):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        types = tuple(a for a in args if isinstance(a, type))
        return types if types and len(types) == len(args) and len(set(types)) == 1 else None
    return None


def params_of(fn: Callable, skip: int, bounds: dict[str, tuple[float | None, float | None]] | None = None,
              hidden: tuple[str, ...] = (), per_sample: tuple[str, ...] | None = None,
              data_bounds: dict[str, str] | None = None) -> dict[str, ParamSpec]:
    """Read the keyword parameters of ``fn`` after its first ``skip`` positional ones into ParamSpecs.

    Numeric parameters without a declared bound take the stated maximum in :data:`IMPLIED_BOUNDS`;
    ``per_sample`` names the per-sample counts (default: the numeric ones named in :data:`PER_SAMPLE`);
    ``data_bounds`` maps a count to what in the data bounds it (:data:`DATA_BOUNDS`).
    """
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolved forward references: fall back to no type checks
        hints = {}
    specs: dict[str, ParamSpec] = {}
    for i, (name, p) in enumerate(sig.parameters.items()):
        if i < skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or name in hidden:
            continue
        hint = hints.get(name, _MISSING)
        types, choices = _types_of(hint)
        items = _items_of(hint) if hint is not _MISSING else None
        lo, hi = (bounds or {}).get(name, (None, None))
        if int in types or float in types or (items and (int in items or float in items)):
            imp_lo, imp_hi = IMPLIED_BOUNDS.get(name, (None, None))
            lo = imp_lo if lo is None else lo
            hi = imp_hi if hi is None else hi
        numeric = int in types or float in types or bool(items and (int in items or float in items))
        counted = (name in PER_SAMPLE and numeric) if per_sample is None else name in per_sample
        specs[name] = ParamSpec(name, p.default, types, choices, lo, hi, items=items, per_sample=counted,
                                bounded_by=(data_bounds or {}).get(name))
    return specs


Contract = Callable[[str, Callable, dict[str, ParamSpec], dict[str, Any]], dict[str, Any]]
"""``contract(name, fn, specs, meta) -> meta``: a registry's check of what each entry declares."""


@dataclass
class Entry:
    """A registered implementation."""

    name: str
    fn: Callable
    description: str
    params: dict[str, ParamSpec]
    meta: dict[str, Any] = field(default_factory=dict)

    def resolve(self, params: dict[str, Any] | None, where: str = "") -> dict[str, Any]:
        """Check ``params`` against the schema and return them with every default filled in.

        Defaults are filled so that a result row records every setting, including the ones the
        user did not write; except the entry's ``quiet_defaults`` (parameters added later whose default
        keeps the earlier behaviour), recorded only when given, so that rows of runs that never set them
        keep their recorded settings.
        """
        params = dict(params or {})
        for alias, name in self.meta.get("aliases", {}).items():
            # a YAML key that cannot be a Python parameter name (``class``) maps onto one that can
            if alias in params:
                if name in params:
                    raise ParamError(f"{where}: give '{alias}' or '{name}', not both")
                params[name] = params.pop(alias)
        prefix = f"{where}." if where else ""
        out: dict[str, Any] = {}
        for key in params:
            if key not in self.params:
                allowed = ", ".join(sorted(self.params)) or "(none)"
                raise ParamError(
                    f"{prefix}{key}: '{key}' is not a parameter of {self.name}; allowed: {allowed}"
                    + suggest(key, list(self.params))
                )
        for name, spec in self.params.items():
            if name in params:
                out[name] = spec.check(params[name], f"{prefix}{name}")
            elif spec.required:
                raise ParamError(f"{prefix}{name}: required by {self.name} but missing")
            elif name not in self.meta.get("quiet_defaults", ()):
                out[name] = spec.default
        if "check" in self.meta:
            self.meta["check"](out, where or self.name)  # cross-parameter checks (e.g. against a library's signature)
        return out


class Registry:
    """A named collection of implementations of one kind (methods, metrics, models, datasets)."""

    def __init__(self, kind: str, skip: int, hidden: tuple[str, ...] = (), contract: Contract | None = None):
        self.kind = kind
        # ``contract(name, fn, specs, meta) -> meta``: checks and completes what every entry of this kind
        # must declare at ``register(...)`` (a method's context and path start, a metric's direction, ...)
        self._contract = contract
        self._hidden = tuple(hidden)  # context arguments the harness fills in, never user parameters
        self._skip = skip  # leading positional arguments that are not user parameters
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, *, description: str, params_from: Callable | None = None,
                 bounds: dict[str, tuple[float | None, float | None]] | None = None,
                 hidden: tuple[str, ...] = (), skip: int | None = None, docs: dict[str, str] | None = None,
                 per_sample: tuple[str, ...] | None = None, data_bounds: dict[str, str] | None = None,
                 **meta: Any) -> Callable:
        """Decorator: register ``fn`` under ``name``.

        ``params_from`` reads the parameter schema from another function (a plain function that the
        registered adapter wraps); ``hidden`` names keyword arguments the harness fills in itself;
        ``docs`` gives one-line meanings of parameters beside the function (``{param: meaning}``, kept
        in :data:`xbench.paramdocs.HELP` as ``"<name>.<param>"``), so a new entry is one file.
        ``per_sample`` / ``data_bounds``: see :func:`params_of` (what preflight checks against the data).
        """

        def deco(fn: Callable) -> Callable:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            src = params_from or fn
            n_skip = self._skip if skip is None else skip
            bad = {k: v for k, v in (data_bounds or {}).items() if v not in DATA_BOUNDS}
            if bad:
                raise ValueError(f"{self.kind} '{name}': data_bounds {bad}; each is one of {', '.join(DATA_BOUNDS)}")
            specs = params_of(src, n_skip, bounds, tuple(hidden) + self._hidden, per_sample, data_bounds)
            unknown = sorted((set(data_bounds or {}) | set(per_sample or ())) - set(specs))
            if unknown:
                raise ValueError(f"{self.kind} '{name}': per_sample/data_bounds name {unknown}, not its parameters")
            declared = self._contract(name, fn, specs, dict(meta)) if self._contract else dict(meta)
            if docs:
                from .paramdocs import HELP

                unknown = sorted(set(docs) - set(specs))
                if unknown:
                    raise ValueError(f"{self.kind} '{name}': docs for {unknown}, which are not its parameters")
                HELP.update({f"{name}.{k}": " ".join(v.split()) for k, v in docs.items()})
                declared["docs"] = dict(docs)
            self._entries[name] = Entry(name, fn, description, specs, declared)
            return fn

        return deco

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"'{name}' is not a {self.kind}; available: {', '.join(self.available())}"
                + suggest(name, self.available())
            ) from None

    def unregister(self, name: str) -> None:
        """Remove ``name`` (used for the temporary entries of :func:`xbench.evaluate`) and the meanings it declared."""
        entry = self._entries.pop(name, None)
        if entry is not None and entry.meta.get("docs"):
            from .paramdocs import HELP

            for k in entry.meta["docs"]:
                HELP.pop(f"{name}.{k}", None)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def entries(self) -> list[Entry]:
        """Every entry, sorted by name (what registry-parametrised tests iterate over)."""
        return [self._entries[n] for n in self.available()]

    def available(self) -> list[str]:
        return sorted(self._entries)

    def describe(self) -> dict[str, str]:
        return {n: self._entries[n].description for n in self.available()}
