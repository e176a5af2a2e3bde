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
