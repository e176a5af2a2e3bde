"""The paper-protocol suite end to end, shrunk (2 photos, 4 path steps, 2 noise samples): the pixel-unit noise
recorded, Refined Left IG judged by completeness at its declared path end, and the claims written."""

from __future__ import annotations

import json

import pytest

from tests.suite.test_photos_suites import shrunk
from xbench.models.efficientnet import LITE_STD
from xbench.results import read_results
from xbench.runner import run_suite


@pytest.mark.slow
def test_split_ig_paper_end_to_end(tmp_path):
    suite = shrunk("split_ig_paper")
    for m in suite.methods:
        if m.name == "refined_left_ig":
            m.params["refine_steps"] = 4
    out = tmp_path / "split_ig_paper"
    run_suite(suite, out, progress=False, echo=None)
    df = read_results(out)
    sens = df[df["metric_name"] == "max_sensitivity"]
    params = json.loads(sens["metric_params"].iloc[0])
    assert params["radius"] == 0.0113 and params["radius_units"] == "pixel"
    assert params["radius_input_units"] == pytest.approx([0.0113 / s for s in LITE_STD], rel=1e-6)
    # Refined Left IG: the completeness metric measures at x' + a* x, the same gap the method reports
    ref = df[df["method"] == "refined_left_ig_r0.9"]
    gap = ref[(ref["metric"] == "completeness") & (ref["stat"] == "absolute_gap")].set_index("sample")["value"]
    delta = ref[(ref["metric"] == "_info") & (ref["stat"] == "delta")].set_index("sample")["value"]
    assert gap.to_numpy() == pytest.approx(delta.abs().to_numpy(), rel=1e-3, abs=1e-4)
    md = (out / "claims.md").read_text()
    assert "Left - IG" in md and "efficientnet_lite0" in md and "Paper's means" in md
    assert (out / "claims.png").is_file() and "claims.md" in (out / "index.md").read_text()
