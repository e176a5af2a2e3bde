"""MetaQuantus's model perturbation scores: hand cases, and `xbench reliability` on a tiny run feeding the verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from xbench.cli import main
from xbench.reliability import perturbed, scores


def test_scores_by_hand():
    q = np.array([[1.0, 2, 3, 4, 5, 6, 7], [0, 0, 0, 0, 0, 0, 0]])  # method 0 above method 1 on every sample
    keep = np.ones(7, dtype=bool)
    same = scores(q, [q.copy()], [keep], "resilience", "higher")
    assert same == {"IAC": 1.0, "IEC": 1.0}  # unchanged scores: p = 1, every position kept
    swapped = scores(q, [q[::-1].copy()], [keep], "resilience", "higher")
    assert swapped["IEC"] == 0.0  # the order flipped on every sample
    worse = scores(q, [q - 1.0], [keep], "adversary", "higher")
    # every score lower: IEC_AR = 1; Wilcoxon p of 7 equal shifts = 2 / 2**7
    assert worse["IEC"] == 1.0 and worse["IAC"] == pytest.approx(1 - 2 / 128)
    assert scores(q, [q - 1.0], [keep], "adversary", "lower")["IEC"] == 0.0  # lower is better: that got better
    assert np.isnan(scores(q, [q], [np.zeros(7, dtype=bool)], "adversary", "higher")["IAC"])  # no changed sample


def test_perturbed_copies_and_is_seeded():
    net = torch.nn.Linear(3, 2)
    before = net.weight.clone()
    a, b = perturbed(net, 0.1, seed=3), perturbed(net, 0.1, seed=3)
    assert torch.equal(net.weight, before) and torch.equal(a.weight, b.weight) and not torch.equal(a.weight, before)


@pytest.mark.slow
def test_reliability_command_writes_csv_and_verdict_section(tmp_path, capsys):
    suite = tmp_path / "s.yaml"
    suite.write_text("name: rel\nseed: 0\ndevice: cpu\ndata: {name: digits, split: test, n_samples: 6, batch_size: 6}\n"
                     "models: [digits_cnn]\nmethods: [saliency, random]\nmetrics: [{name: deletion, steps: 4}]\n")
    out = tmp_path / "run"
    assert main(["run", str(suite), "--out", str(out), "--quiet"]) == 0
    assert main(["reliability", str(suite), "--out", str(out), "--draws", "1", "--samples", "6"]) == 0
    rel = pd.read_csv(out / "reliability.csv")
    assert list(rel["criterion"]) == ["deletion.auc"]
    vals = rel[["IAC_NR", "IAC_AR", "IEC_NR", "IEC_AR", "MC"]].to_numpy(dtype=float)
    assert ((vals[np.isfinite(vals)] >= 0) & (vals[np.isfinite(vals)] <= 1)).all()
    assert rel["kept_minor"].item() == 1.0  # the minor noise keeps every prediction
    assert "Metric reliability under perturbation" in (out / "verdict.md").read_text()
    assert main(["reliability", str(suite), "--out", str(tmp_path / "none")]) == 2
    assert "has no results.csv" in capsys.readouterr().err


def test_reliability_runs_metrics_bound_to_named_data(tmp_path):
    """The reliability test hands the samples to the runner as tensors; a metric that retrains on its data
    (data_randomisation, digits only) still sees them as digits, as in the run it re-scores."""
    from xbench.reliability import model_reliability
    from xbench.suite import parse_suite

    suite = parse_suite({"name": "rel", "seed": 0, "device": "cpu",
                         "data": {"name": "digits", "split": "test", "n_samples": 4, "batch_size": 4},
                         "models": ["digits_cnn"], "methods": ["saliency", "random"],
                         "metrics": [{"name": "data_randomisation", "epochs": 1}]})
    rel = model_reliability(suite, draws=1, samples=4)
    assert list(rel["criterion"]) == ["data_randomisation.similarity"]
    assert np.isfinite(rel["IEC_NR"]).all()
