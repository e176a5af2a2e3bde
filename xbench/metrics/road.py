"""ROAD (Rong, Leemann et al. 2022): remove and debias, without retraining, by noisy linear imputation.

The authors' imputation (``NoisyLinearImputer`` of tleemann/road_evaluation): every removed pixel takes the
weighted mean of its 8 in-image neighbours (weight 1/6 for the 4 direct, 1/12 for the 4 diagonal ones),
removed neighbours included, so the removed values solve one sparse linear system per image and channel;
then Gaussian noise of std ``noise`` is added to them.  The authors build the system with SciPy and solve
it with ``spsolve`` image by image.  Here one call solves the systems of a whole chunk of (image, order,
fraction) items, two ways:

- ``direct`` (the default on the CPU): the chunk's systems are assembled at once (vectorised, no loop per
  image) into one block-diagonal sparse matrix and factorised by SciPy's SuperLU, all channels as right-hand
  sides.  torch has no sparse direct solver, and on a CPU a direct solve of a 2-D grid system beats any
  iterative one (an iterative solver needs O(image side) sweeps over the chunk).
- ``cg`` (the default on other devices): Jacobi-preconditioned conjugate gradients on the device.  The system
  matrix restricted to the removed pixels is symmetric positive definite whenever a pixel is left (weakly
  diagonally dominant, strictly so next to a kept pixel) and its product with a vector is one depthwise
  3 x 3 convolution, so no matrix is built and nothing leaves the device.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from ..errors import ParamError
from . import sample_noise
from .base import register_metric
from .faithfulness import item_scores, require_inputs
from .perturbation import pixel_rank

ROAD_FRACTIONS = tuple(i / 10 for i in range(1, 10))
"""Fractions of pixels removed at which ROAD is evaluated by default (10%, ..., 90%, as in the ROAD paper)."""

_STENCIL = ((1 / 12, 1 / 6, 1 / 12), (1 / 6, 0.0, 1 / 6), (1 / 12, 1 / 6, 1 / 12))


def linear_imputation(x: torch.Tensor, removed: torch.Tensor, *, solver: str = "auto", tol: float = 1e-8,
                      max_iter: int | None = None) -> torch.Tensor:
    """The authors' linear imputation (no noise) of images ``x`` [B, C, H, W] where ``removed`` [B, H, W] is
    true, in float64: kept pixels unchanged, removed ones the solution of x_i = sum_j w_j x_j / sum_j w_j over
    their in-image neighbours j.

    ``solver``: ``direct`` (SciPy SuperLU on the chunk's block-diagonal system), ``cg`` (conjugate gradients
    on the device, to a relative residual ``tol``, at most ``max_iter`` iterations, default 20 (H + W), an
    error when not converged) or ``auto`` (direct on the CPU, cg elsewhere).  An image with every pixel
    removed has no solution (the authors' system is singular too): refused.
    """
    if bool((removed.flatten(1).all(1)).any()):
        raise ParamError("fractions: removing every pixel leaves nothing to impute from; expected fractions < 1")
    if solver not in ("auto", "direct", "cg"):
        raise ParamError(f"solver: {solver!r}; allowed: auto, direct, cg")
    if solver == "direct" or (solver == "auto" and x.device.type == "cpu"):
        return _direct(x, removed)
    return _cg(x, removed, tol, max_iter)


def _direct(x: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """:func:`linear_imputation` by one sparse LU factorisation of the chunk's block-diagonal system."""
    import numpy as np
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import splu

    b_, c, h, w = x.shape
    v = x.detach().double().cpu().permute(0, 2, 3, 1).reshape(-1, c).numpy()  # [B*H*W, C]
    flat = removed.detach().cpu().reshape(-1).numpy()
    unknown = np.flatnonzero(flat)  # global pixel index of every unknown, image by image (blocks)
    if unknown.size == 0:
        return x.double()
    var = np.full(flat.size, -1, dtype=np.int64)
    var[unknown] = np.arange(unknown.size)
    img, rest = np.divmod(unknown, h * w)
    row, col = np.divmod(rest, w)
    diag = np.zeros(unknown.size)
    rhs = np.zeros((unknown.size, c))
    rows, cols, vals = [np.arange(unknown.size)], [np.arange(unknown.size)], []
    for dy, dx, wt in ((-1, -1, 1 / 12), (-1, 0, 1 / 6), (-1, 1, 1 / 12), (0, -1, 1 / 6), (0, 1, 1 / 6),
                       (1, -1, 1 / 12), (1, 0, 1 / 6), (1, 1, 1 / 12)):  # the 8 neighbours, not the images
        r2, c2 = row + dy, col + dx
        ok = (r2 >= 0) & (r2 < h) & (c2 >= 0) & (c2 < w)
        diag[ok] += wt
        nb = img[ok] * h * w + r2[ok] * w + c2[ok]
        gone = flat[nb]
        i = np.flatnonzero(ok)
        rows.append(i[gone])
        cols.append(var[nb[gone]])
        vals.append(np.full(int(gone.sum()), -wt))
        np.add.at(rhs, i[~gone], wt * v[nb[~gone]])
    a = csc_matrix((np.concatenate([diag] + vals), (np.concatenate(rows), np.concatenate(cols))),
                   shape=(unknown.size, unknown.size))
    sol = splu(a).solve(rhs)  # [K, C]
    out = v.copy()
    out[unknown] = sol
    return torch.from_numpy(out).view(b_, h, w, c).permute(0, 3, 1, 2).to(x.device)


def _cg(x: torch.Tensor, removed: torch.Tensor, tol: float, max_iter: int | None) -> torch.Tensor:
    """:func:`linear_imputation` by Jacobi-preconditioned conjugate gradients per (image, channel) on the device."""
    b_, c, h, w = x.shape
    v = x.double()
    m = removed[:, None].double()  # [B, 1, H, W]
    k = torch.tensor(_STENCIL, dtype=torch.float64, device=x.device).view(1, 1, 3, 3).expand(c, 1, 3, 3)

    def nbr(z: torch.Tensor) -> torch.Tensor:  # sum of w_j z_j over in-image neighbours (zero padding)
        return F.conv2d(z, k, padding=1, groups=c)

    d = nbr(torch.ones((1, c, h, w), dtype=torch.float64, device=x.device))  # in-image weight per pixel

    def op(z: torch.Tensor) -> torch.Tensor:  # the system matrix on the removed pixels (SPD)
        return m * (d * z - nbr(m * z))

    b = m * nbr(v * (1 - m))
    z = b / d
    r = b - op(z)
    y = r / d
    p = y
    rz = (r * y).sum((2, 3), keepdim=True)
    bnorm = b.square().sum((2, 3), keepdim=True).sqrt().clamp_min(1e-300)
    limit = 20 * (h + w) if max_iter is None else int(max_iter)
    for it in range(limit):
        ap = op(p)
        pap = (p * ap).sum((2, 3), keepdim=True)
        alpha = torch.where(pap > 0, rz / pap.clamp_min(1e-300), torch.zeros_like(pap))
        z = z + alpha * p
        r = r - alpha * ap
        if it % 8 == 7 and float((r.square().sum((2, 3), keepdim=True).sqrt() / bnorm).max()) <= tol:
            break
        y = r / d
        rz_new = (r * y).sum((2, 3), keepdim=True)
        beta = torch.where(rz > 0, rz_new / rz.clamp_min(1e-300), torch.zeros_like(rz))
        p = y + beta * p
        rz = rz_new
    else:
        res = float((r.square().sum((2, 3), keepdim=True).sqrt() / bnorm).max())
        if res > tol:
            raise ParamError(f"max_iter: linear imputation reached relative residual {res:.2g} > tol {tol:g} "
                             f"after {limit} iterations; raise max_iter or tol")
    return torch.where(m > 0, z, v)


def road(model, inputs, target, attributions, *, fractions: list[float] | None = None, noise: float = 0.01,
         output: Literal["softmax", "logit", "top1"] = "softmax", solver: Literal["auto", "direct", "cg"] = "auto",
         tol: float = 1e-8, max_iter: int | None = None, seed: int = 0, max_batch: int | None = None,
         return_curves: bool = False):
    """ROAD per sample: ``{"morf_auc", "lerf_auc", "lerf_minus_morf"}``, each [N].

    Pixels are ranked by channel-summed attribution (descending, ties by index).  At fraction p,
    k = int(p H W) pixels are removed, the top k (MoRF: lower is better) or the bottom k (LeRF: higher is
    better), and imputed by :func:`linear_imputation` plus N(0, ``noise``^2) per removed pixel and channel
    (input units), drawn per sample; ``solver``: see :func:`linear_imputation`.  Score: target softmax
    probability (default), logit, or top-1
    correctness against the target (Quantus' ROAD).  AUC: trapezoid over the fractions (default
    :data:`ROAD_FRACTIONS`).  With ``return_curves`` also (fractions [T], {"morf": [N, T], "lerf": [N, T]}).
    """
    require_inputs("road", inputs, image_only=True)
    fr = list(ROAD_FRACTIONS if fractions is None else fractions)
    if not fr or any(not 0 <= f < 1 for f in fr):
        raise ParamError(f"fractions: {fr}; expected fractions in [0, 1) (some pixel must be left to impute from)")
    n, c, h, w = inputs.shape
    n_pix = h * w
    counts = torch.tensor([int(n_pix * f) for f in fr], device=inputs.device)  # int(HW p), as the authors
    t = len(fr)
    rank = pixel_rank(attributions)
    keys = sample_noise.sample_keys(inputs, seed)

    def make(img: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        k = counts[j % t][:, None]
        r = rank[img]
        removed = torch.where((j >= t)[:, None], r >= n_pix - k, r < k).view(-1, h, w)
        filled = linear_imputation(inputs[img], removed, solver=solver, tol=tol, max_iter=max_iter)
        eps = sample_noise.normal(keys[img], j, c * h * w).view(-1, c, h, w)
        return torch.where(removed[:, None], filled + noise * eps, filled).to(inputs.dtype)

    f = item_scores(model, inputs, target, 2 * t, make, output=output, max_batch=max_batch)
    x = torch.tensor(fr, dtype=inputs.dtype, device=inputs.device)
    curves = {"morf": f[:, :t], "lerf": f[:, t:]}
    if t > 1:
        auc = {k: torch.trapezoid(v, x, dim=1) for k, v in curves.items()}
    else:
        auc = {k: torch.full((n,), math.nan, dtype=inputs.dtype, device=inputs.device) for k in curves}
    out = {"morf_auc": auc["morf"], "lerf_auc": auc["lerf"], "lerf_minus_morf": auc["lerf"] - auc["morf"]}
    return (out, x, curves) if return_curves else out


def _road_settings(ctx, params) -> dict:
    solver = params.get("solver", "auto")
    if solver == "auto":
        solver = "direct" if ctx.inputs.device.type == "cpu" else "cg"
    return {"fractions": list(ROAD_FRACTIONS if params.get("fractions") is None else params["fractions"]),
            "solver": solver,
            "max_iter": 20 * sum(ctx.inputs.shape[-2:]) if params.get("max_iter") is None else params["max_iter"]}


register_metric("road", road, curve="curve", settings=_road_settings,
                outputs=("morf_auc", "lerf_auc", "lerf_minus_morf"),
                bounds={"noise": (0.0, None), "tol": (0.0, None), "max_iter": (1, 1_000_000), "max_batch": (1, None)},
                description="ROAD (Rong 2022): target score as the most (MoRF) or least (LeRF) relevant pixels are "
                            "removed by noisy linear imputation; trapezoid AUCs over the fractions",
                direction="per_stat",
                directions={"morf_auc": "lower", "lerf_auc": "higher", "lerf_minus_morf": "higher"},
                consumes=("attributions",), units="target probability (or logit, or accuracy) x fraction",
                label="target probability (softmax)", x_label="pixels removed (%)", x_scale=100, inputs="image",
                docs={"fractions": "fractions of pixels removed, each in [0, 1) (default 0.1, ..., 0.9)",
                      "noise": "std of the Gaussian noise added to each imputed pixel (input units; the authors' 0.01)",
                      "output": "score: target softmax probability, logit, or top-1 correctness (Quantus' ROAD)",
                      "solver": "imputation solver: direct (SciPy sparse LU, the CPU default), cg (conjugate "
                                "gradients on the device, the default elsewhere), auto",
                      "tol": "relative residual at which the imputation's conjugate-gradient solve stops",
                      "max_iter": "most conjugate-gradient iterations (default 20 (H + W)); not converging is an "
                                  "error"})
