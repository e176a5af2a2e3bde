"""Name -> factory registries (the way timm maps a model name to one function).

Every registry entry keeps the function, a one-line description, free-form metadata and a
parameter schema read from the function's keyword-only arguments.  The schema is what suite
validation and ``attribute(..., **params)`` check against, so a typo in YAML and a typo in Python
fail with the same one-line message.
"""

from __future__ import annotations

import difflib
import inspect
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


@dataclass
class ParamSpec:
    """One user-settable parameter: its default, accepted types, allowed values and bounds."""

    name: str
    default: Any
    types: tuple[type, ...] = ()
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def describe(self) -> str:
        if self.choices is not None:
            return " | ".join(repr(c) for c in self.choices)
        names = "/".join(t.__name__ for t in self.types) or "any"
        if self.low is not None or self.high is not None:
            lo = "-inf" if self.low is None else f"{self.low:g}"
            hi = "inf" if self.high is None else f"{self.high:g}"
            names += f" in [{lo}, {hi}]"
        return names

    def check(self, value: Any, where: str) -> Any:
        """Return ``value`` (ints widened to float where a float is expected) or raise ParamError."""
        if self.choices is not None:
            if value not in self.choices:
                raise ParamError(
                    f"{where}: {value!r} is not allowed; allowed: {self.describe()}"
                    + suggest(str(value), [str(c) for c in self.choices])
                )
            return value
        if self.types and not _isinstance(value, self.types):
            raise ParamError(f"{where}: {value!r} has type {type(value).__name__}; expected {self.describe()}")
        if float in self.types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                raise ParamError(f"{where}: {value!r} is out of range; expected {self.describe()}")
        return value


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


def params_of(fn: Callable, skip: int, bounds: dict[str, tuple[float | None, float | None]] | None = None,
              hidden: tuple[str, ...] = ()) -> dict[str, ParamSpec]:
    """Read the keyword parameters of ``fn`` after its first ``skip`` positional ones into ParamSpecs."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolved forward references: fall back to no type checks
        hints = {}
    specs: dict[str, ParamSpec] = {}
    for i, (name, p) in enumerate(sig.parameters.items()):
        if i < skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or name in hidden:
            continue
        types, choices = _types_of(hints.get(name, _MISSING))
        lo, hi = (bounds or {}).get(name, (None, None))
        specs[name] = ParamSpec(name, p.default, types, choices, lo, hi)
    return specs


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
        user did not write.
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
            else:
                out[name] = spec.default
        if "check" in self.meta:
            self.meta["check"](out, where or self.name)  # cross-parameter checks (e.g. against a library's signature)
        return out


class Registry:
    """A named collection of implementations of one kind (methods, metrics, models, datasets)."""

    def __init__(self, kind: str, skip: int, hidden: tuple[str, ...] = ()):
        self.kind = kind
        self._hidden = tuple(hidden)  # context arguments the harness fills in, never user parameters
        self._skip = skip  # leading positional arguments that are not user parameters
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, *, description: str, params_from: Callable | None = None,
                 bounds: dict[str, tuple[float | None, float | None]] | None = None,
                 hidden: tuple[str, ...] = (), skip: int | None = None, **meta: Any) -> Callable:
        """Decorator: register ``fn`` under ``name``.

        ``params_from`` reads the parameter schema from another function (a plain function that the
        registered adapter wraps); ``hidden`` names keyword arguments the harness fills in itself.
        """

        def deco(fn: Callable) -> Callable:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            src = params_from or fn
            n_skip = self._skip if skip is None else skip
            specs = params_of(src, n_skip, bounds, tuple(hidden) + self._hidden)
            self._entries[name] = Entry(name, fn, description, specs, dict(meta))
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
        """Remove ``name`` (used for the temporary entries of :func:`xbench.evaluate`)."""
        self._entries.pop(name, None)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def available(self) -> list[str]:
        return sorted(self._entries)

    def describe(self) -> dict[str, str]:
        return {n: self._entries[n].description for n in self.available()}
