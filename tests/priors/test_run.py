"""End-to-end prior runs (tiny): tables and plots are written, resume neither recomputes nor duplicates."""

import copy

import pandas as pd
import pytest

from xbench.errors import SuiteError, XBenchError
from xbench.priors import list_prior_suites, load_prior_suite, parse_prior_suite, run_priors
from xbench.priors.run import part_path

TINY = {
    "name": "tiny_priors", "kind": "tabular", "seed": 0, "data": "breast_cancer",
    "model": {"name": "mlp", "params": {"hidden": [16, 8]}},
    "protocol": {"repetitions": 2, "n_train": 40, "n_val": 40, "n_test": 80, "epochs": 3, "lambdas": [0.1, 1]},
    "methods": ["x_gradient", {"name": "expected_gradients", "k": 1}, "gradient", "rrr", "none", "none_no_bias"],
    "k_sweep": {"ks": [1, 2, 4], "lambdas": [1], "repetitions": 2},
    "timing": {"steps": 1, "rounds": 1, "warmup": 0},
}


def test_builtin_suites_load():
    names = list_prior_suites()
    assert {"priors_breast_cancer", "priors_digits_smoothness"} <= set(names)
    for name in names:
        suite = load_prior_suite(name)
        assert suite.name == name and suite.units()


@pytest.mark.parametrize("patch, message", [
    ({"methods": ["x_gradient", "gradent"]}, "methods[1].name: 'gradent' is not a prior method"),
    ({"protocol": {"epochs": 0}}, "protocol.epochs: 0 is out of range"),
    ({"protocol": {"lr": float("nan")}}, "protocol.lr: nan is not a finite number"),
    ({"seed": 2**70}, "seed: 1180591620717411303424 does not fit in 64 bits"),
    ({"name": ".."}, "name: '..' is not allowed"),
    ({"model": {"name": "mlp", "params": {"hiden": [8]}}}, "model.params.hiden: 'hiden' is not a parameter"),
    ({"timing": {"rounds": 10**9}}, "timing.rounds: 1000000000 is out of range"),
    ({"protocol": {"lambda": [1]}}, "protocol.lambda: unknown key"),
    ({"prior": "sparse"}, "prior: 'sparse' is not allowed"),
    ({"k_sweep": {"ks": [0, 256]}}, "k_sweep.ks[0]: 0 is out of range"),
    ({"methods": [{"name": "gradient", "k": 4}]}, "methods[0].k: only expected_gradients takes k"),
])
def test_validation_names_the_field(patch, message):
    raw = {**copy.deepcopy(TINY), **patch}
    with pytest.raises(SuiteError) as err:
        parse_prior_suite(raw, "t.yaml")
    assert any(message in line for line in err.value.problems), err.value.problems
    assert all("\n" not in line for line in err.value.problems)


def test_unknown_suite_suggests():
    with pytest.raises(SuiteError, match="did you mean 'priors_breast_cancer'"):
        load_prior_suite("priors_breast_cancr")


def test_tiny_tabular_run_writes_tables_plots_and_resumes(tmp_path):
    suite = parse_prior_suite(copy.deepcopy(TINY))
    out = run_priors(suite, tmp_path / "run", progress=False, workers=1)
    for f in ("tables/roc_auc.md", "tables/roc_auc.csv", "tables/eg_k_sweep.md", "tables/step_time.md",
              "tables/step_time.csv", "plots/eg_k_sweep.png", "plots/step_time.png", "index.md", "manifest.json"):
        assert (out / f).exists(), f
    md = (out / "tables/roc_auc.md").read_text()
    assert "paper A" in md and "0.770" in md and "XG (bias-free)" in md
    df = pd.read_csv(out / "results.csv")
    # 4 regularised methods x 2 lambdas + 2 unregularised, plus EG k=2, k=4 at one lambda, per repetition
    assert len(df) == 2 * (4 * 2 + 2 + 2)
    assert df["test"].between(0, 1).all()
    timing = pd.read_csv(out / "timing.csv")
    assert timing.loc[timing["method"] == "none", "ratio_to_plain"].item() == pytest.approx(1.0)

    # resume: nothing is recomputed, nothing duplicated
    stamps = {r: part_path(out, r).stat().st_mtime_ns for r in range(2)}
    run_priors(suite, out, resume=True, progress=False, workers=1)
    assert {r: part_path(out, r).stat().st_mtime_ns for r in range(2)} == stamps
    again = pd.read_csv(out / "results.csv")
    assert len(again) == len(df) and not again.duplicated(["rep", "method", "lambda"]).any()

    # a lost repetition is recomputed alone, with the same numbers (seeded per repetition)
    part_path(out, 1).unlink()
    run_priors(suite, out, resume=True, progress=False, workers=1)
    assert part_path(out, 0).stat().st_mtime_ns == stamps[0]
    redone = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(redone.drop(columns=["step_ms", "train_seconds"]),
                                  df.drop(columns=["step_ms", "train_seconds"]))

    changed = parse_prior_suite({**copy.deepcopy(TINY), "seed": 1})
    with pytest.raises(XBenchError, match="suite differs"):
        run_priors(changed, out, resume=True, progress=False, workers=1)


def test_tiny_image_run(tmp_path):
    raw = {"name": "tiny_digits", "kind": "image", "data": {"name": "digits", "params": {"size": 8}},
           "model": "digits_cnn", "protocol": {"repetitions": 1, "n_train": 30, "n_val": 30, "n_test": 40,
                                               "epochs": 2, "lambdas": [0.01], "standardize": False},
           "methods": ["x_gradient", "expected_gradients", "none"], "evaluation": {"k": 2},
           "timing": {"steps": 1, "rounds": 1, "warmup": 0}}
    out = run_priors(parse_prior_suite(raw), tmp_path / "img", progress=False, workers=1)
    tab = pd.read_csv(out / "tables/accuracy_tv.csv")
    assert set(tab["method"]) == {"x_gradient", "expected_gradients[k=1]", "none"}
    assert (tab["test_tv_mean"] >= 0).all() and (out / "tables/accuracy_tv.md").exists()


@pytest.mark.slow
def test_two_worker_processes(tmp_path):
    suite = parse_prior_suite({**copy.deepcopy(TINY), "k_sweep": None})
    out = run_priors(suite, tmp_path / "par", progress=False, workers=2)
    df = pd.read_csv(out / "results.csv")
    assert sorted(df["rep"].unique()) == [0, 1] and not df.duplicated(["rep", "method", "lambda"]).any()
