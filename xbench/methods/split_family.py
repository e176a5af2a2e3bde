"""One gradient pass for a whole Split IG family: Left/Right/full IG at several ratios r, cached per batch.

Split IG's parts at every ratio are sums of the same path gradients over different step ranges, so
one pass serves them all.  :func:`split_family` runs that pass *online*: F(x) and F(x') come first
(one forward), which fixes every threshold tau_r = F(x') + r (F(x) - F(x')); the gradient pass then
walks each image's path in step order (chunks are image-major and processed in order, see
:mod:`xbench.batching`), and the logit it computes anyway tells at each step whether tau_r has been
crossed yet.  So no separate forward scan is needed, and the pass accumulates, per ratio, the Left
sum (steps before the first crossing) next to the total; Right = total - Left.

The result is kept in a small per-process LRU cache keyed by the model (and its parameters'
versions), the exact inputs, targets and baselines, the step count and the schedule, so the
suite's variants (``left_ig_r0.9``, ``right_ig_r0.95``, ``ig``, ...) of one batch, and their
max-sensitivity recomputations on the same perturbed inputs, share one pass.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass

import torch

from ..batching import DEFAULT_MAX_BATCH, for_chunks
from .base import target_outputs

PAPER_RATIOS = (0.9, 0.95)  # paper B's two ratios: always computed, they cost nothing extra
CACHE_BYTES = 1 << 30  # at most ~1 GiB of cached sums per process


@dataclass
class Family:
    """A Split IG family on one batch.  Tensors: ``total`` [N, *input] = sum_k w_k g_k (IG / (x - x'));
    ``left[r]`` the same over the steps before k*_r; ``kstar[r]`` [N] (0-based step index);
    ``f_x``, ``f_base`` [N] logits; ``alphas``/``weights`` [K]."""

    ratios: tuple[float, ...]
    total: torch.Tensor
    left: dict[float, torch.Tensor]
    kstar: dict[float, torch.Tensor]
    f_x: torch.Tensor
    f_base: torch.Tensor
    alphas: torch.Tensor
    weights: torch.Tensor

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in [self.total, *self.left.values()])


def _versions(model: torch.nn.Module) -> tuple[int, ...]:
    # in-place updates (optimiser steps, load_state_dict) bump a tensor's version: a trained model misses
    return tuple(p._version for p in model.parameters()) + tuple(b._version for b in model.buffers())


class _Cache:
    """LRU of :class:`Family` results, verified with exact tensor equality (never a near match)."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[int, list] = OrderedDict()
        self.hits = self.misses = 0

    @staticmethod
    def _fingerprint(*tensors: torch.Tensor) -> tuple:
        return tuple((tuple(t.shape), str(t.dtype), str(t.device), float(t.double().sum())) for t in tensors)

    def get(self, model, key: tuple, inputs, target, base, ratios) -> Family | None:
        for k, (mref, versions, kkey, x, t, b, fam) in list(self.entries.items()):
            if (mref() is model and kkey == key and versions == _versions(model) and set(ratios) <= set(fam.ratios)
                    and torch.equal(x, inputs) and torch.equal(t, target) and torch.equal(b, base)):
                self.entries.move_to_end(k)
                self.hits += 1
                return fam
        self.misses += 1
        return None

    @staticmethod
    def _entry_bytes(fam: Family, inputs: torch.Tensor) -> int:
        # the family's sums, and the inputs and baselines kept as its key
        return fam.nbytes() + 2 * inputs.numel() * inputs.element_size()

    def nbytes(self) -> int:
        """Bytes the cached families and their keys hold."""
        return sum(self._entry_bytes(e[-1], e[3]) for e in self.entries.values())

    def prune(self) -> None:
        """Drop the entries of models that no longer exist: they can never hit again, and a run that moves on
        to a larger network would otherwise keep the last network's families until the byte bound evicts them."""
        for k in [k for k, e in self.entries.items() if e[0]() is None]:
            del self.entries[k]

    def put(self, model, key: tuple, inputs, target, base, fam: Family) -> None:
        self.prune()
        if self._entry_bytes(fam, inputs) > self.max_bytes:
            return
        self.entries[id(fam)] = [weakref.ref(model), _versions(model), key, inputs.detach().clone(),
                                 target.clone(), base.detach().clone(), fam]
        total = self.nbytes()
        while total > self.max_bytes and len(self.entries) > 1:
            _, old = self.entries.popitem(last=False)
            total -= self._entry_bytes(old[-1], old[3])

    def clear(self) -> None:
        self.entries.clear()
        self.hits = self.misses = 0


CACHE = _Cache()


ROUNDING_ULPS = 64  # a crossing within this many float epsilons of |F| is rounding, not a crossing


def crosses(out: torch.Tensor, tau: torch.Tensor, change: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """True where the logit ``out`` has passed the threshold ``tau`` in the direction of ``change``.

    Strict, with a margin of :data:`ROUNDING_ULPS` float epsilons of ``scale`` (max |F| of the path's two
    ends): in exact arithmetic the last path point gives F(x) exactly, but the same logit computed in a
    batch of another shape (another BLAS kernel, another thread count) can differ from the separately
    computed F(x) in its last bits, and must not count as crossing tau = F(x) at r = 1.  Returns a bool
    tensor shaped like ``out``.
    """
    margin = ROUNDING_ULPS * torch.finfo(out.dtype).eps * scale
    return (out - tau) * torch.sign(change) > margin


def split_family(model: torch.nn.Module, inputs: torch.Tensor, target: torch.Tensor, baselines: torch.Tensor,
                 ratios: tuple[float, ...], alphas: torch.Tensor, weights: torch.Tensor, *,
                 max_batch: int = DEFAULT_MAX_BATCH, cache: bool = True, schedule_key: str = "") -> Family:
    """Left sums for every ratio in ``ratios`` and the total, from one pass along x' + a_k (x - x').

    ``alphas``/``weights`` [K] are the path points and their weights (ascending alphas, the last
    one 1 for Split IG).  k*_r = first step whose logit crosses tau_r in the direction of the
    change; a path that never crosses (F(x) = F(x'), or r = 1) gets k* = K: everything is Left, as
    the forward-scan implementation in :func:`xbench.methods.path.split_ig` does.
    """
    ratios = tuple(sorted(set(float(r) for r in ratios)))
    key = (int(alphas.numel()), schedule_key)
    if cache:
        hit = CACHE.get(model, key, inputs, target, baselines, ratios)
        if hit is not None:
            return hit
    n, k = inputs.shape[0], alphas.numel()
    f = target_outputs(model, torch.cat([inputs, baselines]), target.repeat(2))  # F(x), F(x') in one forward
    f_x, f_base = f[:n], f[n:]
    change = f_x - f_base
    sign = torch.sign(change)
    r = torch.tensor(ratios, dtype=inputs.dtype, device=inputs.device)
    tau = f_base[None, :] + r[:, None] * change[None, :]  # [R, N]
    scale = torch.maximum(f_x.abs(), f_base.abs())
    crossed = torch.zeros((len(ratios), n), dtype=torch.bool, device=inputs.device)  # crossed before this chunk
    kstar = torch.full((len(ratios), n), k, dtype=torch.long, device=inputs.device)  # K: never crossed
    diff = inputs - baselines
    view = (-1,) + (1,) * (inputs.dim() - 1)
    sums = torch.zeros((1 + len(ratios), n) + tuple(inputs.shape[1:]), dtype=inputs.dtype, device=inputs.device)
    a = alphas.to(inputs)
    w = weights.to(inputs)

    def chunk(start: int, stop: int) -> None:
        idx = torch.arange(start, stop, device=inputs.device)
        img, step = idx // k, idx % k
        pts = (baselines[img] + a[step].view(view) * diff[img]).detach().requires_grad_(True)
        out = model(pts).gather(1, target[img][:, None]).squeeze(1)
        (grad,) = torch.autograd.grad(out.sum(), pts)
        # strict crossing at this step, per ratio: [R, B]
        hit = crosses(out.detach()[None, :], tau[:, img], sign[img][None, :], scale[img][None, :])
        pos = torch.arange(len(idx), device=inputs.device)
        big = torch.full((len(ratios), n), len(idx), dtype=torch.long, device=inputs.device)
        first = big.scatter_reduce(1, img.expand(len(ratios), -1), torch.where(hit, pos, len(idx)), "amin")
        is_left = ~crossed[:, img] & (pos[None, :] < first[:, img])  # [R, B]
        wk = torch.cat([w[step][None, :], w[step][None, :] * is_left.to(w.dtype)])  # [1 + R, B]
        contrib = grad.unsqueeze(0) * wk.view((1 + len(ratios),) + view)
        # side effects only after the passes succeeded (an OOM retry re-runs the chunk cleanly)
        sums.index_add_(1, img, contrib)
        new = ~crossed & (first < len(idx))  # images whose first crossing is in this chunk
        local_first = first.clamp_max(len(idx) - 1)
        kstar.copy_(torch.where(new, step[local_first], kstar))
        crossed.copy_(crossed | (first < len(idx)))

    for_chunks(chunk, n * k, max_batch)
    fam = Family(ratios=ratios, total=sums[0], left={rr: sums[1 + i] for i, rr in enumerate(ratios)},
                 kstar={rr: kstar[i] for i, rr in enumerate(ratios)}, f_x=f_x, f_base=f_base, alphas=a, weights=w)
    if cache:
        CACHE.put(model, key, inputs, target, baselines, fam)
    return fam
