"""The training loop: a small, deterministic classifier trainer used for the embedded models and ``xbench train``
(whose per-dataset recipes are :mod:`xbench.models.recipes`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

log = logging.getLogger(__name__)


@dataclass
class TrainRecipe:
    """Hyper-parameters of :func:`train_classifier` (recorded with every checkpoint)."""

    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    seed: int = 0
    warmup_epochs: int = 0
    """Linear learning-rate warm-up before the cosine decay (deep nets without BatchNorm start more stably)."""


@contextmanager
def reproducible() -> Iterator[None]:
    """Inside: one intra-op CPU thread and PyTorch's deterministic algorithms; the caller's settings after.

    A float sum's value depends on its order, and a multi-threaded matmul/convolution splits its sums by
    the thread count, so a model trained with 2 threads differs bit-wise from one trained with 1 (and
    every attribution computed on it after).  One thread fixes the order on any core count; the
    deterministic switch refuses the few kernels whose order is not fixed even then.  Costs little for
    the embedded models (they train in seconds) and on a shared CPU is often faster than several threads.
    """
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)


@torch.no_grad()
def accuracy(model: nn.Module, data: Dataset, batch_size: int = 512, device: str | torch.device = "cpu",
             topk: int = 1) -> float:
    """Top-``topk`` accuracy of ``model`` on ``data`` in [0, 1]."""
    model.eval()
    correct = total = 0
    for batch in DataLoader(data, batch_size=batch_size):
        x, y = batch[0].to(device), batch[1].to(device)
        pred = model(x).topk(topk, dim=1).indices
        correct += (pred == y[:, None]).any(1).sum().item()
        total += len(y)
    return correct / max(total, 1)


def train_classifier(model: nn.Module, train: Dataset, test: Dataset | None, recipe: TrainRecipe,
                     device: str | torch.device = "cpu", progress: bool = False, desc: str = "train",
                     num_workers: int = 0) -> list[dict]:
    """Train ``model`` in place with Adam and cross-entropy; returns one log dict per epoch
    (``epoch``, ``loss``, ``test_accuracy`` in [0, 1]), each also logged at INFO level.
    Seeded: same recipe, same weights."""
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(recipe.seed)
    loader = DataLoader(train, batch_size=recipe.batch_size, shuffle=True, generator=gen, num_workers=num_workers)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps = recipe.epochs * len(loader)
    warm = min(recipe.warmup_epochs * len(loader), max(steps - 1, 0))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps - warm, 1))
    if warm:
        sched = torch.optim.lr_scheduler.SequentialLR(
            opt, [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=warm), sched], [warm])
    model.to(device)
    history = []
    bar = tqdm(range(recipe.epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        total = 0.0
        for batch in loader:
            x, y = batch[0].to(device), batch[1].to(device)
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(y)
        entry = {"epoch": epoch + 1, "loss": total / len(train)}
        if test is not None:
            entry["test_accuracy"] = accuracy(model, test, device=device)
        history.append(entry)
        bar.set_postfix({k: round(v, 4) for k, v in entry.items() if k != "epoch"})
        log.info("%s: epoch %d/%d loss %.4f%s", desc, epoch + 1, recipe.epochs, entry["loss"],
                 f" test accuracy {entry['test_accuracy']:.4f}" if "test_accuracy" in entry else "")
    model.eval()
    return history
