"""The paired comparison statistics against SciPy and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from xbench.verdict.stats import (
    ZERO_METHOD,
    adjust,
    benjamini_hochberg,
    cles,
    effect_sign,
    holm,
    mean_ci,
    paired_p,
    wilcoxon_p,
)


@pytest.mark.parametrize("seed", range(4))
def test_wilcoxon_and_t_equal_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=20)
    y = x + rng.normal(0.3, 1.0, size=20)
    y[:3] = x[:3]  # zero differences: the zero method matters
    assert paired_p(y - x) == pytest.approx(st.wilcoxon(y, x, zero_method=ZERO_METHOD).pvalue, rel=1e-12)
    assert paired_p(y - x, "t") == pytest.approx(st.ttest_rel(y, x).pvalue, rel=1e-12)


SCIPY_AUTO = tuple(int(v) for v in __import__("scipy").__version__.split(".")[:2]) >= (1, 15)


@pytest.mark.skipif(not SCIPY_AUTO, reason="SciPy < 1.15 chooses the Wilcoxon method differently for ties")
@pytest.mark.parametrize("kind", ["continuous", "integer_ties", "rounded", "zeros"])
def test_wilcoxon_equals_scipy_on_every_path(kind):
    # exact (no ties, n <= 50), sign-flip enumeration (ties or zeros, n <= 13), normal approximation (else)
    rng = np.random.default_rng(7)
    draws = {"continuous": lambda n: rng.normal(0.3, 1, n), "integer_ties": lambda n: rng.integers(-3, 4, n) * 1.0,
             "rounded": lambda n: np.round(rng.normal(0.2, 1, n), 1),
             "zeros": lambda n: np.where(np.arange(n) < n // 3, 0.0, rng.normal(0, 1, n))}
    for n in (1, 2, 5, 8, 11, 14, 20, 50, 51):  # SciPy enumerates 2**n flips slowly: n <= 13 kept small
        d = draws[kind](n)
        if np.any(d):
            assert wilcoxon_p(d) == pytest.approx(st.wilcoxon(d, zero_method=ZERO_METHOD).pvalue, rel=1e-9), n


def test_exact_wilcoxon_by_hand():
    # 7 positive differences: W- = 0, the two-sided exact p = 2 / 2**7
    assert paired_p(np.arange(1.0, 8.0)) == pytest.approx(2 / 128, rel=1e-12)
    # n = 5 cannot reach 0.05: the smallest two-sided exact p is 2 / 32
    assert paired_p(np.arange(1.0, 6.0)) == pytest.approx(0.0625, rel=1e-12)


def test_degenerate_differences_do_not_crash_or_claim():
    assert paired_p(np.zeros(9)) == 1.0 and paired_p(np.zeros(9), "t") == 1.0  # all-equal columns
    assert math.isnan(paired_p(np.array([])))
    assert math.isnan(paired_p(np.array([0.5]), "t"))
    assert effect_sign(np.zeros(4)) == 0.0


def test_effect_sign_follows_ranks_not_mean():
    d = np.array([-10.0, 1, 2, 3, 4])  # mean 0, but the positive ranks dominate: R+ = 10, R- = 5
    assert effect_sign(d) == 1.0 and effect_sign(d, "t") == 0.0


def test_mean_ci_by_hand():
    mean, low, high = mean_ci(np.array([1.0, 2.0, 3.0]))
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt 3
    assert mean == 2.0 and low == pytest.approx(2 - half) and high == pytest.approx(2 + half)
    assert mean_ci(np.array([4.0, 4.0])) == (4.0, 4.0, 4.0)
    assert all(math.isnan(v) for v in mean_ci(np.array([]))) and math.isnan(mean_ci(np.array([1.0]))[1])


def test_cles_by_hand():
    assert cles(np.array([1.0, 2.0, -1.0, 0.0])) == pytest.approx((2 + 0.5) / 4)
    assert cles(np.zeros(3)) == 0.5 and math.isnan(cles(np.array([])))


def test_holm_by_hand():
    p = np.array([0.04, 0.01, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert holm(p) == pytest.approx([0.06, 0.03, 0.06, 0.02])
    assert holm(np.array([0.5, 0.9])) == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("seed", range(3))
def test_bh_equals_scipy(seed):
    p = np.random.default_rng(seed).uniform(0, 0.2, size=37)
    p[5] = p[9]  # ties
    assert benjamini_hochberg(p) == pytest.approx(st.false_discovery_control(p, method="bh"), rel=1e-12)
    assert adjust(p, "bh") == pytest.approx(benjamini_hochberg(p))


def test_unknown_choices_refused():
    with pytest.raises(ValueError, match="allowed: wilcoxon, t"):
        paired_p(np.ones(3), "sign")
    with pytest.raises(ValueError, match="allowed: holm, bh"):
        adjust(np.ones(3), "bonferroni")
