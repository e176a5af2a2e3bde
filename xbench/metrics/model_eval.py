"""Evaluations of the model itself: top-k accuracy and paper A's contrast experiment (§4.4).

Both compare the model's prediction with the ground-truth labels (``ctx.labels``; the explained
target when the data have no labels) and ignore the attributions.  Contrast scales the
*normalised* input by a in {1.0, 0.9, ..., 0.1}: the zero baseline (mean colour) stays put and
the image fades towards it.  A nonnegatively homogeneous model (X-DNN) gives F(a x) = a F(x), so its
argmax, hence its accuracy, is exactly invariant; a model with biases is not.
"""

from __future__ import annotations

import torch

from ..batching import DEFAULT_MAX_BATCH, for_chunks
from ..errors import ParamError
from ..precision import forward_only
from .base import register_metric

CONTRAST_SCALES: tuple[float, ...] = tuple(round(1.0 - 0.1 * i, 1) for i in range(10))
"""Paper A §4.4: 1.0, 0.9, ..., 0.1."""


def _truth(target: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return (target if labels is None else labels).to(torch.long)


def accuracy(model, inputs, target, attributions=None, *, topk: int = 5, labels: torch.Tensor | None = None,
             max_batch: int = DEFAULT_MAX_BATCH) -> dict[str, torch.Tensor]:
    """Per-sample correctness as 0/1 floats, shape [N]: ``top1`` and ``top{topk}`` (k clipped to the
    number of classes), against ``labels`` (default: ``target``)."""
    truth = _truth(target, labels).to(inputs.device)
    n = inputs.shape[0]
    top1 = torch.empty(n, dtype=torch.bool, device=inputs.device)
    topk_hit = torch.empty(n, dtype=torch.bool, device=inputs.device)

    def chunk(start: int, stop: int) -> None:
        with forward_only():  # inference_mode when speed.inference_mode is on
            out = model(inputs[start:stop])
        y = truth[start:stop]
        top1[start:stop] = out.argmax(1) == y  # as the contrast curves: argmax, first index on ties
        k = min(topk, out.shape[1])
        topk_hit[start:stop] = (out.topk(k, dim=1).indices == y[:, None]).any(1)

    for_chunks(chunk, n, max_batch)
    return {"top1": top1.to(inputs.dtype), f"top{topk}": topk_hit.to(inputs.dtype)}


def contrast(model, inputs, target, attributions=None, *, scales: tuple[float, ...] = CONTRAST_SCALES,
             labels: torch.Tensor | None = None, max_batch: int = DEFAULT_MAX_BATCH, return_curves: bool = False):
    """Top-1 correctness of ``model(a * inputs)`` for every a in ``scales`` (paper A §4.4).

    Returns per-sample values, shape [N]: ``accuracy`` (mean correctness over the scales, in [0, 1])
    and ``invariance`` (fraction of scales whose argmax equals the unscaled argmax; exactly 1 for
    an X-DNN).  With ``return_curves`` also ``(scales [S], {"top1": [N, S], "same_prediction": [N, S]})``.
    """
    if len(scales) == 0 or any(float(a) < 0 for a in scales):
        raise ParamError(f"scales: {list(scales)!r} must be a non-empty list of numbers >= 0")
    truth = _truth(target, labels).to(inputs.device)
    a = torch.tensor([float(s) for s in scales], dtype=inputs.dtype, device=inputs.device)
    n, s = inputs.shape[0], len(a)
    pred = torch.empty((n, s), dtype=torch.long, device=inputs.device)
    ref = torch.empty(n, dtype=torch.long, device=inputs.device)

    def chunk_ref(start: int, stop: int) -> None:
        with torch.no_grad():
            ref[start:stop] = model(inputs[start:stop]).argmax(1)

    def chunk(start: int, stop: int) -> None:
        idx = torch.arange(start, stop, device=inputs.device)
        img, k = idx // s, idx % s
        scale = a[k].view(-1, *([1] * (inputs.dim() - 1)))
        with torch.no_grad():
            pred[img, k] = model(scale * inputs[img]).argmax(1)

    for_chunks(chunk_ref, n, max_batch)
    for_chunks(chunk, n * s, max_batch)
    correct = (pred == truth[:, None]).to(inputs.dtype)
    same = (pred == ref[:, None]).to(inputs.dtype)
    values = {"accuracy": correct.mean(1), "invariance": same.mean(1)}
    return (values, a, {"top1": correct, "same_prediction": same}) if return_curves else values


def _truth_setting(ctx, params) -> dict[str, str]:
    return {"truth": "target" if ctx.labels is None else "labels"}


register_metric("accuracy", accuracy, inputs="any",
                settings=_truth_setting, bounds={"topk": (1, None), "max_batch": (1, None)},
                description="Top-1 and top-k accuracy of the model on the labels (0/1 per sample)",
                needs_attributions=False, direction="higher", consumes=("labels",), units="share correct (0-1)",
                label="accuracy")
register_metric("contrast", contrast, inputs="any", settings=_truth_setting, bounds={"max_batch": (1, None)},
                description="Paper A §4.4: top-1 accuracy for inputs scaled by a = 1.0 ... 0.1 (X-DNNs are invariant)",
                needs_attributions=False, direction="higher", consumes=("labels",), units="share correct (0-1)",
                label="top-1 accuracy", x_label="contrast factor a", x_scale=1,
                stat_labels={"top1": "top-1 accuracy", "same_prediction": "same prediction as a = 1"})
