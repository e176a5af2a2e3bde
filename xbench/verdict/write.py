"""verdict.csv, verdict_ranks.csv, verdict_agreement.csv, verdict.md and the terminal summary."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from .compare import COLUMNS, EXCLUDED, family_size
from .plot import outcome_codes
from .ranks import Ranking
from .stats import ZERO_METHOD, reachable_threshold, smallest_p
from .table import Cube

SYMBOLS = ("–", "·", "▼", "▲")  # n/a, not significant, worse than random, beats random (plot.OUTCOMES)


def _f(v: float, digits: int = 3) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}g}"


def ranks_frame(rankings: list[Ranking]) -> pd.DataFrame:
    """verdict_ranks.csv: per model and method, the mean rank, its bootstrap 95% interval, and its rank on
    every criterion (columns ``rank:<metric.stat>``), best (lowest mean rank) first."""
    frames = []
    for r in rankings:
        f = pd.DataFrame({"model": r.model, "method": r.methods, "mean_rank": r.mean_rank,
                          "ci_low": r.ci_low, "ci_high": r.ci_high, "kendall_w": r.w})
        for j, c in enumerate(r.criteria):
            f[f"rank:{c}"] = r.ranks[:, j]
        frames.append(f.sort_values("mean_rank", kind="stable"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model", "method", "mean_rank"])


def agreement_frame(rankings: list[Ranking]) -> pd.DataFrame:
    """verdict_agreement.csv: per model and criterion, Krippendorff's alpha across samples and the Kendall
    tau with every other criterion (columns ``tau:<metric.stat>``)."""
    frames = []
    for r in rankings:
        f = pd.DataFrame({"model": r.model, "criterion": r.criteria, "krippendorff_alpha": r.alpha})
        for j, c in enumerate(r.criteria):
            f[f"tau:{c}"] = r.tau[:, j]
        frames.append(f)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model", "criterion"])


def _grid(rows: pd.DataFrame, methods: list[str], alpha: float) -> str:
    """The method x criterion table of outcome symbols, with each method's count of wins."""
    labels = [m if s == m else f"{m}.{s}" for m, s in zip(rows["metric"], rows["stat"])]
    cols = list(dict.fromkeys(labels))
    sym = dict(zip(zip(rows["method"], labels), (SYMBOLS[c] for c in outcome_codes(rows, alpha))))
    lines = ["| method | wins | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for m in methods:
        wins = sum(sym.get((m, c)) == SYMBOLS[3] for c in cols)
        lines.append(f"| {m} | {wins} | " + " | ".join(sym.get((m, c), SYMBOLS[0]) for c in cols) + " |")
    return "\n".join(lines)


def headline(table: pd.DataFrame, r: Ranking, random: str | None) -> dict:
    """The few figures of one model the summary quotes (``random``: the model's random method label)."""
    rows = table[table["model"] == r.model]
    fam = rows[rows["correction"] != EXCLUDED]
    wins = int((rows["beats_random"] == "true").sum())
    order = list(np.argsort(r.mean_rank, kind="stable")) if len(r.criteria) else []
    rand = next((k + 1 for k, i in enumerate(order) if r.methods[i] == random), None)
    low = sorted(((a, c) for a, c in zip(r.alpha, r.criteria) if np.isfinite(a)))[:3]
    return {"wins": wins, "family": len(fam), "random_rank": rand, "n_methods": len(r.methods),
            "mean_tau": r.mean_tau(), "lowest_alpha": low, "w": r.w}


def power_note(table: pd.DataFrame, cube: Cube, test: str, correction: str, alpha: float) -> str:
    """A sentence when the run's sample count cannot reach significance after correction (else "")."""
    rows = table[(table["model"] == cube.model) & (table["correction"] != EXCLUDED)] if len(table) else table
    if not len(rows):
        return ""
    n = int(rows["n"].max())
    need = reachable_threshold(family_size(table), alpha, correction)
    best = smallest_p(n, test)
    if best < need:
        return ""
    return (f"No comparison can be significant here: with {n} samples the smallest two-sided {test} p is "
            f"{best:.2g}, and {correction} over {family_size(table)} comparisons needs p < {need:.2g}; "
            "run more samples.")


def summary_lines(table: pd.DataFrame, cubes: list[Cube], rankings: list[Ranking], correction: str,
                  test: str = "wilcoxon", alpha: float = 0.05) -> str:
    """A few lines for the terminal: per model, the cells beating random after correction, where random
    ranks, the mean Kendall tau and the least reliable metrics."""
    out = [f"verdict ({correction}-corrected across {family_size(table)} comparisons; verdict.md):"]
    if not cubes:
        out.append("  no per-sample values of attribution methods in this run: nothing to compare")
    for cube, r in zip(cubes, rankings):
        h = headline(table, r, cube.random)
        rows = table[table["model"] == r.model]
        if not len(rows):
            out.append(f"  {r.model}: no `random` method in the suite, no comparison with random")
        else:
            out.append(f"  {r.model}: {h['wins']} of {h['family']} method x metric cells beat random; random ranks "
                       f"{h['random_rank'] or '?'}/{h['n_methods']}")
            note = power_note(table, cube, test, correction, alpha)
            if note:
                out.append(f"    {note}")
        mean, pairs, neg = h["mean_tau"]
        low = ", ".join(f"{c} {_f(a, 2)}" for a, c in h["lowest_alpha"]) or "none"
        out.append(f"    metrics agree: mean Kendall tau {_f(mean, 2)} over {pairs} pairs ({neg} negative); "
                   f"lowest alpha: {low}")
    return "\n".join(out)


def verdict_markdown(title: str, cubes: list[Cube], table: pd.DataFrame, rankings: list[Ranking], *, test: str,
                     correction: str, alpha: float, seed: int, reliability: pd.DataFrame | None = None,
                     plot_name: str = "verdict.png") -> str:
    """verdict.md: settings and family first, then per model the comparisons, ranks and agreement."""
    test_name = {"wilcoxon": f"Wilcoxon signed-rank (two-sided, zero_method='{ZERO_METHOD}': zero differences "
                             "are ranked, then their ranks dropped)", "t": "paired t-test (two-sided)"}[test]
    corr_name = {"holm": "Holm (family-wise error rate)", "bh": "Benjamini-Hochberg (false discovery rate)"}[correction]
    n_fam = family_size(table)
    excl = table[table["correction"] == EXCLUDED] if len(table) else table
    descriptive = sorted({f"{m}.{s}" for m, s, d in zip(excl.get("metric", []), excl.get("stat", []),
                                                         excl.get("direction", [])) if d is None})
    lines = [f"# Verdict: {title}", "",
             "Can a user believe the ranking? Each method against the suite's `random` method on every metric, "
             "the methods' ranks, and how far the metrics agree. Computed from `results.csv` alone "
             "(`python -m xbench verdict RUN_DIR` regenerates it).", "",
             f"![verdict]({plot_name})", "", "## How it is computed", "",
             "- **Comparison**: per model x method x metric x stat, the paired difference `method - random` over the "
             "samples both have a finite value on (matched by sample id); `mean_diff` with its Student-t 95% CI, "
             f"p from the {test_name}.",
             f"- **Family**: the p-values of every model x method x metric x stat of this run with a declared "
             f"direction, `random` itself excluded — **{n_fam} comparisons** — corrected together with {corr_name}. "
             "Rows outside it have `correction = excluded`, `beats_random = n/a`: random against itself, "
             "comparisons with no shared sample, and descriptive stats (no direction)"
             + (f": {', '.join(descriptive)}." if descriptive else "."),
             f"- **beats_random**: `p_adjusted < {alpha:g}` and both the mean difference and the test's own direction "
             "(Wilcoxon: the larger of the positive and negative rank sums) point the better way of the metric "
             "(its registered direction). With fewer than 6 samples the Wilcoxon test cannot reach p < 0.05.",
             "- **cles**: common-language effect size, the share of samples on which the method's value is *above* "
             "random's (ties count half); 0.5 = no effect. Read it with the metric's direction.",
             "- **Ranks**: per metric.stat with a direction, the methods ranked by their mean (1 = best); the mean "
             f"rank over those criteria with a 95% bootstrap interval (1000 redraws of the samples, seed {seed}); "
             "Kendall's W (0 = the criteria's rankings are unrelated, 1 = identical), tie-corrected.",
             "- **Agreement**: Kendall's tau-b between the criteria's method rankings; Krippendorff's alpha of each "
             "criterion across samples (samples are the coders, methods the units, the value a method's rank on "
             "that sample; ordinal level): 1 = the metric orders the methods the same on every sample, 0 = no "
             "more consistently than chance.", "",
             "Symbols: ▲ beats random, ▼ significantly worse than random, · not significant, – n/a.", ""]
    by_model = {r.model: r for r in rankings}
    for cube in cubes:
        r = by_model[cube.model]
        rows = table[table["model"] == cube.model] if len(table) else table
        lines += [f"## {cube.model}", ""]
        if cube.random is None:
            lines += ["No comparison with random: the suite has no `random` method for this model. Add "
                      "`- random` to the suite's methods to get one (it is cheap: one seeded uniform draw).", ""]
        else:
            h = headline(table, r, cube.random)
            lines += [f"**{h['wins']} of {h['family']}** method x metric cells beat `{cube.random}` after correction "
                      f"({len(r.methods)} methods, {len(cube.samples)} samples). "
                      + power_note(table, cube, test, correction, alpha), "", _grid(rows, cube.methods, alpha), ""]
        if len(r.criteria):
            order = np.argsort(r.mean_rank, kind="stable")
            lines += [f"### Rank aggregation (Kendall's W = {_f(r.w)} over {len(r.criteria)} criteria)", "",
                      "| position | method | mean rank | 95% CI |", "|---|---|---|---|"]
            lines += [f"| {k + 1} | {r.methods[i]} | {r.mean_rank[i]:.2f} | {r.ci_low[i]:.2f} – {r.ci_high[i]:.2f} |"
                      for k, i in enumerate(order)]
            if r.dropped:
                lines += ["", f"Left out of the ranks (some method has no finite value): {', '.join(r.dropped)}."]
            mean, pairs, neg = r.mean_tau()
            lines += ["", f"### Metric agreement: mean Kendall tau {_f(mean, 2)} over {pairs} pairs, {neg} negative",
                      "",
                      "| criterion | Krippendorff's alpha | mean tau with the others |", "|---|---|---|"]
            with warnings.catch_warnings():  # a criterion tied everywhere has no finite tau: nan, said below
                warnings.simplefilter("ignore", RuntimeWarning)
                others = np.nanmean(np.where(np.eye(len(r.criteria), dtype=bool), np.nan, r.tau), axis=1) \
                    if len(r.criteria) > 1 else np.full(len(r.criteria), np.nan)
            order_a = sorted(range(len(r.criteria)), key=lambda j: (not np.isfinite(r.alpha[j]), r.alpha[j]))
            lines += [f"| {r.criteria[j]} | {_f(r.alpha[j])} | {_f(others[j], 2)} |" for j in order_a]
            lines += ["", "Alpha is nan where every sample ties every method (the criterion cannot rank them).", ""]
        else:
            lines += ["No criterion with a direction: no ranking.", ""]
    if reliability is not None and len(reliability):
        lines += ["## Metric reliability under perturbation (MetaQuantus scores)", "", reliability_note(), "",
                  _frame_md(reliability), ""]
    lines += ["Machine-readable: [verdict.csv](verdict.csv) (columns: " + ", ".join(COLUMNS) + "), "
              "[verdict_ranks.csv](verdict_ranks.csv), [verdict_agreement.csv](verdict_agreement.csv)."]
    return "\n".join(lines) + "\n"


def reliability_note() -> str:
    """How to read reliability.csv (written by ``xbench reliability``)."""
    return ("Per metric.stat, MetaQuantus's model perturbation test (Hedström et al. 2023) on a few samples and "
            "draws (columns `draws`, `samples`): the weights multiplied by N(1, `minor_std`) noise that keeps the "
            "predictions (share kept: `kept_minor`), and by N(1, `disruptive_std`) noise that changes them (share "
            "changed: `changed_disruptive`). NR = noise resilience, AR = adversarial reactivity; IAC = "
            "intra-consistency (NR: the Wilcoxon p between unperturbed and perturbed scores, AR: 1 - p), IEC = "
            "inter-consistency (NR: share of rank positions kept, AR: share of scores that got worse); each "
            "averaged over methods and draws; MC = their mean. 1 is ideal for all five: a metric with low NR "
            "scores moves under noise that changes nothing, one with low AR scores does not notice a broken model.")


def _frame_md(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_f(v) if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)
