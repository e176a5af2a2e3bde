"""Rank aggregation: each method's rank per criterion, the mean rank with a bootstrap interval over samples,
Kendall's W per model, the tau matrix between criteria and Krippendorff's alpha of each criterion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from .agreement import kendall_tau_matrix, kendall_w, krippendorff_alpha
from .table import Cube

N_BOOT = 1000


def best_first(oriented: np.ndarray, axis: int = 0) -> np.ndarray:
    """Ranks along ``axis`` with 1 = the largest oriented score (the best), average ranks for ties, NaN
    scores unranked (NaN)."""
    return rankdata(-oriented, axis=axis, nan_policy="omit")


@dataclass
class Ranking:
    """One model's rank aggregation and metric agreement (criteria: the directed, complete ones)."""

    model: str
    methods: list[str]
    criteria: list[str]  # labels (metric.stat) of the criteria used
    dropped: list[str]  # directed criteria left out: some method has no finite value on them
    ranks: np.ndarray  # [methods, criteria], 1 = best by the mean over samples
    mean_rank: np.ndarray  # [methods]
    ci_low: np.ndarray  # [methods], bootstrap 2.5th percentile of the mean rank
    ci_high: np.ndarray  # [methods]
    w: float  # Kendall's W of the criteria's rankings
    tau: np.ndarray  # [criteria, criteria] Kendall tau-b between the criteria's rankings of methods
    alpha: np.ndarray  # [criteria] Krippendorff's alpha (ordinal) across samples
    n_samples: int
    n_boot: int

    def mean_tau(self) -> tuple[float, int, int]:
        """(mean tau over distinct criterion pairs, how many pairs, how many negative)."""
        iu = np.triu_indices(len(self.criteria), 1)
        t = self.tau[iu]
        t = t[np.isfinite(t)]
        return (float(t.mean()) if len(t) else float("nan")), len(t), int((t < 0).sum())


def sample_alpha(oriented: np.ndarray) -> float:
    """Krippendorff's alpha of one criterion across samples: does the metric rank the methods the same way
    on every sample?

    Reliability data: each *sample* is a coder, each *method* a unit; a coder's value for a unit is the
    method's rank among the methods on that sample (1 = best, average ranks for ties, NaN where the method
    has no finite value), compared at the *ordinal* level (only the order of ranks matters, and each
    coder's ranks are on the same 1..n scale, unlike raw values whose scale changes with the image).
    ``oriented`` is [methods, samples], larger is better.
    """
    ranks = best_first(oriented, axis=0)  # [methods, samples]
    return krippendorff_alpha(ranks.T, level="ordinal")


def _boot_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, n] resampling counts (how often each sample is drawn), seeded."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_boot, n))
    return np.stack([np.bincount(row, minlength=n) for row in draws]).astype(np.float64)


def rank_cube(cube: Cube, n_boot: int = N_BOOT, seed: int = 0) -> Ranking:
    """Rank aggregation and agreement of one model's methods over its directed, complete criteria.

    A criterion ranks the methods by their mean over the samples each has a finite value on; a criterion
    on which some method has no finite value at all is dropped (listed in ``dropped``), so every mean rank
    is over the same criteria.  The bootstrap redraws samples with replacement (the same draw for every
    method and criterion, so pairs stay paired) ``n_boot`` times from ``seed``.
    """
    labels = cube.labels()
    directed = cube.directed()
    x = cube.oriented()[:, directed, :]  # [methods, criteria, samples]
    complete = np.isfinite(x).any(axis=2).all(axis=0)
    dropped = [labels[c] for c, ok in zip(directed, complete) if not ok]
    x = x[:, complete, :]
    names = [labels[c] for c, ok in zip(directed, complete) if ok]
    n_m, n_c, n_s = x.shape
    finite = np.isfinite(x)
    with np.errstate(invalid="ignore"):
        means = np.where(finite, x, 0.0).sum(axis=2) / finite.sum(axis=2)
    ranks = best_first(means, axis=0) if n_c else np.zeros((n_m, 0))
    if n_c == 0 or n_s == 0:
        nan = np.full(n_m, np.nan)
        return Ranking(cube.model, cube.methods, names, dropped, ranks, nan, nan, nan, float("nan"),
                       np.zeros((0, 0)), np.zeros(0), n_s, n_boot)
    mean_rank = ranks.mean(axis=1)
    weights = _boot_weights(n_s, n_boot, seed)  # [B, S]
    flat = np.where(finite, x, 0.0).reshape(-1, n_s)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (flat @ weights.T) / (finite.reshape(-1, n_s).astype(np.float64) @ weights.T)  # [M*C, B]
    boot_ranks = best_first(boot.reshape(n_m, n_c, n_boot), axis=0)
    boot_mean = np.nanmean(boot_ranks, axis=1)  # [M, B]: a draw missing all of a method's samples: skipped
    low, high = np.nanpercentile(boot_mean, [2.5, 97.5], axis=1)
    tau = kendall_tau_matrix(means.T)
    alpha = np.array([sample_alpha(x[:, c, :]) for c in range(n_c)])
    return Ranking(cube.model, cube.methods, names, dropped, ranks, mean_rank, low, high, kendall_w(ranks),
                   tau, alpha, n_s, n_boot)
