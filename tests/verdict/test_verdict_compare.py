"""The verdict table and rank aggregation on synthetic results with known answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from xbench.verdict import make_verdict
from xbench.verdict.compare import COLUMNS, verdict_table
from xbench.verdict.ranks import rank_cube
from xbench.verdict.table import cubes

N = 12


def rows(model: str, method: str, metric: str, stat: str, values, name: str | None = None,
         samples=None) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    samples = np.arange(len(values)) if samples is None else np.asarray(samples)
    return pd.DataFrame({"suite": "s", "model": model, "method": method, "metric": metric,
                         "metric_name": name or metric, "stat": stat, "kind": "sample", "sample": samples,
                         "point": -1, "x": np.nan, "value": values, "flag": "",
                         "method_params": json.dumps({"name": "random" if method.startswith("rnd") else method}),
                         "metric_params": "{}"})


def synthetic(random_label: str = "random") -> pd.DataFrame:
    """Two methods and random on a higher-is-better metric (insertion), a lower-is-better one (deletion) and a
    descriptive one (logit_path, direction none); `good` is better than random on both, `bad` worse."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.6, size=N)
    noise = rng.normal(0, 0.01, size=(6, N))
    parts = [
        rows("m", random_label, "insertion", "auc", base + noise[0]),
        rows("m", "good", "insertion", "auc", base + 0.2 + noise[1]),
        rows("m", "bad", "insertion", "auc", base - 0.2 + noise[2]),
        rows("m", random_label, "deletion", "auc", base + noise[3]),
        rows("m", "good", "deletion", "auc", base - 0.2 + noise[4]),
        rows("m", "bad", "deletion", "auc", base + 0.2 + noise[5]),
        rows("m", random_label, "logit_path", "alpha_half", base),
        rows("m", "good", "logit_path", "alpha_half", base + 1),
        rows("m", "bad", "logit_path", "alpha_half", base - 1),
    ]
    # model-only and diagnostic rows never enter a verdict
    parts.append(rows("m", "-", "accuracy", "top1", np.ones(N)))
    parts.append(rows("m", "good", "_info", "delta", np.ones(N)))
    return pd.concat(parts, ignore_index=True)


def test_beats_random_uses_the_registered_direction():
    table = verdict_table(cubes(synthetic()))
    assert list(table.columns[:len(COLUMNS)]) == COLUMNS
    got = {(m, k): b for m, k, b in zip(table["method"], table["metric"], table["beats_random"])}
    assert got[("good", "insertion")] == "true" and got[("good", "deletion")] == "true"
    assert got[("bad", "insertion")] == "false" and got[("bad", "deletion")] == "false"
    # descriptive stats and random itself: outside the family, never "true"
    assert got[("good", "logit_path")] == "n/a" and got[("random", "insertion")] == "n/a"
    assert set(table["method"]) == {"random", "good", "bad"} and "accuracy" not in set(table["metric"])
    fam = table[table["correction"] == "holm"]
    assert len(fam) == 4  # 2 methods x 2 directed metrics
    assert fam["p_adjusted"].to_numpy() == pytest.approx(np.minimum(fam["p"].to_numpy() * 4, 1.0))  # equal p: x m


def test_matched_by_sample_id_and_nan_dropped():
    df = synthetic()
    # shuffle random's rows and knock out two of good's values: pairs are still matched by sample id
    df = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    hole = (df["method"] == "good") & (df["metric"] == "insertion") & df["sample"].isin([2, 7])
    df.loc[hole, "value"] = np.nan
    df.loc[(df["method"] == "good") & (df["metric"] == "deletion") & (df["sample"] == 4), "value"] = np.inf
    table = verdict_table(cubes(df))
    row = table[(table["method"] == "good") & (table["metric"] == "insertion")].iloc[0]
    ref = synthetic()
    x = ref[(ref.method == "good") & (ref.metric == "insertion")].set_index("sample")["value"]
    y = ref[(ref.method == "random") & (ref.metric == "insertion")].set_index("sample")["value"]
    keep = [s for s in range(N) if s not in (2, 7)]
    assert row["n"] == N - 2
    assert row["p"] == pytest.approx(st.wilcoxon(x[keep], y[keep], zero_method="pratt").pvalue, rel=1e-12)
    assert row["mean_diff"] == pytest.approx((x[keep] - y[keep]).mean(), rel=1e-12)
    assert table[(table["method"] == "good") & (table["metric"] == "deletion")]["n"].item() == N - 1


def test_random_found_by_registered_name_and_missing_random_said():
    table = verdict_table(cubes(synthetic("rnd_seed0")))
    assert set(table[table["beats_random"] == "true"]["method"]) == {"good"}
    df = synthetic()
    no_random = df[df["method"] != "random"]
    assert len(verdict_table(cubes(no_random))) == 0


def test_n_below_6_all_equal_and_all_nan_columns(tmp_path):
    df = synthetic()
    few = df[df["sample"] < 4]  # Wilcoxon cannot reach 0.05 with 4 pairs: no claim, no crash
    table = verdict_table(cubes(few))
    assert (table["beats_random"] != "true").all()
    (tmp_path / "results.csv").write_text(few.to_csv(index=False))
    assert "with 4 samples the smallest two-sided wilcoxon p is 0.12" in make_verdict(tmp_path, n_boot=10)
    flat = df.copy()
    flat.loc[flat["metric"] == "insertion", "value"] = 0.25  # every method equal
    flat.loc[(flat["method"] == "bad") & (flat["metric"] == "deletion"), "value"] = np.nan  # an n/a cell
    table = verdict_table(cubes(flat))
    ins = table[(table["metric"] == "insertion") & (table["method"] != "random")]
    assert (ins["p"] == 1.0).all() and (ins["beats_random"] == "false").all()
    dead = table[(table["method"] == "bad") & (table["metric"] == "deletion")].iloc[0]
    assert dead["n"] == 0 and dead["beats_random"] == "n/a"
    ranking = rank_cube(cubes(flat)[0], n_boot=50)
    assert ranking.dropped == ["deletion.auc"]  # `bad` has no finite value there: not ranked on it
    (tmp_path / "results.csv").write_text(flat.to_csv(index=False))
    make_verdict(tmp_path, n_boot=50)  # the writers and the plot survive it too
    assert "Left out of the ranks" in (tmp_path / "verdict.md").read_text()


def test_ranks_orientation_bootstrap_and_agreement():
    cube = cubes(synthetic())[0]
    r = rank_cube(cube, n_boot=200, seed=1)
    assert r.criteria == ["insertion.auc", "deletion.auc"]  # the descriptive stat is not a criterion
    order = [r.methods[i] for i in np.argsort(r.mean_rank)]
    assert order == ["good", "random", "bad"]  # lower deletion is better: good ranks first on both
    assert (r.ci_low <= r.mean_rank).all() and (r.mean_rank <= r.ci_high).all()
    assert r.w == pytest.approx(1.0) and r.tau[0, 1] == pytest.approx(1.0)
    assert r.alpha == pytest.approx([1.0, 1.0])  # every sample orders the methods the same way
    again = rank_cube(cube, n_boot=200, seed=1)
    assert np.array_equal(again.ci_low, r.ci_low) and np.array_equal(again.ci_high, r.ci_high)


def test_alpha_low_when_samples_disagree():
    rng = np.random.default_rng(5)
    parts = [rows("m", m, "insertion", "auc", rng.uniform(size=40)) for m in ("random", "a", "b", "c")]
    r = rank_cube(cubes(pd.concat(parts, ignore_index=True))[0], n_boot=20)
    assert abs(r.alpha[0]) < 0.1  # independent noise: no consistency from one sample to the next


def test_no_method_rows_still_write(tmp_path):
    df = rows("m", "-", "accuracy", "top1", np.ones(5))
    (tmp_path / "results.csv").write_text(df.to_csv(index=False))
    text = make_verdict(tmp_path, n_boot=10)
    assert text.startswith("verdict") and pd.read_csv(tmp_path / "verdict.csv").empty
