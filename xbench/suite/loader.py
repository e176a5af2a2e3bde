"""Loading suites: a YAML path or the name of a built-in suite shipped in ``xbench/suite/builtin``."""

from __future__ import annotations

import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import SuiteError
from ..registry import _short, suggest
from .schema import Suite, parse_suite


def builtin_suites() -> dict[str, str]:
    """Name -> description of every built-in suite."""
    out = {}
    for f in sorted(resources.files("xbench.suite").joinpath("builtin").iterdir(), key=lambda f: f.name):
        if f.name.endswith(".yaml"):
            raw = yaml.safe_load(f.read_text())
            out[f.name[:-5]] = (raw or {}).get("description", "")
    return out


MAX_SUITE_BYTES = 1_000_000  # a suite is a page of YAML; more is a mistake (or an attack)
MAX_DEPTH = 20  # deeper nesting than any suite needs (``models[0].hidden`` is depth 4)
MAX_NODES = 100_000  # YAML aliases can expand a small file into billions of nodes
MAX_INT_BITS = 1024  # far above any field's bound (seeds are 64 bits); bigger ones cannot even be printed
_SURROGATE = re.compile("[\ud800-\udfff]")


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (YAML silently keeps the last)."""

    def construct_mapping(self, node, deep=False):  # noqa: D401 - PyYAML's hook
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}' (first on line {seen[key]})", key_node.start_mark)
                seen[key] = line
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str | bytes, source: str) -> Any:
    """Parse suite YAML safely: UTF-8 only, no Python tags, no duplicate keys, bounded size and depth.

    Raises SuiteError with one line naming ``source`` (and the line and column where YAML knows them).
    """
    if isinstance(text, bytes):
        if len(text) > MAX_SUITE_BYTES:
            raise SuiteError(f"{source}: {len(text):,} bytes; a suite file is at most {MAX_SUITE_BYTES:,} bytes")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise SuiteError(f"{source}: not a UTF-8 text file (byte {err.start}: {text[err.start:err.start + 1]!r});"
                             " a suite is a YAML text file") from None
    if "\x00" in text:
        raise SuiteError(f"{source}: contains NUL bytes; a suite is a YAML text file, not a binary file")
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except ValueError as err:  # an integer of more digits than Python converts (4,300 by default)
        why = (f"an integer of more than {sys.get_int_max_str_digits():,} digits; no suite field takes one"
               if "digits" in str(err) else f"not valid YAML ({str(err).splitlines()[0] if str(err) else ''})")
        raise SuiteError(f"{source}: {why}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SuiteError(f"{source}:{where}: not valid YAML: {' '.join(str(problem).split())}") from None
    except RecursionError:
        raise SuiteError(f"{source}: nested deeper than YAML can read; a suite nests at most {MAX_DEPTH} "
                         "levels") from None
    _check_shape(raw, source)
    return raw


def _check_shape(raw: Any, source: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and more than MAX_NODES values (alias bombs), without recursion."""
    stack = [(raw, 0)]
    nodes = 0
    while stack:
        obj, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise SuiteError(f"{source}: more than {MAX_NODES:,} values (YAML aliases expanding?); "
                             "a suite is a page of settings")
        if depth > MAX_DEPTH:
            raise SuiteError(f"{source}: nested {depth} levels deep; a suite nests at most {MAX_DEPTH} levels")
        if isinstance(obj, int) and obj.bit_length() > MAX_INT_BITS:  # 0x... escapes Python's digit limit
            raise SuiteError(f"{source}: an integer of {obj.bit_length():,} bits; no suite field takes one over "
                             f"{MAX_INT_BITS} bits")
        if isinstance(obj, str) and _SURROGATE.search(obj):
            raise SuiteError(f"{source}: the text {obj[:60]!r} holds "
                             "a lone surrogate (a \\ud800-\\udfff escape), which no file or terminal can store")
        if isinstance(obj, dict):
            stack.extend((k, depth + 1) for k in obj if isinstance(k, (str, int)))
            stack.extend((v, depth + 1) for v in obj.values())
        elif isinstance(obj, list):
            stack.extend((v, depth + 1) for v in obj)


def read_suite_yaml(spec: str) -> tuple[Any, str]:
    """Return (raw mapping, source label) for a path or a built-in suite name."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            what = "a folder, not a suite file" if path.is_dir() else "no such suite file"
            raise SuiteError(f"{spec}: {what}; give a YAML path or a built-in suite ({', '.join(builtin_suites())})")
        try:
            with path.open("rb") as f:
                data = f.read(MAX_SUITE_BYTES + 1)
        except OSError as err:
            raise SuiteError(f"{spec}: cannot read the suite file ({err.strerror or type(err).__name__})") from None
        source = str(path)
    else:
        names = builtin_suites()
        if spec not in names:
            raise SuiteError(f"'{spec}' is neither a suite file nor a built-in suite; built-in: {', '.join(names)}"
                             f"{suggest(spec, list(names))}")
        data = resources.files("xbench.suite").joinpath("builtin", f"{spec}.yaml").read_bytes()
        source = f"builtin:{spec}"
    return parse_yaml(data, source), source


def apply_override(raw: Any, key: str, value: Any) -> None:
    """Set a dotted key in a raw suite: ``data.root``, ``models.1.weights`` (list index), ``seed``.

    Raises SuiteError (one line) for a key that does not lead through mappings and lists.
    """
    if not isinstance(raw, dict):
        return
    parts = key.split(".")
    if not key or any(not part for part in parts):
        raise SuiteError(f"--set {key}=...: '{key}' is not a dotted field path, e.g. data.n_samples or models.0.x")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        here = ".".join(parts[: i + 1])
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
        if not isinstance(node, (dict, list)):
            raise SuiteError(f"--set {key}: '{here}' is {_short(node)}, not a mapping or a list, so it has no "
                             f"field '{parts[i + 1]}'")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise SuiteError(f"--set {key}: '{last}' is not an index (0..{len(node) - 1})")
        node[int(last)] = value
    else:
        node[last] = value


def parse_set(items: list[str], flag: str = "--set") -> dict[str, Any]:
    """``["models.0.weights=/p.pth", "seed=3"]`` -> dotted keys with YAML-parsed values (safely, one line errors)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise SuiteError(f"{flag} {item}: expected KEY=VALUE, e.g. {flag} models.0.weights=/path/to/model.pth")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = parse_yaml(value, f"{flag} {key.strip()}") if value.strip() else None
        except SuiteError as err:
            raise SuiteError(f"{err.problems[0]} (the value after '=' is read as YAML; quote a string)") from None
    return out


def _path_fields(raw: Any) -> list[tuple[str, dict, str]]:
    """(field path, the mapping holding it, key) of every file path a suite names: ``data.root``,
    ``models[i].path`` and ``models[i].weights`` when it names a file (``plugins`` resolve in :mod:`xbench.plugins`)."""
    from ..models.checkpoints import is_checkpoint_path

    out = []
    if not isinstance(raw, dict):
        return out
    if isinstance(raw.get("data"), dict) and isinstance(raw["data"].get("root"), str):
        out.append(("data.root", raw["data"], "root"))
    for i, model in enumerate(raw.get("models") if isinstance(raw.get("models"), list) else []):
        if isinstance(model, dict):
            if isinstance(model.get("path"), str):
                out.append((f"models[{i}].path", model, "path"))
            if isinstance(model.get("weights"), str) and is_checkpoint_path(model["weights"]):
                out.append((f"models[{i}].weights", model, "weights"))
            if isinstance(model.get("weights"), dict) and isinstance(model["weights"].get("path"), str):
                out.append((f"models[{i}].weights.path", model["weights"], "path"))
    return out


def fill_search_paths(raw: Any, base: Path | None) -> None:
    """A ``python`` model whose factory (or ``weights`` key_map/load) module lies in the suite file's folder
    ``base`` gets ``search_path: base`` (unless it gives its own), so the module is found beside the suite without
    the folder staying on ``sys.path``; in place."""
    from ..models.user import _local_module

    if base is None or not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        return
    for model in raw["models"]:
        if not isinstance(model, dict) or model.get("name") != "python" or "search_path" in model:
            continue
        weights = model.get("weights") if isinstance(model.get("weights"), dict) else {}
        specs = [model.get("factory"), weights.get("key_map"), weights.get("load")]
        if any(isinstance(v, str) and ":" in v and _local_module(v.split(":")[0], base) for v in specs):
            model["search_path"] = str(base)


def resolve_paths(raw: Any, base: Path | None) -> None:
    """Make the suite's relative file paths relative to ``base`` (the suite file's folder; None: leave them
    relative to the current folder), in place; a path no file system can hold is one line naming its field.
    ``~`` stays as written (expanded where the file is opened, after this check)."""
    from ..errors import ParamError
    from ..paths import expand_path

    for where, holder, key in _path_fields(raw):
        try:
            path = expand_path(holder[key], where, base)
        except ParamError as err:
            raise SuiteError(str(err)) from None
        if base is not None and not holder[key].startswith("~"):
            holder[key] = str(path)


def load_suite(spec: str, overrides: dict[str, Any] | None = None, *, load_plugins: bool = True) -> Suite:
    """Read and validate a suite; ``overrides`` are dotted keys applied first (e.g. ``{"data.root": ...}``).

    Relative file paths in a suite file are relative to that file (see :mod:`xbench.paths`); those in
    ``overrides`` (the command line) and in a built-in suite to the current folder.  The suite's ``plugins``
    are imported (relative to the suite file) before its names are looked up, so their entries validate like
    built-ins; ``load_plugins=False`` never runs plugin code (their names then fail).
    """
    raw, source = read_suite_yaml(spec)
    base = Path(spec).resolve().parent if not source.startswith("builtin:") else None
    resolve_paths(raw, base)
    fill_search_paths(raw, base)
    for key, value in (overrides or {}).items():
        apply_override(raw, key, value)
    resolve_paths(raw, None)  # the command line's paths: checked, left relative to the current folder
    if load_plugins and isinstance(raw, dict) and isinstance(raw.get("plugins"), list):
        from ..plugins import load_plugins as _load

        _load([x for x in raw["plugins"] if isinstance(x, str)], base_dir=base, source="suite")
    return parse_suite(raw, source)
