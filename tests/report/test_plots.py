"""Plots: each heatmap on its own robust scale, legends outside the curves, labels from the registry."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from xbench.report import plots
from xbench.report.meta import x_axis, y_axis


@pytest.fixture
def captured(monkeypatch):
    """Keep the figures the plot functions make (drawn, not closed) instead of writing them."""
    figs = []

    def keep(fig, path, top=None):
        if top is not None:
            fig.tight_layout(rect=(0, 0, 1, top))
        fig.canvas.draw()
        figs.append(fig)
        return path

    monkeypatch.setattr(plots, "save", keep)
    yield figs
    for f in figs:
        matplotlib.pyplot.close(f)


def test_each_heatmap_is_scaled_by_its_own_robust_maximum(tmp_path, captured):
    model_dir = tmp_path / "previews" / "m"
    model_dir.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    inputs = torch.rand(2, 1, 8, 8, generator=gen)
    for name, scale in (("grad_cam", 0.037), ("occlusion", 4.3)):  # units 100x apart, as in methods_tour
        torch.save({"inputs": inputs, "attributions": scale * torch.randn(2, 8, 8, generator=gen)},
                   model_dir / f"{name}.pt")
    plots.heatmap_grids(tmp_path, tmp_path)
    fig = captured[0]
    images = [ax.images[0] for ax in fig.axes if ax.images]
    maps = [im for im in images if im.get_cmap().name == "bwr"]
    assert len(maps) == 4
    for im in maps:
        a = torch.as_tensor(np.asarray(im.get_array()))
        vmin, vmax = im.get_clim()
        assert vmax == pytest.approx(plots.robust_max(a)) and vmin == -vmax  # (was one scale per row)
        assert (a.abs() <= vmax).float().mean() >= 0.98  # the small map fills its colour range too
    assert "own" in fig._suptitle.get_text() and "Captum" in fig._suptitle.get_text()


def test_heatmap_titles_fit_in_the_figure(tmp_path, captured):
    """A grid of one method (the narrowest figure) keeps its title and a long method label inside the figure."""
    model_dir = tmp_path / "previews" / "digits_cnn_x"
    model_dir.mkdir(parents=True)
    torch.save({"inputs": torch.rand(2, 1, 8, 8), "attributions": torch.randn(2, 8, 8)},
               model_dir / "integrated_gradients_noise_tunnel_smoothgrad_sq.pt")
    plots.heatmap_grids(tmp_path, tmp_path)
    fig = captured[0]
    width, height = fig.canvas.get_width_height()
    texts = [fig._suptitle] + [ax.title for ax in fig.axes if ax.get_title()]
    for t in texts:
        box = t.get_window_extent()
        assert box.x0 >= 0 and box.x1 <= width and box.y1 <= height, t.get_text()
    assert "\n" in fig._suptitle.get_text()  # wrapped, not cut
    top = fig.axes[0].title.get_window_extent().y1
    assert fig._suptitle.get_window_extent().y0 >= top  # above the column titles, not over them


def _curves(n_methods: int = 6) -> pd.DataFrame:
    rows = []
    params = json.dumps({"name": "deletion", "output": "softmax"}, separators=(",", ":"))
    for i in range(n_methods):
        for s in range(2):
            for p, x in enumerate(np.linspace(0, 1, 9)):
                rows.append({"model": "m", "method": f"method_{i}", "metric": "deletion", "stat": "curve",
                             "kind": "curve", "point": p, "x": x, "value": (1 - x) ** (i + 1), "sample": s,
                             "metric_params": params})
            rows.append({"model": "m", "method": f"method_{i}", "metric": "deletion", "stat": "auc",
                         "kind": "sample", "point": np.nan, "x": np.nan, "value": 0.3, "sample": s,
                         "metric_params": params})
    return pd.DataFrame(rows)


def test_legends_never_cover_the_curves(tmp_path, captured):
    plots.curve_plots(_curves(), tmp_path)
    fig = captured[0]
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None
    renderer = fig.canvas.get_renderer()
    box, panel = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert box.x0 >= panel.x1 or box.y1 <= panel.y0 or box.x1 <= panel.x0 or box.y0 >= panel.y1
    # axis labels from the metric registry, the direction in the title
    assert ax.get_xlabel() == x_axis("deletion")[0] == "pixels removed (%)"
    assert ax.get_ylabel() == y_axis("deletion") and ax.get_title().endswith("↓")


def test_saturation_plot_without_a_split_ig_unit(tmp_path):
    """logit_path in a suite without Split IG (no alpha_star rows) still plots (an empty selection used to
    pick columns instead of rows and stop the report)."""
    from xbench.report.saturation import logit_path_plots
    from xbench.results import COLUMNS

    rows = [{"model": "m", "method": "saliency", "metric": "logit_path", "metric_name": "logit_path", "kind": "curve",
             "stat": "normalised_logit", "sample": s, "point": i, "x": i / 4, "value": i / 4, "method_params": "{}"}
            for s in range(2) for i in range(5)]
    df = pd.DataFrame(rows).reindex(columns=COLUMNS)
    assert [p.name for p in logit_path_plots(tmp_path, df, tmp_path)] == ["logit_path_m.png"]


def test_timing_plot_draws_each_methods_own_forward_backward_limit(tmp_path, captured):
    """Each method's timing measures its own forward+backward limit (the load can change between methods): each
    bar gets its own limit (the median over its batches), not one median over the whole run."""
    own = {"saliency": 0.003, "integrated_gradients": 0.001, "occlusion": 0.002}  # seconds per image
    rows = [{"model": "m", "method": me, "metric": "timing", "metric_name": "timing", "kind": "batch",
             "stat": stat, "value": value * f, "device": "cpu", "metric_params": "{}"}
            for me, lim in own.items() for f in (0.9, 1.0, 1.1)
            for stat, value in (("seconds_per_image", 5 * lim), ("limit_seconds_per_image", lim))]
    plots.timing_plot(pd.DataFrame(rows), tmp_path)
    ax = captured[0].axes[0]
    marks = [c for c in ax.collections if "forward+backward" in str(c.get_label())]
    assert len(marks) == 1
    segments = marks[0].get_segments()
    ticks = [tk.get_text() for tk in ax.get_xticklabels()]
    bars = {tk: p for tk, p in zip(ticks, ax.patches)}
    assert len(segments) == len(own) == len(bars)
    for seg, name in zip(segments, ticks):
        assert seg[0][1] == seg[1][1] == pytest.approx(own[name] * 1e3)  # ms, this method's own median
        bar = bars[name]
        assert (seg[0][0], seg[1][0]) == pytest.approx((bar.get_x(), bar.get_x() + bar.get_width()))  # its own bar
        assert bar.get_height() == pytest.approx(5 * own[name] * 1e3)
    assert "1-3 ms" in marks[0].get_label()
