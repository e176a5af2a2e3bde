"""Conformance of the faithfulness metrics (xbench.metrics.faithfulness, xbench.metrics.road) with Quantus 0.6
and, for ROAD's imputation, with the authors' definition solved by SciPy's ``spsolve`` (Quantus' port of it).

Quantus draws its own random subsets and noise; each check hands Quantus xbench's draws (a patched
``np.random.choice`` or a ``perturb_func`` that fills in xbench's noise), so both see the same perturbations.
Quantus flattens every input element into a feature; xbench's features are pixels (all channels together):
the checks use 1-channel images, where the two coincide, and continuous attributions (no ties to order).
Imported at the end of :mod:`tests.conformance.checks`, which owns the registry of checks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

import xbench
from tests.conformance.checks import F32, F32_WHY, Result, check, cnn, inputs, result
from xbench.metrics import faithfulness as fm
from xbench.metrics import sample_noise
from xbench.metrics.road import linear_imputation

_Q = {"abs": False, "normalise": False, "disable_warnings": True, "display_progressbar": False}
_CALL = {"device": "cpu", "channel_first": True}


def _case(seed: int = 2, n: int = 5):
    """The 1-channel CNN, 5 images 8 x 8, continuous random attributions."""
    net, (x, t) = cnn(channels=1, classes=4), inputs(n=n, channels=1)
    a = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    return net, x, t, a


def _q(metric, net, x, t, a, softmax: bool):
    return metric(model=net, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(), softmax=softmax, **_CALL)


@contextlib.contextmanager
def _patched_choice(draws: list[np.ndarray]) -> Iterator[None]:
    """``np.random.choice`` returns ``draws`` in order (Quantus' subset draws, run-major, image inner)."""
    original, queue = np.random.choice, list(draws)
    np.random.choice = lambda *args, **kwargs: queue.pop(0)
    try:
        yield
    finally:
        np.random.choice = original


@contextlib.contextmanager
def _numpy_trapz() -> Iterator[None]:
    """``np.trapz`` for Quantus 0.6 under NumPy 2 (where it is ``np.trapezoid``)."""
    had = hasattr(np, "trapz")
    if not had:
        np.trapz = np.trapezoid
    try:
        yield
    finally:
        if not had:
            del np.trapz


@check("faithfulness_correlation_quantus", "faithfulness_correlation")
def _faithfulness_correlation() -> Result:
    import quantus

    net, x, t, a = _case()
    runs, size, seed = 20, 8, 3
    ours = fm.faithfulness_correlation(net, x, t, a, n_subsets=runs, subset_size=size, seed=seed)
    keys = sample_noise.sample_keys(x, seed)
    draws = [fm.random_subsets(keys[i:i + 1], torch.tensor([j]), 64, size)[0].nonzero()[:, 0].numpy()
             for j in range(runs) for i in range(len(x))]
    with _patched_choice(draws):
        theirs = _q(quantus.FaithfulnessCorrelation(nr_runs=runs, subset_size=size, perturb_baseline=0.0,
                                                    return_aggregate=False, **_Q), net, x, t, a, softmax=False)
    return result("faithfulness_correlation (20 subsets of 8 px)", "Quantus FaithfulnessCorrelation, same subsets",
                  ours, np.asarray(theirs), 1e-5, "a Pearson correlation of float32 logit differences: 1e-5",
                  "features: pixels (channel sums) in xbench, input elements in Quantus; same on 1 channel")


@check("faithfulness_estimate_quantus", "faithfulness_estimate")
def _faithfulness_estimate() -> Result:
    import quantus

    net, x, t, a = _case()
    ours = fm.faithfulness_estimate(net, x, t, a, features_in_step=4)
    theirs = _q(quantus.FaithfulnessEstimate(features_in_step=4, perturb_baseline=0.0, **_Q), net, x, t, a,
                softmax=False)
    return result("faithfulness_estimate (4 px per step)", "Quantus FaithfulnessEstimate", ours, np.asarray(theirs),
                  1e-5, "a Pearson correlation of float32 logit differences: 1e-5",
                  "ties: xbench by pixel index (stable), Quantus' argsort leaves them open")


@check("monotonicity_arya_quantus", "monotonicity_arya")
def _monotonicity_arya() -> Result:
    import quantus

    net = cnn(channels=1, classes=4)
    x, t = inputs(n=12, channels=1)
    a = xbench.attribute(net, x, t, "integrated_gradients", n_steps=8)
    ours = fm.monotonicity_arya(net, x, t, a, features_in_step=32)
    flat = x.flatten(1).numpy()

    def insert(arr, indices, **kwargs):  # Arya's step: the input's own values go in at the added features
        out = arr.copy()
        rows = np.arange(len(arr))[:, None]
        out[rows, indices] = flat[rows, indices]
        return out

    theirs = _q(quantus.Monotonicity(features_in_step=32, perturb_func=insert, perturb_baseline=0.0,
                                     disable_warnings=True,
                                     display_progressbar=False, normalise=False), net, x, t, a, softmax=True)
    theirs = np.asarray(theirs, dtype=float)
    return result(f"monotonicity_arya (32 px per step; {int(theirs.sum())} of 12 monotonic)",
                  "Quantus Monotonicity, perturb_func inserting x's values", ours, theirs, 0.0,
                  "a boolean per sample: exact",
                  "Quantus 0.6's default perturb_func writes the baseline value at the 'added' features, so its "
                  "curve never leaves F(x') and every sample scores 1 (tests/metrics/test_faithfulness.py); "
                  "compared with a perturb_func that inserts x's values, Arya's definition")


@check("monotonicity_nguyen_quantus", "monotonicity_nguyen")
def _monotonicity_nguyen() -> Result:
    import quantus

    net, x, t, a = _case()
    step, s, seed = 8, 6, 5
    ours = fm.monotonicity_nguyen(net, x, t, a, features_in_step=step, n_samples=s, seed=seed)
    keys = sample_noise.sample_keys(x, seed)
    flat = x.flatten(1)
    low, high = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    calls = {"i": 0}

    def perturb(arr, indices, **kwargs):  # Quantus: for each group, for each draw, the whole batch at once
        k = torch.full((len(x),), calls["i"])
        calls["i"] += 1
        fill = (low + sample_noise.uniform(keys, k, flat.shape[1], x.dtype) * (high - low)).numpy()
        out = arr.copy()
        rows = np.arange(len(arr))[:, None]
        out[rows, indices] = fill[rows, indices]
        return out

    theirs = _q(quantus.MonotonicityCorrelation(features_in_step=step, nr_samples=s, perturb_func=perturb,
                                                disable_warnings=True, display_progressbar=False, normalise=False),
                net, x, t, a, softmax=True)
    return result("monotonicity_nguyen (8 px per step, 6 draws)", "Quantus MonotonicityCorrelation, same noise", ours,
                  np.asarray(theirs), 1e-6, "a Spearman correlation of ranks: exact unless float32 variances tie",
                  "noise U[min x, max x] of each sample (Quantus' default: U[0, 1])")


@check("selectivity_quantus", "selectivity")
def _selectivity() -> Result:
    import quantus

    net, x, t, a = _case()
    _, _, ours = fm.selectivity(net, x, t, a, patch_size=2, return_curves=True)
    theirs = _q(quantus.Selectivity(patch_size=2, perturb_baseline=0.0, **_Q), net, x, t, a, softmax=True)
    return result("selectivity curve (2 px patches)", "Quantus Selectivity", ours[:, 1:], np.asarray(theirs), F32,
                  F32_WHY, "xbench's curve has the clean input as point 0 and its AUC runs over the fraction of "
                  "patches (Quantus' AUC over the patch count)")


def _region(order: str) -> Result:
    import quantus

    net, x, t, a = _case()
    _, _, curves = fm.region_perturbation(net, x, t, a, patch_size=2, return_curves=True)
    theirs = _q(quantus.RegionPerturbation(patch_size=2, order=order, regions_evaluation=16, perturb_baseline=0.0,
                                           **_Q), net, x, t, a, softmax=True)
    return result(f"region_perturbation {order} curve (2 px patches)", "Quantus RegionPerturbation",
                  curves[order][:, 1:], np.asarray(theirs), F32, F32_WHY,
                  "non-overlapping grid patches (as Quantus; Samek's regions may overlap); AOPC = mean over "
                  "k = 0..L of F(x) - F(x_k)")


check("region_perturbation_morf_quantus", "region_perturbation")(lambda: _region("morf"))
check("region_perturbation_lerf_quantus", "region_perturbation")(lambda: _region("lerf"))


@check("irof_quantus", "irof")
def _irof() -> Result:
    import quantus

    net, x, t, a = _case()
    x = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear")  # enough pixels for SLIC's segments
    a = torch.randn(x.shape, generator=torch.Generator().manual_seed(4))
    net = torch.nn.Sequential(torch.nn.AvgPool2d(2), cnn(channels=1, classes=4)).eval()
    _, _, ratio = fm.irof(net, x, t, a, substrate="zero", return_curves=True)
    n_seg = (~ratio.isnan()).sum(1) - 1
    ours = torch.stack([s - torch.trapezoid(r[1:s + 1].double()) for r, s in zip(ratio, n_seg.tolist())])
    with _numpy_trapz():  # Quantus 0.6 calls np.trapz, removed in NumPy 2
        theirs = _q(quantus.IROF(perturb_baseline=0.0, return_aggregate=False, **_Q), net, x, t, a, softmax=True)
    return result("irof, Quantus' AOC form S - trapz(F(x_k)/F(x), k = 1..S)", "Quantus IROF (SLIC, same segments)",
                  ours, np.asarray(theirs), F32, F32_WHY,
                  "xbench reports the area over the curve per superpixel fraction (in [0, 1]); Quantus' AOC is in "
                  "superpixel counts without point 0: compared in Quantus' form from xbench's curve")


def _road_imputation(solver: str) -> Result:
    from quantus.functions.perturb_func import noisy_linear_imputation

    x = torch.randn(3, 3, 24, 24, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    share = torch.tensor([0.1, 0.5, 0.9])[:, None, None]
    removed = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(7)) < share
    ours = linear_imputation(x, removed, solver=solver)
    theirs = torch.stack([torch.as_tensor(noisy_linear_imputation(x[i].numpy(), removed[i].flatten().nonzero()[:, 0]
                                                                  .numpy(), noise=0.0)) for i in range(3)])
    why = ("the same sparse system, factorised once for the chunk instead of per image: float64 rounding, 1e-10"
           if solver == "direct" else "CG stopped at relative residual 1e-8 on a system of condition ~ side^2: "
           "errors ~1e-7 of the image's scale, bounded at 1e-6")
    return result(f"road: linear imputation, {solver} solver (24 x 24, 3 channels, 10/50/90% removed)",
                  "the authors' system solved by SciPy spsolve (Quantus' noisy_linear_imputation, noise 0)",
                  ours, theirs, 1e-10 if solver == "direct" else 1e-6, why)


check("road_imputation_direct", "road")(lambda: _road_imputation("direct"))
check("road_imputation_cg", "road")(lambda: _road_imputation("cg"))


@check("road_quantus", "road")
def _road() -> Result:
    import quantus
    from quantus.functions.perturb_func import noisy_linear_imputation

    net, x, _, a = _case(n=8)
    t = net(x).argmax(1)  # the predicted classes: accuracy starts at 1 and falls as pixels go
    fr, noise, seed = [0.1, 0.3, 0.5, 0.7, 0.9], 0.05, 2
    _, _, curves = xbench.metrics.road(net, x, t, a, fractions=fr, noise=noise, output="top1", seed=seed,
                                       return_curves=True)
    keys = sample_noise.sample_keys(x, seed)
    calls = {"i": 0}

    def perturb(arr, indices, **kwargs):  # Quantus: for each percentage, image by image; add xbench's noise
        j, i = divmod(calls["i"], len(x))
        calls["i"] += 1
        eps = sample_noise.normal(keys[i:i + 1], torch.tensor([j]), 64).view(1, 64).numpy()
        out = noisy_linear_imputation(arr, indices, noise=0.0).reshape(1, 64)
        out[:, indices] += noise * eps[:, indices]
        return out.reshape(arr.shape)

    theirs = quantus.ROAD(percentages=[int(100 * f) for f in fr], perturb_func=perturb, **_Q)(
        model=net, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(), softmax=True, **_CALL)
    return result("road MoRF accuracy per fraction (top1, noise 0.05)", "Quantus ROAD, same noise",
                  curves["morf"].mean(0), np.asarray(list(theirs.values()), dtype=float), 0.0,
                  "accuracy over 8 images: exact (an imputation differing by 1e-7 flips no argmax here)",
                  "Quantus evaluates MoRF only and returns batch accuracy; xbench also LeRF, per-sample curves, "
                  "softmax probability by default")
