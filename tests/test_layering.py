"""The import graph: no module-level import circle, lower layers never import higher ones, and
``import xbench.errors`` stays cheap.

The graph is read from the source with ``ast``: every import statement at module level (function-level imports
run later, on first use, and cannot form an import-time circle), with each imported module's parent packages too
(importing ``xbench.metrics.base`` runs ``xbench/metrics/__init__.py`` first), except the importing module's
own packages, which are mid-import already."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "xbench"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(1, len(parts))]  # xbench itself is lazy (see its __init__)


def import_graph() -> dict[str, set[str]]:
    """Module -> the xbench modules it imports at module level (parents included)."""
    modules = {_module(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom):
                base = name if is_pkg else name.rsplit(".", 1)[0]
                if node.level:
                    base = ".".join(base.split(".")[: len(base.split(".")) - node.level + 1])
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module or ""
                if not target.startswith("xbench"):
                    continue
                deps.update(_with_parents(target))
                deps.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("xbench."):
                        deps.update(_with_parents(a.name))
        # a module's own packages are already being imported when it runs: that is how packages work, not a circle
        own = set(_with_parents(name))
        graph[name] = {d for d in deps if d in modules and d != name and not (d in own and d != name)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_lower_layers_do_not_import_higher_ones():
    """Runtime code (precision, batching, the registries) does not import the YAML schema (the runner, which runs
    suites, does); the data layer does not import the model registry."""
    graph = import_graph()
    for name in ("xbench.precision", "xbench.batching", "xbench.metrics.base", "xbench.methods.base",
                 "xbench.models.base"):
        assert not any(d.startswith("xbench.suite") for d in _closure(graph, name)), name
    for name in [m for m in graph if m.startswith("xbench.data")]:
        assert not any(d.startswith("xbench.models") for d in graph[name]), name


def imports_anywhere(path: Path, name: str | None = None) -> set[str]:
    """Every xbench module ``path`` (the module ``name``, default its own) imports, at module level or inside a
    function (relative imports resolved like the graph's)."""
    name = name or _module(path)
    base = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                parts = base.split(".")
                target = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            out.update({target} | {f"{target}.{a.name}" for a in node.names})
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("xbench")}


def test_the_data_layer_never_imports_the_model_registry():
    """Not even inside a function: a model declares its input size and normalisation, and the runtime
    (xbench.serving) hands the data layer what it needs; the data layer receives it."""
    for path in sorted((PKG / "data").rglob("*.py")):
        bad = sorted(m for m in imports_anywhere(path) if m.startswith("xbench.models"))
        assert not bad, f"{_module(path)} imports {bad}"


def test_the_data_layer_check_catches_a_function_level_import(tmp_path):
    bad = tmp_path / "sneaky.py"
    bad.write_text("def f():\n    from ..models import create\n    return create\n")
    assert "xbench.models.create" in imports_anywhere(bad, "xbench.data.sneaky")


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for d in graph.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def test_import_errors_is_cheap():
    code = ("import sys, xbench.errors; mods = [m for m in sys.modules if m.startswith('xbench')]; "
            "print(len(mods), 'torch' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PKG.parent).stdout.split()
    assert out == ["2", "False", "False"], out
