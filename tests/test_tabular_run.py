"""A tabular run (paper A §4.3's data kind) with every method and metric that declares tabular inputs completes
with its report; every other built-in entry is refused before any work in one line."""

from __future__ import annotations

import pandas as pd
import pytest

from xbench.methods import METHODS
from xbench.metrics import METRICS

CHEAP_METHODS = {"integrated_gradients": {"n_steps": 8}, "split_ig": {"n_steps": 8}, "guided_ig": {"n_steps": 8},
                 "idg": {"n_steps": 8}, "blur_ig": {"n_steps": 8}, "smoothgrad": {"n_samples": 4},
                 "gradient_shap": {"n_samples": 4}, "expected_gradients": {"k": 4},
                 "occlusion": {"window": 3, "stride": 2}}
CHEAP_METRICS = {"sensitivity_n": {"n_subsets": 4}, "ig_distance": {"n_steps": 8},
                 "sensitivity_axiom": {"n_patches": 3}, "max_sensitivity": {"n_samples": 2},
                 "avg_sensitivity": {"n_samples": 2},
                 "infidelity": {"n_samples": 2}, "timing": {"repeats": 1, "warmup": 0}, "deletion": {"steps": 10},
                 "insertion": {"steps": 10, "substrate": "zero"}, "abpc": {}}


def _entry(name: str, cheap: dict) -> dict:
    example = dict(METHODS.get(name).meta.get("example", {})) if name in METHODS else {}
    return {"name": name, **example, **cheap.get(name, {})}


@pytest.mark.slow
def test_every_tabular_method_and_metric_completes_with_its_report(tmp_path):
    from xbench.runner import run_suite
    from xbench.suite import parse_suite

    methods = [_entry(e.name, CHEAP_METHODS) for e in METHODS.entries() if "tabular" in e.meta["inputs"]]
    metrics = [_entry(e.name, CHEAP_METRICS) for e in METRICS.entries() if "tabular" in e.meta["inputs"]]
    raw = {"name": "tabular_all", "seed": 0, "device": "cpu",
           "data": {"name": "breast_cancer", "split": "test", "n_samples": 3, "batch_size": 3},
           # bias-free, so that X-Gradient runs too
           "models": [{"name": "mlp", "x": True}], "methods": methods, "metrics": metrics}
    out = tmp_path / "run"
    run_suite(parse_suite(raw), out, progress=False, echo=None)
    df = pd.read_csv(out / "results.csv")
    assert {m.split(".")[0] for m in set(df["method"]) - {"-"}} == {m["name"] for m in methods}
    assert set(df["metric_name"]) - {"_info"} == {m["name"] for m in metrics}
    assert (out / "summary.md").exists() and list((out / "plots").glob("features_*.png"))
    assert not list((out / "plots").glob("heatmaps_*"))  # no image heatmaps of tabular inputs
    summary = (out / "summary.md").read_text()
    assert "| mlp_x | saliency | completeness.relative_gap ↓ | n/a |" in summary  # no completeness claim
