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


def load_suite(spec: str, overrides: dict[str, Any] | None = None) -> Suite:
    """Read and validate a suite; ``overrides`` are dotted keys applied first (e.g. ``{"data.root": ...}``)."""
    raw, source = read_suite_yaml(spec)
    for key, value in (overrides or {}).items():
        if not isinstance(raw, dict):
            break
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if isinstance(node, str):  # data: digits  ->  {name: digits}
                node = {"name": node}
        node[parts[-1]] = value
    return parse_suite(raw, source)
