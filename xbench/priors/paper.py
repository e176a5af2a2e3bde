"""Paper A's published §4.3 figures (NHANES I), quoted beside ours and always labelled as the paper's.

Source: ``shared/papers.md`` §4.3 — test ROC-AUC read off the authors' figure and result files,
200 repetitions of 100 train / 100 validation subjects, MLP 512-128-32, 100 full-batch epochs.
"""

from __future__ import annotations

PAPER_SOURCE = ("paper A (Hesse et al., NeurIPS 2021) §4.3, NHANES I, 200 repetitions; values read off the authors' "
                "figure and result files (shared/papers.md)")

PAPER_ROC_AUC = {
    "x_gradient": 0.770,
    "expected_gradients[k=1]": 0.752,
    "gradient": 0.715,
    "rrr": 0.714,
    "none": 0.708,
    "none_no_bias": 0.706,
}
"""Test ROC-AUC per method label (our labels) on NHANES I."""

PAPER_LAMBDA = {"x_gradient": 1.0, "expected_gradients[k=1]": 1.0, "gradient": 0.1, "rrr": 0.1}
"""The lambda the paper chose on validation per method."""

PAPER_EG_SWEEP = {1: 0.7486, 2: 0.7518, 4: 0.7603, 8: 0.7607, 16: 0.7640, 32: 0.7679, 64: 0.7687, 128: 0.7722}
"""Test ROC-AUC of Expected Gradients with k references per step, NHANES I."""

DISPLAY = {
    "x_gradient": "XG (bias-free)",
    "expected_gradients[k=1]": "EG k=1",
    "gradient": "Grad",
    "rrr": "RRR",
    "none": "unregularised",
    "none_no_bias": "unregularised, no bias",
}
"""Column names of the paper's figure."""
