"""``mlp``: paper A's tabular network (§4.3, NHANES): 512-128-32 hidden units with ReLU.

The layers sit in one ``nn.Sequential`` in the authors' order (Linear, ReLU, Linear, ...), so their
state-dict keys are ``0.weight``, ``2.weight``, ``4.weight``, ``6.weight`` (+ ``.bias`` unless
``x=True``).  The authors used one output and BCE; here the head has ``num_classes`` outputs and
cross-entropy, so that every attribution method gets a target class (``num_classes=1`` gives
their single-logit layout for loading their weights).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .base import MODELS
from .embedded import embedded_model
from .training import TrainRecipe

MLP_RECIPES = {"breast_cancer": TrainRecipe(epochs=10, lr=1e-3, batch_size=32, seed=0)}
"""Same recipe for regular and X: standardised features make the bias-free MLP as easy to train."""


class MLP(nn.Sequential):
    """Linear-ReLU stack; ``bias=False`` is the X-variant.  Input [N, in_features], output logits [N, classes]."""

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (512, 128, 32), num_classes: int = 2,
                 bias: bool = True):
        layers: list[nn.Module] = []
        d = in_features
        for h in hidden:
            layers += [nn.Linear(d, h, bias=bias), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, num_classes, bias=bias))
        super().__init__(*layers)


@MODELS.register("mlp", description="Paper A's tabular MLP 512-128-32 with ReLU (x=True: bias-free)",
                 dataset="breast_cancer", bounds={"in_features": (1, None)})
def mlp(*, x: bool = False, num_classes: int = 2, weights: str | None = "trained", in_features: int = 30,
        hidden: tuple[int, ...] = (512, 128, 32), data: Literal["breast_cancer"] = "breast_cancer",
        device: str | torch.device = "cpu", progress: bool = False) -> nn.Module:
    """The MLP.  ``weights``: ``"trained"`` (on ``data``, cached; needs ``in_features`` = 30 for
    breast_cancer), None (random init) or a checkpoint path (e.g. trained on nhanes with ``xbench train``)."""
    recipe = MLP_RECIPES[data]
    hidden = tuple(int(h) for h in hidden)

    def build() -> nn.Module:
        torch.manual_seed(recipe.seed)
        return MLP(in_features, hidden, num_classes=num_classes, bias=not x)

    config = {"num_classes": num_classes, "in_features": in_features, "hidden": list(hidden), "v": 1}
    return embedded_model("mlp", build, weights=weights, x=x, data=data, data_params={}, recipe=recipe,
                          config=config, device=device, progress=progress).to(device)
