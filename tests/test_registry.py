"""Registries: names, suggestions, and the parameter schema read from signatures."""

from __future__ import annotations

from typing import Literal

import pytest

from xbench import data, methods, metrics, models
from xbench.errors import ParamError, UnknownNameError
from xbench.registry import Registry


def test_every_registry_lists_and_describes():
    for reg in (methods, metrics, models, data):
        names = reg.available()
        assert names == sorted(names) and names
        assert all(isinstance(d, str) and d for d in reg.describe().values())
    assert {"saliency", "input_x_gradient", "integrated_gradients", "x_gradient", "random"} <= set(methods.available())
    assert {"completeness", "deletion", "insertion", "timing"} <= set(metrics.available())
    assert "digits_cnn" in models.list_models() and "digits" in data.available()


def test_schema_types_choices_bounds_defaults():
    reg = Registry("thing", skip=1)

    @reg.register("f", description="d", bounds={"n": (1, 10)})
    def f(x, *, n: int = 3, rate: float = 0.5, mode: Literal["a", "b"] = "a", flag: bool = False, hidden=None):
        return x

    e = reg.get("f")
    assert e.resolve({}) == {"n": 3, "rate": 0.5, "mode": "a", "flag": False, "hidden": None}
    assert e.resolve({"rate": 1})["rate"] == 1.0 and isinstance(e.resolve({"rate": 1})["rate"], float)
    with pytest.raises(ParamError, match="out of range"):
        e.resolve({"n": 11})
    with pytest.raises(ParamError, match="has type bool"):
        e.resolve({"n": True})  # a bool is not an int here
    with pytest.raises(ParamError, match="allowed: 'a' \\| 'b'"):
        e.resolve({"mode": "c"})
    with pytest.raises(ParamError, match="did you mean 'rate'"):
        e.resolve({"rat": 1.0})
    with pytest.raises(UnknownNameError, match="'g' is not a thing; available: f"):
        reg.get("g")
    with pytest.raises(UnknownNameError, match="did you mean 'f'"):
        reg.get("ff")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("f", description="again")(f)


REGISTRIES = {"method": methods.METHODS, "metric": metrics.METRICS, "model": models.MODELS,
              "dataset": data.DATASETS}
EVERY_PARAM = [(kind, name, p) for kind, reg in REGISTRIES.items() for name in reg.available()
               for p in reg.get(name).params]


@pytest.mark.parametrize("kind,name,param", EVERY_PARAM, ids=[f"{n}.{p}" for _, n, p in EVERY_PARAM])
def test_every_parameter_has_a_meaning_and_bounded_counts(kind, name, param):
    from xbench.paramdocs import param_doc

    spec = REGISTRIES[kind].get(name).params[param]
    doc = param_doc(name, param)
    assert doc and "\n" not in doc, f"{name}.{param}: declare its meaning in xbench/paramdocs.py HELP"
    counts = int in spec.types or (spec.items is not None and int in spec.items)
    if counts:  # every count has a stated maximum (no resource bombs)
        assert spec.high is not None and spec.low is not None, f"{name}.{param}: {spec.describe()}"


def test_no_stale_parameter_meanings():
    from xbench.paramdocs import HELP

    used = set()
    for _, name, p in EVERY_PARAM:
        used.add(f"{name}.{p}" if f"{name}.{p}" in HELP else p)
    assert set(HELP) - used == set()


@pytest.mark.parametrize("kind", ["methods", "metrics", "models", "datasets"])
def test_describe_and_list_verbose_print_every_parameter(kind, capsys):
    from xbench.cli import main
    from xbench.paramdocs import param_doc

    registry = REGISTRIES[kind[:-1]]
    assert main(["list", kind, "-v"]) == 0
    listing = capsys.readouterr().out
    for name in registry.available():
        assert main(["describe", name]) == 0
        text = capsys.readouterr().out
        assert f"{name} ({kind[:-1]})" in text
        for p, spec in registry.get(name).params.items():
            default = "required" if spec.required else f"default {spec.default!r}"
            assert f"{spec.describe()}; {default}" in text and param_doc(name, p) in text
            assert param_doc(name, p) in listing


def test_paramspec_rejects_non_finite_huge_and_nested_values():
    from xbench.registry import ParamSpec

    f = ParamSpec("r", 0.1, (float,), low=0.0)
    for bad, message in ((float("nan"), "not a finite number"), (float("inf"), "not a finite number"),
                         (-1.0, "out of range")):
        with pytest.raises(ParamError, match=message):
            f.check(bad, "r")
    n = ParamSpec("n", 1, (int,), low=0)
    with pytest.raises(ParamError, match="does not fit in 64 bits"):
        n.check(2**70, "n")
    lst = ParamSpec("xs", [0.5], (list,), items=(float,), low=0.0, high=1.0)
    assert lst.check([0, 1], "xs") == [0.0, 1.0]
    for bad, message in (([0.5, [1.0]], r"xs\[1\]: \[1.0\] has type list"), ([2.0], r"xs\[0\]: 2.0 is out of range"),
                         ([], "a list of 0 items"), ([float("nan")], "not a finite number")):
        with pytest.raises(ParamError, match=message):
            lst.check(bad, "xs")
    s = ParamSpec("name", "x", (str,), pattern=r"[a-z]+", pattern_help="lower-case letters")
    with pytest.raises(ParamError, match="allowed: lower-case letters"):
        s.check("A..", "name")
    with pytest.raises(ParamError, match=r"^c: .{57}\.\.\. is not allowed"):  # a huge value is cut: one short line
        ParamSpec("c", "a", choices=("a", "b")).check("z" * 500, "c")


def test_parameter_meanings_can_be_declared_beside_the_function():
    """``docs=`` at register: the meaning lives in the entry's own file (no edit of paramdocs.py), ``describe``
    prints it, a doc for a parameter the function lacks is refused, and unregistering removes it."""
    from xbench.paramdocs import HELP, param_doc

    reg = Registry("method", skip=3)

    def fn(model, inputs, target, *, wiggle: float = 0.5):
        return inputs

    reg.register("_doc_demo", description="d", docs={"wiggle": "how much it wiggles,\n  in pixels"})(fn)
    try:
        assert param_doc("_doc_demo", "wiggle") == "how much it wiggles, in pixels"
        with pytest.raises(ValueError, match="not its parameters"):
            reg.register("_doc_bad", description="d", docs={"wobble": "no such parameter"})(fn)
    finally:
        reg.unregister("_doc_demo")
    assert "_doc_demo.wiggle" not in HELP
