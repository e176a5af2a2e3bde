"""Paper B's claims: the statistics against SciPy (t CI, paired t p, Holm), the cluster bootstrap's recovery of a
known effect and restraint on a null one, roles read from recorded settings, and the files and CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xbench.cli import main
from xbench.report.claims import (
    POOLED,
    claims_frame,
    cluster_bootstrap,
    has_split_claims,
    make_claims,
    saturation_frame,
    split_roles,
    verdict_of,
)
from xbench.verdict.stats import holm, mean_ci, paired_p


def test_t_interval_and_paired_p_equal_scipys():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.3, 1.0, 9), rng.normal(0.0, 1.0, 9)
    mean, low, high = mean_ci(a - b)
    ref = stats.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert (low, high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert mean == pytest.approx(float(np.mean(a - b)), rel=1e-12)
    assert paired_p(a - b, "t") == pytest.approx(ref.pvalue, rel=1e-12)


def test_holm_rejects_exactly_what_the_step_down_procedure_rejects():
    rng = np.random.default_rng(5)
    for _ in range(200):
        m = int(rng.integers(1, 12))
        p = np.where(rng.random(m) < 0.4, rng.random(m) * 0.02, rng.random(m))
        adj = holm(p)
        for alpha in (0.01, 0.05, 0.1):
            # Holm (1979): walk the sorted p up, reject while p_(i) <= alpha / (m - i), stop at the first failure
            reject = np.zeros(m, bool)
            for i, j in enumerate(np.argsort(p, kind="stable")):
                if p[j] > alpha / (m - i):
                    break
                reject[j] = True
            assert np.array_equal(adj <= alpha, reject), (p, alpha)
    assert holm(np.array([0.01, 0.04, 0.03])).tolist() == pytest.approx([0.03, 0.06, 0.06])  # by hand


def _clustered(effect: float, photos: int, networks: int, seed: int) -> np.ndarray:
    """Differences [photos, networks]: effect + a photo's shared deviation + per-network noise."""
    rng = np.random.default_rng(seed)
    return effect + rng.normal(0, 0.3, (photos, 1)) + rng.normal(0, 0.2, (photos, networks))


def test_cluster_bootstrap_recovers_a_known_effect_and_is_deterministic():
    d = _clustered(0.5, 12, 3, seed=1)
    mean, low, high = cluster_bootstrap(d, n_boot=4000, seed=0)
    assert mean == pytest.approx(d.mean(), rel=1e-12)
    assert 0 < low < 0.5 < high
    assert cluster_bootstrap(d, n_boot=4000, seed=0) == (mean, low, high)
    # resampling whole photos: the interval reflects the photos' shared deviation, not 36 independent values
    naive = stats.ttest_1samp(d.ravel(), 0).confidence_interval()
    assert high - low > 1.2 * (naive.high - naive.low)


def test_cluster_bootstrap_is_mostly_undecided_on_a_null_effect():
    verdicts = [verdict_of(*cluster_bootstrap(_clustered(0.0, 12, 3, seed=s), n_boot=2000, seed=s)[1:], "higher")
                for s in range(40)]
    undecided = verdicts.count("undecided")
    # nominal 95%; a percentile bootstrap over 12 clusters undercovers a little (the reason it is not the headline)
    assert undecided >= 34, verdicts


def _rows(model: str, method: str, params: dict, metric: str, stat: str, values, kind: str = "sample"):
    return [{"model": model, "method": method, "method_params": json.dumps(params), "metric": metric,
             "metric_name": metric, "stat": stat, "kind": kind, "sample": i, "point": -1, "x": np.nan,
             "value": float(v)} for i, v in enumerate(values)]


def synthetic_run(photos: int = 10, seed: int = 0) -> pd.DataFrame:
    """Two networks x ``photos``: Left beats IG and Right on ABPC by 0.1 (photo-shared noise), max-sensitivity
    the same for all; a quadratic-schedule Left that must not be taken for the paper's Left."""
    rng = np.random.default_rng(seed)
    photo = rng.normal(0, 0.05, photos)
    rows = []
    for m, model in enumerate(("net_a", "net_b")):
        base = 0.3 + photo + rng.normal(0, 0.02, photos)
        sens = 1.0 + rng.normal(0, 0.1, photos)
        for ratio in (0.9, 0.95):
            for part, shift in (("left", 0.1 + rng.normal(0, 0.01, photos)), ("right", 0.0)):
                label = f"{part}_ig_r{ratio}"
                p = {"name": "split_ig", "part": part, "ratio": ratio, "n_steps": 200, "schedule": "uniform"}
                rows += _rows(model, label, p, "abpc", "abpc", base + shift)
                rows += _rows(model, label, p, "max_sensitivity", "sensitivity", sens)
                if part == "left":
                    steps = np.full(photos, 40 + 10 * m + (ratio == 0.95) * 20)
                    rows += _rows(model, label, p, "_info", "left_steps", steps)
                    rows += _rows(model, label, p, "_info", "right_left_norm_ratio", np.linspace(1, 5, photos))
        p = {"name": "split_ig", "part": "full", "ratio": 0.9, "n_steps": 200}
        rows += _rows(model, "ig", p, "abpc", "abpc", base)
        rows += _rows(model, "ig", p, "max_sensitivity", "sensitivity", sens)
        q = {"name": "split_ig", "part": "left", "ratio": 0.9, "n_steps": 64, "schedule": "quadratic"}
        rows += _rows(model, "left_quadratic", q, "abpc", "abpc", base - 1.0)
    return pd.DataFrame(rows)


def test_roles_come_from_the_recorded_settings_not_the_labels():
    roles = split_roles(synthetic_run())
    assert roles["net_a"] == {("left", 0.9): "left_ig_r0.9", ("right", 0.9): "right_ig_r0.9",
                              ("left", 0.95): "left_ig_r0.95", ("right", 0.95): "right_ig_r0.95", ("full",): "ig"}
    assert has_split_claims(synthetic_run())


def test_claims_on_a_synthetic_run_per_network_pooled_and_holm():
    c = claims_frame(synthetic_run(), n_boot=2000)
    per = c[c["scope"] != POOLED]
    assert len(per) == 2 * 2 * 2 * 2  # networks x metrics x ratios x comparisons
    abpc = per[per["metric"] == "abpc"]
    assert abpc["mean"].to_numpy() == pytest.approx(np.full(8, 0.1), abs=0.02)
    assert set(abpc["verdict"]) == {"supported"} and abpc["photos_favouring_left"].eq(10).all()
    sens = per[per["metric"] == "max_sensitivity"]
    assert set(sens["verdict"]) == {"undecided"}  # identical values: a zero difference decides nothing
    # Holm over the per-network family of 16 (the zero-variance sensitivity rows: p = 1)
    finite = per["p"].to_numpy()
    np.testing.assert_allclose(per["p_holm"].to_numpy(), holm(finite))
    pooled = c[(c["scope"] == POOLED) & (c["ci"] == "t")]
    assert len(pooled) == 8 and pooled["networks"].eq(2).all() and pooled["n"].eq(10).all()
    boot = c[(c["scope"] == POOLED) & (c["ci"] != "t")]
    assert len(boot) == 8 and boot["p_holm"].isna().all()
    assert set(boot[boot["metric"] == "abpc"]["verdict"]) == {"supported"}


def test_contradicted_when_the_ci_excludes_zero_on_the_other_side():
    assert verdict_of(0.1, 0.3, "higher") == "supported" and verdict_of(0.1, 0.3, "lower") == "contradicted"
    assert verdict_of(-0.3, -0.1, "lower") == "supported" and verdict_of(-0.1, 0.2, "higher") == "undecided"
    assert verdict_of(float("nan"), 1.0, "higher") == "undecided"


def test_saturation_uses_k_star_over_m_per_network_and_pooled():
    sat = saturation_frame(synthetic_run())
    a = sat[(sat["scope"] == "net_b") & (sat["ratio"] == 0.9)].iloc[0]
    assert a["alpha_star"] == pytest.approx(50 / 200) and a["share_above_4"] == pytest.approx(0.3)  # 4.11, 4.56, 5
    pooled = sat[(sat["scope"] == POOLED) & (sat["ratio"] == 0.95)].iloc[0]
    assert pooled["n"] == 20 and pooled["alpha_star"] == pytest.approx((60 + 70) / 2 / 200)


def test_make_claims_and_the_cli_write_the_three_files(tmp_path):
    synthetic_run().to_csv(tmp_path / "results.csv", index=False)
    text = make_claims(tmp_path, n_boot=500)
    assert "ABPC Left - IG (r=0.9): 0.1" in text and "supported" in text, text
    md = (tmp_path / "claims.md").read_text()
    assert "Paper's means" in md and "0.142 / 0.134" in md and "share above 4 0.082" in md
    for name in ("claims.csv", "claims.png"):
        (tmp_path / name).unlink()
    assert main(["claims", str(tmp_path), "--n-boot", "500", "--seed", "1"]) == 0
    assert {"claims.csv", "claims.md", "claims.png"} <= {p.name for p in tmp_path.iterdir()}
    csv = pd.read_csv(tmp_path / "claims.csv")
    assert set(csv["kind"]) == {"claim", "saturation"}


def test_cli_refuses_a_run_without_split_ig_in_one_line(tmp_path, capsys):
    df = synthetic_run()
    df[df["method"] == "ig"].to_csv(tmp_path / "results.csv", index=False)
    assert main(["claims", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no split_ig Left" in err and "\n" not in err


def test_refined_left_is_reported_beyond_the_paper_outside_the_holm_families(tmp_path):
    df = synthetic_run()
    left = df[(df["method"] == "left_ig_r0.9")]
    p = {"name": "refined_left_ig", "ratio": 0.9, "n_steps": 200, "refine_steps": 32}
    extra = []
    for model in ("net_a", "net_b"):
        abpc = left[(left["model"] == model) & (left["metric"] == "abpc")]["value"].to_numpy()
        extra += _rows(model, "refined", p, "abpc", "abpc", abpc + 0.05 + np.linspace(0, 0.01, 10))
        for stat, v in (("delta", 0.01), ("subgrid_delta", -0.5), ("end_change", 5.0), ("left_steps", 30.0),
                        ("gradient_passes", 232.0)):
            extra += _rows(model, "refined", p, "_info", stat, np.full(10, v))
    df = pd.concat([df, pd.DataFrame(extra)], ignore_index=True)
    c = claims_frame(df, n_boot=500)
    beyond = c[c["family"] == "beyond"]
    assert set(beyond["comparison"]) == {"Refined Left - Left"} and beyond["p_holm"].isna().all()
    assert set(beyond[(beyond["ci"] == "t")]["verdict"]) == {"supported"}  # Refined better on ABPC
    paper = c[(c["family"] == "paper") & (c["scope"] != POOLED)]
    np.testing.assert_allclose(paper["p_holm"].to_numpy(), holm(paper["p"].to_numpy()))  # unchanged family
    df.to_csv(tmp_path / "results.csv", index=False)
    make_claims(tmp_path, n_boot=500)
    md = (tmp_path / "claims.md").read_text()
    assert "Beyond the paper: Refined Left IG" in md and "Refined better" in md
    assert "| net_a | 0.9 | 10 | 0.002 | 0.1 | 232 | 30-30 |" in md  # gaps 0.01/5 and 0.5/5
