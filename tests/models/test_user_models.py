"""Models from files (TorchScript, torch.export) and Python factories: same outputs, clear errors, dry forward."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import xbench.models as M
from xbench.errors import ParamError
from xbench.models.user import Renormalise, bind_input_normalisation, dry_forward


def tiny_net() -> nn.Module:
    """A factory for the ``python`` model tests (importable as tests.models.test_user_models:tiny_net)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    net = tiny_net().eval()
    torch.jit.script(net).save(str(d / "net.pt"))
    batch = torch.export.Dim("batch")
    torch.export.save(torch.export.export(net, (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: batch},)),
                      str(d / "net.pt2"))
    torch.save(net.state_dict(), d / "net.pth")
    (d / "junk.pt").write_bytes(b"not a model at all")
    return d, net


@pytest.mark.parametrize("file", ["net.pt", "net.pt2"])
def test_archives_give_the_original_outputs_and_input_gradients(archives, file):
    d, net = archives
    model = M.create("file", path=str(d / file))
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
    out = model(x)
    torch.testing.assert_close(out, net(x), rtol=1e-6, atol=1e-6)
    (g,) = torch.autograd.grad(out[:, 2].sum(), x)
    (ref,) = torch.autograd.grad(net(x)[:, 2].sum(), x)
    torch.testing.assert_close(g, ref, rtol=1e-6, atol=1e-6)
    assert dry_forward(model, (1, 8, 8)) == 10
    assert not M.is_homogeneous(model)  # biases are seen through the archive


def test_python_factory_with_weights(archives):
    d, net = archives
    model = M.create("python", factory="tests.models.test_user_models:tiny_net", weights=str(d / "net.pth"))
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(model(x), net(x))


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "file", "path": "nope.pt"}, "does not exist"),
    ({"name": "file", "path": "JUNK"}, "not a TorchScript or torch.export archive"),
    ({"name": "python", "factory": "tests.models.test_user_models"}, "must look like 'package.module:function'"),
    ({"name": "python", "factory": "no_such_pkg.x:build"}, "cannot import 'no_such_pkg.x'"),
    ({"name": "python", "factory": "tests.models.test_user_models:nothing"}, "has no callable 'nothing'"),
    ({"name": "file", "path": "NET", "x": True}, "cannot be made bias-free"),
])
def test_bad_model_specs_are_one_line_errors(archives, kwargs, message):
    d, _ = archives
    kwargs = {k: str(d / "junk.pt") if v == "JUNK" else str(d / "net.pt") if v == "NET" else v
              for k, v in kwargs.items()}
    name = kwargs.pop("name")
    with pytest.raises(ParamError, match=message) as err:
        M.create(name, **kwargs)
    assert "\n" not in str(err.value)


def test_dry_forward_names_the_field_and_the_shape(archives):
    d, _ = archives
    model = M.create("file", path=str(d / "net.pt"))
    with pytest.raises(ParamError, match=r"models\[1\]: the model fails on one input of shape \[3, 8, 8\]"):
        dry_forward(model, (3, 8, 8), where="models[1]")
    with pytest.raises(ParamError, match=r"models\[1\].num_classes: the model outputs 10 classes, not 5"):
        dry_forward(model, (1, 8, 8), num_classes=5, where="models[1]")


def test_renormalise_feeds_the_model_its_own_normalisation():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(x)
            return x.flatten(1)[:, :2]

    # data normalised with mean 0.5, std 0.25; the model wants mean 0.4, std 0.2 -> raw 0.75 must arrive as 1.75
    model = bind_input_normalisation(Renormalise(Probe(), [0.4], [0.2]), {"mean": [0.5], "std": [0.25]})
    model(torch.full((1, 1, 2, 2), (0.75 - 0.5) / 0.25))
    torch.testing.assert_close(seen[-1], torch.full((1, 1, 2, 2), (0.75 - 0.4) / 0.2))


# ---- a factory beside the suite, weights with a key map or a load hook ----------------------------------------
NETS = '''
import torch
from torch import nn


def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))


def strip(key):
    return None if key.startswith("extra.") else key[len("old."):]


def halve(model, state):
    model.load_state_dict({k: v / 2 for k, v in state.items()})
'''


def _suite_dir(tmp_path, weights) -> tuple:
    """A suite file with its factory module (``byo_nets.py``) beside it and a checkpoint in the package layout
    ``old.<key>`` plus a stray ``extra.`` key; returns (suite path, the reference network)."""
    import yaml

    (tmp_path / "byo_nets.py").write_text(NETS)
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    torch.nn.init.normal_(ref[4].weight, generator=torch.Generator().manual_seed(3))
    state = {f"old.{k}": v for k, v in ref.state_dict().items()} | {"extra.step": torch.tensor(7)}
    torch.save(state, tmp_path / "net.pth")
    suite = {"name": "byo", "seed": 0, "device": "cpu",
             "data": {"name": "digits", "split": "test", "n_samples": 2, "batch_size": 2},
             "models": [{"name": "python", "factory": "byo_nets:build", "weights": weights,
                         "input_shape": [1, 32, 32]}],
             "methods": ["saliency"], "metrics": ["sparseness"]}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    return tmp_path / "suite.yaml", ref


def test_factory_is_found_beside_the_suite_without_staying_on_the_import_path(tmp_path):
    import sys

    from xbench.suite import load_suite

    path, ref = _suite_dir(tmp_path, {"path": "net.pth", "key_map": "byo_nets:strip"})
    before = list(sys.path)
    suite = load_suite(str(path))
    spec = suite.models[0]
    assert spec.params["search_path"] == str(tmp_path) and spec.weights["path"] == str(tmp_path / "net.pth")
    model = M.create("python", weights=spec.weights, **spec.params)
    assert sys.path == before and "byo_nets" in sys.modules
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(model(x), ref(x))  # the key map renamed every key and dropped the stray one


def test_a_module_of_the_same_name_elsewhere_is_not_taken(tmp_path):
    import sys

    from xbench.suite import load_suite

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    path_a, _ = _suite_dir(tmp_path / "a", "net.pth")
    path_b, _ = _suite_dir(tmp_path / "b", "net.pth")
    before = sys.modules.get("byo_nets")  # another test's module of that name, or none
    (tmp_path / "b" / "byo_nets.py").write_text(NETS.replace("nn.Linear(4, 10)", "nn.Linear(4, 7)"))
    outs = []
    for path in (path_a, path_b):
        spec = load_suite(str(path)).models[0]
        outs.append(M.create("python", **spec.params)(torch.zeros(1, 1, 32, 32)).shape[1])
    assert outs == [10, 7]
    # the rest of the process keeps the module it imported first
    first = before.__file__ if before is not None else str(tmp_path / "a" / "byo_nets.py")
    assert sys.modules["byo_nets"].__file__ == first


def test_load_hook_loads_the_state_itself(tmp_path):
    path, ref = _suite_dir(tmp_path, {"path": "net.pth", "key_map": "byo_nets:strip", "load": "byo_nets:halve"})
    spec = __import__("xbench.suite", fromlist=["load_suite"]).load_suite(str(path)).models[0]
    model = M.create("python", weights=spec.weights, **spec.params)
    torch.testing.assert_close(model[4].weight, ref[4].weight / 2)


@pytest.mark.parametrize("weights, message", [
    ({"path": "net.pth", "keymap": "byo_nets:strip"},
     r"models\[0\]\.weights\.keymap: not a key of weights; allowed: key_map, load, path"),
    ({"path": "net.pth", "key_map": "byo_nets.strip"}, r"models\[0\]\.weights\.key_map: 'byo_nets.strip' must look "
                                                        r"like 'module:function'"),
    ({"key_map": "byo_nets:strip"}, r"models\[0\]\.weights\.path: missing"),
    ({"path": "net.pth", "load": "byo_nets:nothing"}, r"models\[0\]\.weights\.load: 'byo_nets' has no callable "
                                                      r"'nothing'"),
    ({"path": "net.pth"}, r"models\[0\]\.weights: .*does not fit Sequential: 4 missing key\(s\), e\.g\. '0\.weight'"),
])
def test_bad_weights_specs_are_one_line_before_any_work(tmp_path, weights, message):
    from xbench.errors import SuiteError
    from xbench.preflight import preflight
    from xbench.suite import load_suite

    path, _ = _suite_dir(tmp_path, weights)
    with pytest.raises(SuiteError) as err:
        preflight(load_suite(str(path)))
    assert len(err.value.problems) == 1 and "\n" not in err.value.problems[0]
    assert re.match(message, err.value.problems[0]), err.value.problems[0]


def test_rows_and_manifest_record_the_weights_and_their_sha256(tmp_path):
    import json

    import pandas as pd

    from xbench.provenance import file_sha256
    from xbench.runner import run_suite
    from xbench.suite import load_suite

    path, _ = _suite_dir(tmp_path, {"path": "net.pth", "key_map": "byo_nets:strip"})
    out = run_suite(load_suite(str(path)), tmp_path / "run", progress=False, report=False, echo=None)
    recorded = {json.dumps(json.loads(p)["weights"]) for p in pd.read_csv(out / "results.csv")["model_params"]}
    assert recorded == {json.dumps({"key_map": "byo_nets:strip", "path": str(tmp_path / "net.pth")})}
    manifest = json.loads((out / "manifest.json").read_text())
    sha = file_sha256(tmp_path / "net.pth")
    assert manifest["model_files"]["models[0].weights"] == {"path": str(tmp_path / "net.pth"), "sha256": sha}
    assert manifest["model_files"]["models[0].factory"]["sha256"] == file_sha256(tmp_path / "byo_nets.py")
    assert [e["sha256"] for e in manifest["weights"]["python"]] == [sha]
