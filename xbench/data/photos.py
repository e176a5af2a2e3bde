"""Real colour photographs that ship inside installed packages (scikit-image, scikit-learn): no download.

Which files count as photographs is *detected*, not listed: every image file in ``skimage.data``'s
folder and every ``sklearn.datasets.load_sample_images()`` image is read and kept when it is

- a 2-D RGB(A) uint8 image with an opaque alpha, at least 128 px on its short side,
- in colour: the mean distance of a pixel's channels from its grey value is >= 5 (of 255) (drops
  grayscale images stored as RGB and near-grey astronomy),
- not a graphic: its most frequent exact colour covers < 15% of the pixels and it has >= 10,000
  distinct colours (drops logos, test charts, the colour wheel and flat-background renderings).

The photos are *served to a model*: the runtime that builds a run hands the dataset a
:class:`~xbench.data.base.ServedModel` per model (what the model declares: input size, normalisation, and a
classifier), so the data layer never imports the model registry.  Each kept photo is resized (shorter side to
``size * 256 / 224``, antialiased bilinear), centre-cropped to the model's declared input size (EfficientNet-Lite0/1/2:
224/240/260 px) and normalised as the model declares (EfficientNet-Lite: (255 x - 127) / 128; models that declare
nothing: ImageNet mean/std), following xbench's convention that datasets serve normalised inputs so that the zero
baseline is the mean colour.  There are no ground-truth labels: the label of each photo is the served model's top-1
class (``info['items']`` records it with the photo's name and probability), so ``target: predicted`` and
``target: label`` agree.  The photos are ordered by one model's confidence (``order_by``), the same for every model
of a run, so sample ``i`` is the same photo under every network.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..errors import XBenchError
from .base import DATASETS, ServedModel, XDataset
from .images import IMAGENET_MEAN, IMAGENET_STD

PIP_EXTRA = "pip install 'xbench[photos]'"
MIN_SIDE = 128
MIN_CHROMA = 5.0
MAX_MODE_SHARE = 0.15
MIN_COLOURS = 10_000
_SUFFIXES = (".png", ".jpg", ".jpeg")


def _require(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise XBenchError(f"data(photos): the '{module}' package is missing; run: {PIP_EXTRA}") from None


def photo_reason(img: np.ndarray) -> str | None:
    """Why ``img`` (as read) is not a colour photograph, or None when it is one (the module's rule)."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] not in (3, 4):
        return f"not a 2-D RGB(A) uint8 image (shape {img.shape}, {img.dtype})"
    if img.shape[-1] == 4 and img[..., 3].min() < 255:
        return "has transparency"
    if min(img.shape[:2]) < MIN_SIDE:
        return f"smaller than {MIN_SIDE} px"
    rgb = img[..., :3].reshape(-1, 3)
    chroma = float(np.abs(rgb - rgb.mean(1, keepdims=True)).mean())
    if chroma < MIN_CHROMA:
        return f"grayscale or nearly (chroma {chroma:.1f} < {MIN_CHROMA})"
    _, counts = np.unique(rgb, axis=0, return_counts=True)
    if counts.max() / len(rgb) >= MAX_MODE_SHARE:
        return f"a graphic (one colour covers {counts.max() / len(rgb):.0%} of the pixels)"
    if len(counts) < MIN_COLOURS:
        return f"a graphic ({len(counts)} distinct colours)"
    return None


def _candidates() -> list[tuple[str, str, Any]]:
    """(name, source, loader) for every image file the installed packages ship (read lazily)."""
    skdata = _require("skimage.data")
    io = _require("skimage.io")
    folder = Path(os.path.dirname(skdata.__file__))
    out: list[tuple[str, str, Any]] = []
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() in _SUFFIXES:
            out.append((f.stem, "scikit-image", lambda f=f: io.imread(f)))
    from sklearn.datasets import load_sample_images

    sample = load_sample_images()
    for fname, img in zip(sample.filenames, sample.images):
        out.append((Path(fname).stem, "scikit-learn", lambda img=img: img))
    return out


@lru_cache(maxsize=1)
def find_photos() -> tuple[tuple[tuple[str, str, np.ndarray], ...], tuple[tuple[str, str, str], ...]]:
    """(kept photos as (name, source, uint8 RGB array), skipped files as (name, source, reason)), sorted by
    source then name."""
    kept, skipped = [], []
    for name, source, load in _candidates():
        try:
            img = np.asarray(load())
        except Exception as err:  # noqa: BLE001 - an unreadable file is skipped and reported, not fatal
            skipped.append((name, source, f"unreadable ({type(err).__name__})"))
            continue
        reason = photo_reason(img)
        if reason is None:
            kept.append((name, source, np.ascontiguousarray(img[..., :3])))
        else:
            skipped.append((name, source, reason))
    return tuple(kept), tuple(skipped)


def preprocess(img: np.ndarray, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 [H, W, 3] -> normalised float [3, size, size]: shorter side to size*256/224, centre crop."""
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1).float()[None] / 255.0
    h, w = x.shape[-2:]
    short = round(size * 256 / 224)
    nh, nw = (short, max(short, round(w * short / h))) if h <= w else (max(short, round(h * short / w)), short)
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[0, :, top:top + size, left:left + size]
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


class PhotoSet(Dataset):
    """Item ``i``: (normalised photo [3, size, size], the model's top-1 class)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])


DEFAULT_SIZE = 224  # served to a model that declares no input size
_LABELS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # (model key, size, mean, std) -> (classes, probs)


@lru_cache(maxsize=8)
def photo_tensors(size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Every detected photo, preprocessed: [N, 3, size, size], normalised with ``mean``/``std``."""
    kept, _ = find_photos()
    return torch.stack([preprocess(img, size, mean, std) for _, _, img in kept])


def served_input(model: ServedModel, size: int | None) -> tuple[int, tuple[float, ...], tuple[float, ...], str]:
    """(side in px, mean, std, what the normalisation is called) of the photos served to ``model``: ``size`` when
    given, else the model's declared input size (224 when it declares none); its declared normalisation, else
    ImageNet's."""
    side = size or model.size or DEFAULT_SIZE
    if model.mean is not None and model.std is not None:
        return side, tuple(model.mean), tuple(model.std), f"{model.normalisation} ({model.label})"
    return side, IMAGENET_MEAN, IMAGENET_STD, f"imagenet ({model.label} declares none)"


def labelled(model: ServedModel, size: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images [N, 3, side, side] served to ``model``, its top-1 classes [N], their probabilities [N]);
    the labels are computed once per model key and input."""
    side, mean, std, _ = served_input(model, size)
    x = photo_tensors(side, mean, std)
    key = (model.key, side, mean, std)
    if key not in _LABELS:
        if model.classify is None:
            raise XBenchError(f"data(photos): model '{model.label}' was served without a classifier; the photos are "
                              "labelled with the model's top-1 class")
        with torch.inference_mode():
            p = torch.softmax(model.classify(x).double(), 1)
        prob, cls = p.max(1)
        if len(_LABELS) >= 16:  # a long session (tests) serves many models: keep the cache small
            _LABELS.pop(next(iter(_LABELS)))
        _LABELS[key] = (cls, prob.float())
    cls, prob = _LABELS[key]
    return x, cls, prob


def class_names(n: int) -> list[str]:
    """ImageNet class descriptions (timm's table) for 1000 classes, else ``class_<i>``."""
    if n == 1000:
        try:
            from timm.data import ImageNetInfo

            info = ImageNetInfo()
            return [info.index_to_description(i) for i in range(n)]
        except ImportError:
            pass
    return [f"class_{i}" for i in range(n)]


@DATASETS.register("photos", kind="image",
                   description="Real colour photographs shipped in scikit-image and scikit-learn "
                   "(detected, no download), served to each model at its declared input size and normalisation, "
                   "labelled with its top-1 class",
                   bounds={"size": (32, 1024)}, hidden=("serve", "order_by"), per_model=True)
def photos(*, split: Literal["test", "train"] = "test", model: str | None = None, size: int | None = None,
           order: Literal["confidence", "detected"] = "confidence", serve: ServedModel | None = None,
           order_by: ServedModel | None = None) -> XDataset:
    """Every detected photo (both splits are the same photos: there is nothing to train on), served to the model
    ``serve`` (given by the runtime, see :class:`ServedModel`): at ``size`` px when given, else the model's declared
    input size; normalised as it declares; labelled with its top-1 class.  ``info['items']`` names each item.

    ``order``: ``confidence`` (default) puts the photos the ordering model (``order_by``: the one ``model`` names,
    resolved by the runtime; by default the suite's first model) classifies most confidently first, so that
    ``n_samples: k`` takes the k most plausibly classified (paper B used correctly classified images; there is no
    ground truth here) and sample ``i`` is the same photo for every model of a run; ``detected``: by source,
    then file name."""
    _require("skimage")
    if serve is None:
        raise XBenchError("data(photos): the photos are served to a model (its input size, normalisation and "
                          "top-1 labels); open them with xbench.serving.open_data('photos', model=...), as a run does "
                          "for each of its models")
    kept, skipped = find_photos()
    if not kept:
        raise XBenchError("data(photos): no colour photograph found in the installed scikit-image/scikit-learn; "
                          f"run: {PIP_EXTRA}")
    side, mean, std, what = served_input(serve, size)
    x, cls, prob = labelled(serve, size)
    ranker = order_by or serve
    if order == "confidence":
        rank_prob = prob if ranker.key == serve.key else labelled(ranker, size)[2]
        idx = torch.argsort(rank_prob, descending=True, stable=True)
    else:
        idx = torch.arange(len(prob))
    x, cls, prob = x[idx], cls[idx], prob[idx]
    kept = [kept[int(i)] for i in idx]
    names = class_names(1000)
    items = [{"sample": i, "name": name, "source": source, "class_index": int(c), "class_name": names[int(c)],
              "probability": round(float(p), 4)}
             for i, ((name, source, _), c, p) in enumerate(zip(kept, cls, prob))]
    info: dict[str, Any] = {"name": "photos", "split": split, "num_classes": 1000, "input_shape": (3, side, side),
                            "mean": list(mean), "std": list(std), "normalisation": what, "n": len(items),
                            "label": f"{serve.label} top-1 (no ground truth)", "served_to": serve.label,
                            "order": order, "ordered_by": ranker.label if order == "confidence" else None,
                            "items": items, "classes": names,
                            "skipped": [{"name": n, "source": s, "reason": r} for n, s, r in skipped],
                            "dataset_mean": torch.zeros(3, side, side)}
    return XDataset(PhotoSet(x, cls), info)
