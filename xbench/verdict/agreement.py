"""Agreement statistics: Kendall's tau-b between rankings, Kendall's W (concordance), Krippendorff's alpha."""

from __future__ import annotations

import numpy as np

LEVELS = ("nominal", "ordinal", "interval")


def kendall_tau_matrix(scores: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between every pair of rows of ``scores`` [raters, objects] (NaN objects dropped pair-
    wise would change the objects compared, so a row with any NaN gives NaN).  Tau-b corrects for ties; a
    row with all objects tied gives NaN against every row (including itself)."""
    scores = np.asarray(scores, dtype=np.float64)
    k = scores.shape[0]
    sign = np.sign(scores[:, :, None] - scores[:, None, :]).reshape(k, -1)  # [raters, objects^2]
    bad = np.isnan(sign).any(axis=1)
    sign = np.nan_to_num(sign)
    num = sign @ sign.T  # concordant - discordant pairs, each counted twice
    untied = np.diag(num)  # pairs not tied in the row, twice
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.clip(num / np.sqrt(np.outer(untied, untied)), -1.0, 1.0)
    tau[bad, :] = np.nan
    tau[:, bad] = np.nan
    return tau


def kendall_w(ranks: np.ndarray) -> float:
    """Kendall's coefficient of concordance W of ``ranks`` [objects, raters] (each column the ranks 1..n
    one rater gives; average ranks for ties), with the tie correction: W = 12 S / (m^2 (n^3 - n) - m sum T),
    S the sum of squared deviations of the objects' rank sums from their mean, T = sum (t^3 - t) over each
    rater's tie groups.  0 = no agreement, 1 = identical rankings; NaN for fewer than 2 objects or raters,
    or when every rater ties everything."""
    ranks = np.asarray(ranks, dtype=np.float64)
    n, m = ranks.shape
    if n < 2 or m < 2 or np.isnan(ranks).any():
        return float("nan")
    totals = ranks.sum(axis=1)
    s = float(((totals - totals.mean()) ** 2).sum())
    ties = 0.0
    for col in ranks.T:
        _, counts = np.unique(col, return_counts=True)
        ties += float((counts**3 - counts).sum())
    denom = m**2 * (n**3 - n) - m * ties
    return 12.0 * s / denom if denom > 0 else float("nan")


def krippendorff_alpha(data: np.ndarray, level: str = "ordinal") -> float:
    """Krippendorff's alpha of reliability ``data`` [coders, units] (NaN = a coder gave no value), at the
    ``nominal``, ``ordinal`` or ``interval`` level: 1 - D_o / D_e from the coincidence matrix of pairable
    values (units with fewer than two values are not pairable).  1 = perfect agreement, 0 = agreement at
    chance level; NaN when no unit is pairable or every pairable value is the same (D_e = 0)."""
    if level not in LEVELS:
        raise ValueError(f"level {level!r}; allowed: {', '.join(LEVELS)}")
    data = np.asarray(data, dtype=np.float64)
    values = np.unique(data[np.isfinite(data)])
    if len(values) == 0:
        return float("nan")
    index = np.searchsorted(values, np.where(np.isfinite(data), data, values[0]))
    counts = np.zeros((data.shape[1], len(values)))  # [units, values]: how many coders gave each value
    coded = np.isfinite(data)
    for c in range(data.shape[0]):
        np.add.at(counts, (np.nonzero(coded[c])[0], index[c][coded[c]]), 1.0)
    m_u = counts.sum(axis=1)
    pairable = m_u >= 2
    if not pairable.any():
        return float("nan")
    counts, m_u = counts[pairable], m_u[pairable]
    # coincidences o_ck = sum_u n_uc (n_uk - [c == k]) / (m_u - 1)
    weighted = counts / (m_u - 1)[:, None]
    o = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    n_c = o.sum(axis=1)
    n = n_c.sum()
    delta2 = _delta2(values, n_c, level)
    d_o = float((o * delta2).sum()) / n
    d_e = float((np.outer(n_c, n_c) * delta2).sum()) / (n * (n - 1))
    return 1.0 - d_o / d_e if d_e > 0 else float("nan")


def _delta2(values: np.ndarray, n_c: np.ndarray, level: str) -> np.ndarray:
    """The squared difference function of ``level`` between every pair of values."""
    if level == "nominal":
        return 1.0 - np.eye(len(values))
    if level == "interval":
        return (values[:, None] - values[None, :]) ** 2
    cum = np.cumsum(n_c)  # ordinal: (sum of n_g for g from c to k - (n_c + n_k) / 2)^2
    lo = np.minimum.outer(np.arange(len(values)), np.arange(len(values)))
    hi = np.maximum.outer(np.arange(len(values)), np.arange(len(values)))
    between = cum[hi] - np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
    return (between - (n_c[:, None] + n_c[None, :]) / 2) ** 2
