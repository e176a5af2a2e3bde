"""Conformance suite: every method and metric against its reference implementation on the same inputs.

The checks, their tolerances and the reasons for them live in :mod:`checks` (the same code writes
``results/conformance.md`` through ``benchmarks/conformance.py``).  A reference package that is
not installed skips its checks; CI installs them all through the ``dev`` extra.
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.conformance.checks import CHECKS
from tests.conformance.photo_checks import PHOTO_PACKAGES, SLOW

NEEDS = {"quantus": ("deletion_pixel_flipping", "completeness_quantus", "max_sensitivity_quantus",
                     "avg_sensitivity_quantus", "pointing_game", "relevance_mass", "mprt_top_down_spearman",
                     "mprt_bottom_up_ssim", "mprt_independent_spearman", "random_logit", "random_logit_spearman",
                     "faithfulness_correlation_quantus",
                     "faithfulness_estimate_quantus", "monotonicity_arya_quantus", "monotonicity_nguyen_quantus",
                     "selectivity_quantus", "region_perturbation_morf_quantus", "region_perturbation_lerf_quantus",
                     "irof_quantus", "road_imputation_direct", "road_imputation_cg", "road_quantus",
                     "sparseness_quantus", "complexity_quantus", "effective_complexity_quantus",
                     "relative_input_stability_quantus", "relative_output_stability_quantus",
                     "relative_representation_stability_quantus", "local_lipschitz_estimate_quantus"),
         "saliency": ("guided_ig", "blur_ig"), "pytorch_grad_cam": ("grad_cam",),
         "scipy": ("rise_deletion", "rise_insertion", "rise_deletion_uneven", "lite0_rise_deletion",
                   "lite0_rise_insertion")}
NEEDS["saliency"] += ("lite0_guided_ig", "lite0_blur_ig")
NEEDS["pytorch_grad_cam"] += ("lite0_grad_cam",)
for _package in PHOTO_PACKAGES:  # the photos extra: the model's weights and the photos
    NEEDS[_package] = tuple(n for n in CHECKS if n.startswith("lite0_"))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CHECKS])
def test_conforms_to_reference(name):
    for package, names in NEEDS.items():
        if name in names and importlib.util.find_spec(package) is None:
            pytest.skip(f"reference package {package} is not installed (pip install -e .[dev])")
    res = CHECKS[name]()
    assert res.diff <= res.tol, (f"{res.subject} vs {res.reference}: max abs diff {res.diff:.3g} > tolerance "
                                 f"{res.tol:.3g} ({res.why}); largest reference value {res.scale:.3g}")


def test_every_registered_method_and_metric_has_a_reference_or_says_why_not():
    """The table covers the registries: a new method or metric must be added to a check or to NO_REFERENCE."""
    from tests.conformance.checks import NO_REFERENCE, covered
    from xbench.methods import METHODS
    from xbench.metrics import METRICS
    from xbench.plugins import loaded

    # entries a plugin registered earlier in this process (the plugin tests) are the plugin's to check, not ours
    plugin = {n for p in loaded() for names in p["registered"].values() for n in names}
    missing = [n for n in METHODS.available() + METRICS.available()
               if n not in covered() and n not in NO_REFERENCE and n not in plugin]
    assert not missing, f"no conformance check and no NO_REFERENCE entry for: {missing}"
