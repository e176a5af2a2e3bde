"""Paired comparisons against the `random` method: tests, corrections, confidence intervals, effect sizes.

Everything in float64.  A comparison is over the samples both methods have a finite value on (matched by
sample id); ``d = method - random`` on each.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as st

TESTS = ("wilcoxon", "t")
CORRECTIONS = ("holm", "bh")
ZERO_METHOD = "pratt"
"""Wilcoxon's treatment of zero differences: ranked with the others, then their ranks dropped (Pratt 1959),
so that ties at zero (common: a metric saturating for both methods) neither vanish from the ranking nor
count as evidence either way."""


def paired_p(d: np.ndarray, test: str = "wilcoxon") -> float:
    """Two-sided p-value that the paired differences ``d`` are centred on 0.

    ``wilcoxon``: the signed-rank test (:func:`wilcoxon_p`); ``t``: the paired t-test.  All differences
    zero: 1.0 (no evidence of a difference); no difference: NaN.  With n < 6 the Wilcoxon test cannot
    reach p < 0.05 (the smallest two-sided exact p is 2 / 2**n), which is honest, not a bug.
    """
    d = np.asarray(d, dtype=np.float64)
    if len(d) == 0:
        return float("nan")
    if not np.any(d):
        return 1.0
    if test == "wilcoxon":
        return wilcoxon_p(d)
    if test == "t":
        if len(d) < 2:
            return float("nan")
        return float(st.ttest_1samp(d, 0.0).pvalue)
    raise ValueError(f"test {test!r}; allowed: {', '.join(TESTS)}")


EXACT_MAX = 50  # no ties or zeros: the exact null distribution up to this many differences
ENUMERATE_MAX = 13  # ties or zeros: all 2**n sign flips up to this many (8192), else the normal approximation


def wilcoxon_p(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of ``d`` (not all zero) with :data:`ZERO_METHOD`, chosen as SciPy's
    ``wilcoxon(d, zero_method="pratt")`` chooses (SciPy >= 1.15): the exact distribution for n <= 50
    without ties or zeros; with them, the exact sign-flip distribution for n <= 13, else the normal
    approximation with Cureton's zero and the tie corrections (no continuity correction).  Computed here
    in closed, vectorised form because SciPy's tied case runs a generic permutation test (seconds a cell)."""
    d = np.asarray(d, dtype=np.float64)
    n = len(d)
    a = np.abs(d)
    r = st.rankdata(a)
    r_plus = float(r[d > 0].sum())
    n_zero = int((d == 0).sum())
    _, tie_counts = np.unique(a[d != 0], return_counts=True)
    ties = bool((tie_counts > 1).any())
    if n <= EXACT_MAX and not ties and n_zero == 0:
        counts = np.zeros(n * (n + 1) // 2 + 1)
        counts[0] = 1.0
        for k in range(1, n + 1):  # subsets of the ranks 1..n by their sum
            counts[k:] = counts[k:] + counts[:-k].copy()
        cdf = np.cumsum(counts) / 2.0**n
        k = int(round(r_plus))
        p = 2 * min(cdf[k], 1.0 - (cdf[k - 1] if k > 0 else 0.0))
        return float(min(p, 1.0))
    if n <= ENUMERATE_MAX:
        signs = 1.0 - 2.0 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)  # every sign flip [2^n, n]
        null = ((signs * d) > 0) @ r
        gamma = abs(r_plus) * np.finfo(np.float64).eps * 100  # equal up to rounding counts as equal
        p = 2 * min(float((null <= r_plus + gamma).mean()), float((null >= r_plus - gamma).mean()))
        return float(min(p, 1.0))
    mean = n * (n + 1) / 4 - n_zero * (n_zero + 1) / 4
    var = (n * (n + 1) * (2 * n + 1) - n_zero * (n_zero + 1) * (2 * n_zero + 1)
           - float((tie_counts**3 - tie_counts).sum()) / 2) / 24
    z = (r_plus - mean) / math.sqrt(var)
    return float(min(2 * st.norm.sf(abs(z)), 1.0))


def smallest_p(n: int, test: str = "wilcoxon") -> float:
    """The smallest two-sided p a test can give on ``n`` paired differences: 2 / 2**n for Wilcoxon (every
    difference on one side), 0 for t (unbounded).  Below the corrected threshold no claim is possible."""
    return 2.0 / 2.0**n if test == "wilcoxon" and n >= 1 else (1.0 if test == "wilcoxon" else 0.0)


def reachable_threshold(m: int, alpha: float, correction: str) -> float:
    """The largest raw p that can still be declared significant in a family of ``m``: alpha / m for Holm
    (its first step), alpha for BH (when every p is equally small)."""
    return alpha / max(m, 1) if correction == "holm" else alpha


def effect_sign(d: np.ndarray, test: str = "wilcoxon") -> float:
    """The direction the test sees: for Wilcoxon the sign of R+ - R- (signed ranks of |d|, zeros ranked
    then dropped as in :data:`ZERO_METHOD`), for t the sign of the mean; 0 when neither way."""
    d = np.asarray(d, dtype=np.float64)
    if len(d) == 0:
        return 0.0
    if test == "t":
        return float(np.sign(d.mean()))
    r = st.rankdata(np.abs(d))
    return float(np.sign(r[d > 0].sum() - r[d < 0].sum()))


def mean_ci(d: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean difference and its Student-t confidence interval (NaN bounds for n < 2;
    a zero-width interval when every difference is the same)."""
    d = np.asarray(d, dtype=np.float64)
    n = len(d)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(d.mean())
    if n < 2:
        return mean, float("nan"), float("nan")
    half = float(st.t.ppf(0.5 + level / 2, n - 1)) * float(d.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def cles(d: np.ndarray) -> float:
    """Common-language effect size of a paired comparison: the probability that, on a sample drawn at
    random, the method's value exceeds random's (P(d > 0) + P(d = 0) / 2; 0.5 = no effect).  Raw
    orientation (above, not better): read it with the metric's direction.  NaN for no samples."""
    d = np.asarray(d, dtype=np.float64)
    if len(d) == 0:
        return float("nan")
    return float((d > 0).mean() + 0.5 * (d == 0).mean())


def _in_order(p: np.ndarray, adjust_sorted) -> np.ndarray:
    """``adjust_sorted(sorted p, m)`` mapped back to the input order (ties keep their order), capped at 1."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    out = np.empty(len(p))
    out[order] = np.minimum(adjust_sorted(p[order], len(p)), 1.0) if len(p) else p
    return out


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order: p_(i) * (m - i + 1),
    made monotone from the smallest up and capped at 1."""
    return _in_order(p, lambda s, m: np.maximum.accumulate(s * (m - np.arange(m))))


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), in the input order: p_(i) * m / i,
    made monotone from the largest down and capped at 1."""
    return _in_order(p, lambda s, m: np.minimum.accumulate((s * m / np.arange(1, m + 1))[::-1])[::-1])


def adjust(p: np.ndarray, correction: str = "holm") -> np.ndarray:
    """``p`` corrected for multiple comparisons (``holm`` or ``bh``)."""
    if correction == "holm":
        return holm(p)
    if correction == "bh":
        return benjamini_hochberg(p)
    raise ValueError(f"correction {correction!r}; allowed: {', '.join(CORRECTIONS)}")
