"""Loading suites: a YAML path or the name of a built-in suite shipped in ``xbench/suite/builtin``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import SuiteError
from ..registry import suggest
from .schema import Suite, parse_suite


def builtin_suites() -> dict[str, str]:
    """Name -> description of every built-in suite."""
    out = {}
    for f in sorted(resources.files("xbench.suite").joinpath("builtin").iterdir(), key=lambda f: f.name):
        if f.name.endswith(".yaml"):
            raw = yaml.safe_load(f.read_text())
            out[f.name[:-5]] = (raw or {}).get("description", "")
    return out


def read_suite_yaml(spec: str) -> tuple[Any, str]:
    """Return (raw mapping, source label) for a path or a built-in suite name."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise SuiteError(f"{spec}: no such suite file; give a YAML path or a built-in suite "
                             f"({', '.join(builtin_suites())})")
        text, source = path.read_text(), str(path)
    else:
        names = builtin_suites()
        if spec not in names:
            raise SuiteError(f"'{spec}' is neither a suite file nor a built-in suite; built-in: {', '.join(names)}"
                             f"{suggest(spec, list(names))}")
        text = resources.files("xbench.suite").joinpath("builtin", f"{spec}.yaml").read_text()
        source = f"builtin:{spec}"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SuiteError(f"{source}:{where}: not valid YAML: {problem}") from None
    return raw, source


def apply_override(raw: Any, key: str, value: Any) -> None:
    """Set a dotted key in a raw suite: ``data.root``, ``models.1.weights`` (list index), ``seed``."""
    if not isinstance(raw, dict):
        return
    node: Any = raw
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SuiteError(f"--set {key}: '{part}' is not an index of {'.'.join(parts[:i]) or 'the suite'} "
                                 f"(0..{len(node) - 1})")
            if isinstance(node[int(part)], str):  # models: [digits_cnn] -> {name: digits_cnn}
                node[int(part)] = {"name": node[int(part)]}
            node = node[int(part)]
        else:
            if isinstance(node.get(part), str) and part == "data":  # data: digits -> {name: digits}
                node[part] = {"name": node[part]}
            node = node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise SuiteError(f"--set {key}: '{last}' is not an index (0..{len(node) - 1})")
        node[int(last)] = value
    else:
        node[last] = value


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["models.0.weights=/p.pth", "seed=3"]`` -> dotted keys with YAML-parsed values."""
    out = {}
    for item in items:
        if "=" not in item:
            raise SuiteError(f"--set {item}: expected KEY=VALUE, e.g. --set models.0.weights=/path/to/model.pth")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out


def load_suite(spec: str, overrides: dict[str, Any] | None = None) -> Suite:
    """Read and validate a suite; ``overrides`` are dotted keys applied first (e.g. ``{"data.root": ...}``)."""
    raw, source = read_suite_yaml(spec)
    for key, value in (overrides or {}).items():
        apply_override(raw, key, value)
    return parse_suite(raw, source)
