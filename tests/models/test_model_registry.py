"""Every registered model, parametrised over the registry (as timm's tests are over ``list_models()``).

Each builds on PyTorch's ``meta`` device (no memory, no weights read or trained: ``weights=None``) and
does a forward pass on its declared input size, regular and, where it has one, X-variant; a model
that takes the user's file or factory instead says in one line what it needs.
"""

from __future__ import annotations

import pytest
import torch

from xbench.errors import XBenchError
from xbench.models import MODELS, create

ENTRIES = MODELS.entries()


def _input_shape(entry, model: torch.nn.Module) -> tuple[int, ...]:
    """One input of the model's declared size; channels (or features) as its first layer takes them."""
    first = next(m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    size = entry.meta.get("input_size")
    if size:  # an image model: a convolution's channels, or a flattening linear layer's features per pixel
        channels = first.in_channels if isinstance(first, torch.nn.Conv2d) else first.in_features // (size * size)
        return (channels, size, size)
    return (first.in_features,)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_every_model_builds_and_runs_forward(entry):
    if not entry.meta.get("meta_build", True):  # the user's archive or factory: nothing to build without one
        with pytest.raises(XBenchError) as err:
            create(entry.name)
        assert "\n" not in str(err.value) and str(err.value)
        return
    assert entry.meta.get("input_size") or "in_features" in entry.params, "declare input_size at register"
    for x in (False, True):
        if x and "x" not in entry.params:
            continue
        try:
            with torch.device("meta"):
                model = create(entry.name, x=x, weights=None, device="meta")
        except XBenchError as err:  # no X-variant (BatchNorm): said in one line
            assert x and "\n" not in str(err), err
            continue
        with torch.no_grad():
            out = model(torch.empty((2, *_input_shape(entry, model)), device="meta"))
        assert out.dim() == 2 and out.shape[0] == 2 and out.shape[1] > 1, (entry.name, x, tuple(out.shape))
