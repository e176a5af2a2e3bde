"""Max/avg-sensitivity with the radius in pixel units: the conversion through the data's normalisation, the
noise it draws, what the rows record, and the one-line refusals where the data declares no normalisation."""

from __future__ import annotations

import pytest
import torch

from xbench.errors import ParamError
from xbench.metrics import METRICS, CellContext, avg_sensitivity, max_sensitivity
from xbench.metrics.robustness import channel_radius
from xbench.models.efficientnet import LITE_MEAN, LITE_STD

IMAGE_INFO = {"kind": "image", "mean": [0.5, 0.4, 0.3], "std": [0.5, 0.25, 0.2]}
X = torch.randn(3, 3, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
T = torch.zeros(3, dtype=torch.long)


def test_lite0_normalisation_turns_a_pixel_radius_into_radius_times_255_over_128():
    r = channel_radius(0.0113, "pixel", {"kind": "image", "mean": list(LITE_MEAN), "std": list(LITE_STD)}, X)
    assert r.dtype == torch.float64
    assert r.tolist() == pytest.approx([0.0113 * 255 / 128] * 3, rel=1e-12)


def test_hand_computed_per_channel_radius_and_input_units_unchanged():
    # radius / std_c: 0.01 / (0.5, 0.25, 0.2) = (0.02, 0.04, 0.05)
    assert channel_radius(0.01, "pixel", IMAGE_INFO, X).tolist() == pytest.approx([0.02, 0.04, 0.05], rel=1e-12)
    assert channel_radius(0.05, "input", None, X) == 0.05  # the default: the radius as given, no data needed


def _captured(units: str, radius: float) -> torch.Tensor:
    """The noise e = x_perturbed - x max-sensitivity drew, [N * n_samples, C, H, W] in draw order."""
    seen: list[torch.Tensor] = []

    def attributor(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen.append(x.clone())
        return x

    max_sensitivity(None, X, T, X.clone(), attributor=attributor, radius=radius, radius_units=units,
                    data_info=IMAGE_INFO, n_samples=4, seed=7, max_batch=5)
    return torch.cat(seen) - X.repeat_interleave(4, 0)


def test_pixel_noise_is_the_unit_draw_scaled_by_radius_over_std_per_channel():
    unit = _captured("input", 1.0)  # the same seeded stream at radius 1 in input units
    e = _captured("pixel", 0.01)
    expected = unit * torch.tensor([0.02, 0.04, 0.05], dtype=torch.float64).view(1, 3, 1, 1)
    torch.testing.assert_close(e, expected, rtol=0, atol=1e-15)
    # inside each channel's box, and reaching near its edge (48 draws per channel)
    per_channel = e.abs().amax(dim=(0, 2, 3))
    assert (per_channel <= torch.tensor([0.02, 0.04, 0.05], dtype=torch.float64) + 1e-15).all()
    assert (per_channel > 0.9 * torch.tensor([0.02, 0.04, 0.05], dtype=torch.float64)).all()


def test_a_pixel_radius_over_a_unit_std_gives_the_input_radius_values():
    info = {"kind": "image", "mean": [0.0] * 3, "std": [1.0] * 3}
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2)).double()
    torch.manual_seed(0)
    kw = {"method": "saliency", "n_samples": 3, "seed": 1, "max_batch": 4}
    for fn in (max_sensitivity, avg_sensitivity):
        a = fn(net, X.square(), T, radius=0.05, **kw)
        b = fn(net, X.square(), T, radius=0.05, radius_units="pixel", data_info=info, **kw)
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("info, what", [({"kind": "tabular", "mean": [0.0], "std": [1.0]}, "data is tabular"),
                                        ({"kind": "image"}, "declares none"), (None, "declares none")])
def test_pixel_units_refused_in_one_line_without_a_declared_image_normalisation(info, what):
    with pytest.raises(ParamError, match=what) as err:
        channel_radius(0.01, "pixel", info, X)
    assert "\n" not in str(err.value)
    assert METRICS.get("max_sensitivity").meta["fits"](None, info, {"radius_units": "pixel"}) is not None
    assert METRICS.get("avg_sensitivity").meta["fits"](None, info, {}) is None  # input units fit anything


def test_rows_record_units_and_converted_radius_only_when_pixel_units_are_asked():
    entry = METRICS.get("max_sensitivity")
    assert "radius_units" not in entry.resolve({"radius": 0.05})  # committed runs' recorded settings unchanged
    assert entry.resolve({"radius_units": "pixel"})["radius_units"] == "pixel"
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2)).double()
    ctx = CellContext(model=net, inputs=X, target=T, attributions=X, method="saliency", method_params={},
                      attribute=lambda x, t, model=None: x * 2, baseline=torch.zeros_like(X), data_info=IMAGE_INFO)
    out = entry.fn(ctx, **entry.resolve({"radius": 0.01, "radius_units": "pixel", "n_samples": 2}))
    assert out.settings == {"radius_units": "pixel", "radius_input_units": [0.02, 0.04, 0.05]}
    assert entry.fn(ctx, **entry.resolve({"radius": 0.01, "n_samples": 2})).settings == {}
