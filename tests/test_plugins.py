"""Plugins: files and modules register entries with xbench's decorators; failures are one line naming the plugin."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from xbench.methods import METHODS
from xbench.plugins import PluginError, load_plugin, load_plugins, loaded

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plugin"

PLUGIN = '''
from xbench.methods import register
from xbench.metrics import register as register_metric, MetricOutput


@register("{name}", description="a test plugin method", passes=1)
def plugin_method(model, inputs, target, *, gain: float = 2.0):
    return inputs * gain


@register_metric("{name}_mean", description="mean attribution", direction="higher", consumes=("attributions",),
                 units="attribution units", label="mean attribution")
def plugin_metric(ctx, *, power: int = 1):
    return MetricOutput(values={{"mean": ctx.attributions.flatten(1).mean(1) ** power}})
'''


def test_file_plugin_registers_method_and_metric_and_is_recorded(tmp_path):
    f = tmp_path / "my_plugin.py"
    f.write_text(PLUGIN.format(name="plugin_a"))
    rec = load_plugins(["my_plugin.py"], base_dir=tmp_path)[0]
    assert rec.registered == {"methods": ["plugin_a"], "metrics": ["plugin_a_mean"]}
    assert rec.sha256 == hashlib.sha256(f.read_bytes()).hexdigest() and rec.path == str(f.resolve())
    assert METHODS.get("plugin_a").params["gain"].default == 2.0  # its signature is its schema
    assert any(p["spec"] == "my_plugin.py" for p in loaded())
    assert load_plugin(str(f)) is rec  # a second load is a no-op, not a "registered twice" error


def test_module_plugin(tmp_path, monkeypatch):
    (tmp_path / "mypkg_plugin_b.py").write_text(PLUGIN.format(name="plugin_b"))
    monkeypatch.syspath_prepend(str(tmp_path))
    rec = load_plugin("mypkg_plugin_b", source="flag")
    assert rec.registered["methods"] == ["plugin_b"] and rec.source == "flag"


@pytest.mark.parametrize("body, spec, message", [
    (None, "missing.py", "plugin file 'missing.py' does not exist"),
    ("import no_such_module_xyz\n", "broken.py", "plugin 'broken.py' failed to import: ModuleNotFoundError"),
    ("raise RuntimeError('boom')\n", "boom.py", "failed to import: RuntimeError: boom"),
    ("def f(:\n", "syntax.py", "failed to import: SyntaxError"),
    (None, "no_such_plugin_module", "plugin module 'no_such_plugin_module' failed to import"),
])
def test_broken_plugins_are_one_line_errors(tmp_path, body, spec, message):
    if body is not None:
        (tmp_path / spec).write_text(body)
    with pytest.raises(PluginError, match=message) as err:
        load_plugins([spec], base_dir=tmp_path, where="plugins")
    assert str(err.value).startswith("plugins[0]: ") and "\n" not in str(err.value)


def test_example_plugin_loads():
    rec = load_plugin(str(EXAMPLE / "gradient_sign.py"))
    assert "gradient_x_sign" in rec.registered.get("methods", []) or "gradient_x_sign" in METHODS
