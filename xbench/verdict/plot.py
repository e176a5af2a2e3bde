"""The verdict's one figure: per model, the method x criterion grid coloured by the corrected comparison with
random (and the metric's direction), and the Kendall tau matrix between criteria beside it."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import matplotlib

matplotlib.use("Agg")  # headless: written to a file, never shown
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from .ranks import Ranking  # noqa: E402

OUTCOMES = ("n/a", "not significant", "worse than random", "beats random")
COLOURS = ("#ffffff", "#d9d9d9", "#d7301f", "#1a9850")


def outcome_codes(rows: pd.DataFrame, alpha: float) -> np.ndarray:
    """0..3 per verdict row (index into :data:`OUTCOMES`): a directed, corrected comparison that is significant
    lands on the side the metric's direction says (beats / worse), else not significant; n/a outside the family."""
    beats = rows["beats_random"].to_numpy() == "true"
    fam = rows["beats_random"].to_numpy() != "n/a"
    sig = rows["p_adjusted"].to_numpy(dtype=np.float64) < alpha
    return np.where(~fam, 0, np.where(beats, 3, np.where(sig, 2, 1)))


def verdict_plot(table: pd.DataFrame, rankings: list[Ranking], path: Path | BinaryIO, alpha: float = 0.05) -> None:
    """Write the figure to ``path`` (a file name or a binary file object; PNG, 110 dpi)."""
    n = max(len(rankings), 1)
    heights = [max(len(r.methods), len(r.criteria), 4) * 0.32 + 2.2 for r in rankings] or [3.0]
    width = max((len(r.criteria) for r in rankings), default=4) * 0.32 * 2 + 6
    fig, axes = plt.subplots(n, 2, figsize=(width, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    cmap = ListedColormap(COLOURS)
    for (ax_grid, ax_tau), r in zip(axes, rankings):
        rows = table[table["model"] == r.model]
        labels = [m if s == m else f"{m}.{s}" for m, s in zip(rows["metric"], rows["stat"])]
        cols = list(dict.fromkeys(labels))
        grid = np.zeros((len(r.methods), len(cols)))
        if len(rows):
            codes = outcome_codes(rows, alpha)
            where = {(m, c): k for k, (m, c) in enumerate(zip(rows["method"], labels))}
            for i, m in enumerate(r.methods):
                for j, c in enumerate(cols):
                    grid[i, j] = codes[where[(m, c)]] if (m, c) in where else 0
            ax_grid.imshow(grid, cmap=cmap, vmin=-0.5, vmax=3.5, aspect="auto")
            ax_grid.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
            ax_grid.set_yticks(range(len(r.methods)), r.methods, fontsize=7)
            ax_grid.set_title(f"{r.model}: each method vs random (corrected p < {alpha:g})", fontsize=9)
            handles = [plt.Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="grey") for c in COLOURS]
            ax_grid.legend(handles, OUTCOMES, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        else:
            ax_grid.axis("off")
            ax_grid.text(0.5, 0.5, f"{r.model}: no `random` method in the suite", ha="center", fontsize=9)
        if len(r.criteria) >= 2:
            im = ax_tau.imshow(r.tau, cmap="RdBu", vmin=-1, vmax=1)
            ax_tau.set_xticks(range(len(r.criteria)), r.criteria, rotation=90, fontsize=7)
            ax_tau.set_yticks(range(len(r.criteria)), r.criteria, fontsize=7)
            mean, pairs, neg = r.mean_tau()
            ax_tau.set_title(f"Kendall tau between metrics' method rankings (mean {mean:.2f}, {neg}/{pairs} < 0)",
                             fontsize=9)
            fig.colorbar(im, ax=ax_tau, fraction=0.04, pad=0.02)
        else:
            ax_tau.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
