"""Plugins: Python files or modules that register methods, metrics, models and datasets with xbench's decorators.

A suite's ``plugins: [my_methods.py, mypkg.attributions]`` (files relative to the suite file, or importable module
names), the command-line flag ``--plugin``, and the entry-point group ``xbench.plugins`` of installed packages all
land here. Loading a plugin executes its code: xbench does it only for ``run`` / ``list`` / ``describe``, never for a
suite handed to ``report``. Each loaded plugin is recorded (spec, resolved path, SHA-256 of the file, the entries it
registered) so the manifest says exactly which code produced a result.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import ParamError, XBenchError

ENTRY_POINT_GROUP = "xbench.plugins"


class PluginError(XBenchError):
    """A plugin could not be found or imported (one line naming it and the error)."""


@dataclass
class Plugin:
    """What one loaded plugin is and what it added."""

    spec: str
    source: str  # "suite", "flag" or "entry point"
    path: str | None
    sha256: str | None
    registered: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_LOADED: dict[str, Plugin] = {}  # resolved file path or module name -> plugin (a second load is a no-op)


def _registries() -> dict[str, Any]:
    from .data import DATASETS
    from .methods import METHODS
    from .metrics import METRICS
    from .models import MODELS

    return {"methods": METHODS, "metrics": METRICS, "models": MODELS, "datasets": DATASETS}


def _snapshot() -> dict[str, set[str]]:
    return {kind: set(reg.available()) for kind, reg in _registries().items()}


def _is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_plugin(spec: str, base_dir: str | Path | None = None, source: str = "suite", where: str = "plugins") -> Plugin:
    """Import one plugin (a ``.py`` file, relative to ``base_dir``, or a module name) and return its record.

    Raises :class:`PluginError` with one line naming the plugin and the error when it cannot be imported.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise PluginError(f"{where}: {spec!r} is not a plugin; give a .py file or an importable module name")
    before = _snapshot()
    if _is_file_spec(spec):
        from .paths import expand_path

        try:
            path = expand_path(spec, where, base_dir).resolve()
        except ParamError as err:
            raise PluginError(str(err)) from None
        key = str(path)
        if key in _LOADED:
            return _LOADED[key]
        if not path.is_file():
            raise PluginError(f"{where}: plugin file '{spec}' does not exist (looked for {path})")
        name = f"xbench_plugin_{path.stem}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"
        mod_spec = importlib.util.spec_from_file_location(name, path)
        if mod_spec is None or mod_spec.loader is None:
            raise PluginError(f"{where}: '{spec}' cannot be imported as a Python file")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        try:
            mod_spec.loader.exec_module(module)
        except Exception as err:  # noqa: BLE001 - any import-time failure becomes one line naming the plugin
            sys.modules.pop(name, None)
            raise PluginError(f"{where}: plugin '{spec}' failed to import: {type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}") from None
        record = Plugin(spec, source, str(path), _sha256(path))
    else:
        key = spec
        if key in _LOADED:
            return _LOADED[key]
        try:
            module = importlib.import_module(spec)
        except Exception as err:  # noqa: BLE001
            raise PluginError(f"{where}: plugin module '{spec}' failed to import: {type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}") from None
        file = getattr(module, "__file__", None)
        record = Plugin(spec, source, file, _sha256(Path(file)) if file and Path(file).is_file() else None)
    after = _snapshot()
    record.registered = {kind: sorted(after[kind] - before[kind]) for kind in after if after[kind] - before[kind]}
    _LOADED[key] = record
    return record


def load_plugins(specs: list[str] | tuple[str, ...], base_dir: str | Path | None = None, source: str = "suite",
                 where: str = "plugins") -> list[Plugin]:
    """Load each of ``specs`` in order (see :func:`load_plugin`); ``where`` prefixes the field in errors."""
    if isinstance(specs, str) or not isinstance(specs, (list, tuple)):
        raise PluginError(f"{where}: expected a list of plugin files or module names, got {specs!r}")
    return [load_plugin(s, base_dir, source, f"{where}[{i}]") for i, s in enumerate(specs)]


def load_entry_points() -> list[Plugin]:
    """Import every installed package's ``xbench.plugins`` entry point (each names a module to import)."""
    out = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.value in _LOADED:
            out.append(_LOADED[ep.value])
            continue
        before = _snapshot()
        try:
            obj = ep.load()
            if callable(obj):  # an entry point may name a register() function instead of a module
                obj()
        except Exception as err:  # noqa: BLE001
            raise PluginError(f"entry point '{ep.name}' ({ep.value}) of group {ENTRY_POINT_GROUP} failed: "
                              f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
        module = sys.modules.get(ep.value.split(":")[0])
        file = getattr(module, "__file__", None)
        after = _snapshot()
        record = Plugin(ep.value, "entry point", file, _sha256(Path(file)) if file and Path(file).is_file() else None,
                        {kind: sorted(after[kind] - before[kind]) for kind in after if after[kind] - before[kind]})
        _LOADED[ep.value] = record
        out.append(record)
    return out


def loaded() -> list[dict[str, Any]]:
    """Every plugin loaded in this process, for the manifest."""
    return [p.to_dict() for p in _LOADED.values()]
