"""Kendall's tau-b and W against SciPy, Krippendorff's alpha against Krippendorff's published examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from xbench.verdict.agreement import kendall_tau_matrix, kendall_w, krippendorff_alpha

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12 units,
# missing values; published alpha: nominal 0.743, ordinal 0.815, interval 0.849.
K2011 = [[1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
         [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]]
# The computational example of Krippendorff's alpha on Wikipedia (3 coders x 15 units): nominal 0.691,
# interval 0.811.
WIKI = [[NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
        [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
        [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4]]


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_published_2011_example(level, published):
    assert round(krippendorff_alpha(np.array(K2011), level), 3) == published


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.691), ("interval", 0.811)])
def test_alpha_published_wikipedia_example(level, published):
    assert round(krippendorff_alpha(np.array(WIKI), level), 3) == published


def test_alpha_edge_cases():
    same = np.array([[1.0, 2, 3], [1, 2, 3]])
    assert krippendorff_alpha(same, "ordinal") == 1.0
    assert math.isnan(krippendorff_alpha(np.ones((3, 4))))  # one value everywhere: D_e = 0
    assert math.isnan(krippendorff_alpha(np.array([[1.0, NAN], [NAN, 2.0]])))  # nothing pairable
    with pytest.raises(ValueError, match="allowed: nominal, ordinal, interval"):
        krippendorff_alpha(same, "ratio")


def test_tau_matrix_equals_scipy_tau_b_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(5, 9)).astype(float)  # many ties
    tau = kendall_tau_matrix(scores)
    for a in range(5):
        for b in range(5):
            assert tau[a, b] == pytest.approx(st.kendalltau(scores[a], scores[b]).statistic, rel=1e-12)


def test_tau_matrix_nan_rows():
    tau = kendall_tau_matrix(np.array([[1.0, 2, 3], [3, 2, NAN], [5, 5, 5]]))
    assert tau[0, 0] == 1.0 and np.isnan(tau[1]).all() and np.isnan(tau[2]).all()


def test_w_equals_friedman_over_m_times_n_minus_1():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, size=(7, 6)).astype(float)  # 7 objects x 6 raters, ties included
    ranks = st.rankdata(scores, axis=0)
    chi2 = st.friedmanchisquare(*scores).statistic  # treatments = objects, blocks = raters
    assert kendall_w(ranks) == pytest.approx(chi2 / (6 * (7 - 1)), rel=1e-12)


def test_w_by_hand():
    assert kendall_w(np.array([[1.0, 1, 1], [2, 2, 2], [3, 3, 3]])) == pytest.approx(1.0)
    # two raters in opposite order: rank sums all equal, S = 0
    assert kendall_w(np.array([[1.0, 3], [2, 2], [3, 1]])) == 0.0
    assert math.isnan(kendall_w(np.array([[1.0, 1.0]])))
