"""Image datasets on disk: ImageNet (or any ImageFolder tree) and CIFAR-10 in its official python format.

Nothing is downloaded unless the user asks (``download: true`` for CIFAR-10).  A missing path, an
empty folder or a file in the wrong format raises :class:`~xbench.errors.DataNotFoundError` with
one line saying what was expected and how to provide it.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..errors import DataNotFoundError
from .base import DATASETS, XDataset

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

_IMAGENET_HELP = ("give root: an ImageNet folder (root/val/<wnid>/<image>.JPEG, as torchvision.datasets.ImageNet "
                  "prepares it) or any ImageFolder tree root/<class>/<image>")
_CIFAR_HELP = ("extract the 'CIFAR-10 python version' (https://www.cs.toronto.edu/~kriz/cifar.html) under root, "
               "or set download: true")


def _existing_dir(root: str | None, name: str, help_text: str) -> Path:
    """``root`` as a Path, or a one-line DataNotFoundError when it is not given or not a folder."""
    if root is None:
        raise DataNotFoundError(f"data({name}): no root given; {help_text}")
    p = Path(root).expanduser()
    if not p.exists():
        raise DataNotFoundError(f"data({name}): '{p}' does not exist; {help_text}")
    if not p.is_dir():
        raise DataNotFoundError(f"data({name}): '{p}' is not a folder; {help_text}")
    return p


def _read_synsets(path: str) -> list[str]:
    """Wnids in class-index order from a text file, one per line, first token (e.g. LOC_synset_mapping.txt)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataNotFoundError(f"data(imagenet): synsets file '{p}' does not exist; give a text file with one "
                                "wnid per line in class-index order (e.g. Kaggle's LOC_synset_mapping.txt)")
    return [line.split()[0] for line in p.read_text().splitlines() if line.strip()]


def _global_classes(root: Path, folder_classes: list[str], synsets: str | None) -> tuple[list[str], str]:
    """The full class list that fixes the indices, and where it came from.

    torchvision orders ImageNet's classes by sorted wnid; a tree with a subset of the classes
    keeps those indices only when the full list is known (``meta.bin`` or a synsets file).
    """
    if synsets is not None:
        return _read_synsets(synsets), "synsets file"
    meta = root / "meta.bin"
    if meta.is_file():
        wnid_to_classes = torch.load(meta, weights_only=True)[0]  # torchvision's (wnid->names, val wnids)
        return sorted(wnid_to_classes), "meta.bin"
    return folder_classes, "folder names" if len(folder_classes) != 1000 else "torchvision (1000 sorted wnids)"


@DATASETS.register("imagenet", kind="image",
                   description="ImageNet val (or any ImageFolder tree): resize, center crop, normalise",
                   bounds={"size": (16, 1024), "resize": (16, 2048)})
def imagenet(*, split: Literal["val", "train", "test"] = "val", root: str | None = None, size: int = 224,
             resize: int | None = None, synsets: str | None = None) -> XDataset:
    """Images from ``root/<split>/<class>/*`` (``test`` reads ``val``: ImageNet's test labels are not
    public) or ``root/<class>/*``, resized to ``resize`` (default size * 256 / 224: 256 for 224, 342
    for Inception's 299), center-cropped to ``size`` and normalised with ImageNet's mean/std.

    Class indices are torchvision's (sorted wnids).  A tree with only some classes keeps them when
    ``root/meta.bin`` (torchvision's) or ``synsets`` (wnids in index order) gives the full list;
    otherwise indices are local to the tree (``info['class_index']`` says which).
    """
    from torchvision import datasets, transforms

    base = _existing_dir(root, "imagenet", _IMAGENET_HELP)
    sub = "val" if split == "test" else split
    folder = base / sub if (base / sub).is_dir() else base
    resize = round(size * 256 / 224) if resize is None else resize
    tf = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(size), transforms.ToTensor(),
                             transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    try:
        ds = datasets.ImageFolder(str(folder), transform=tf)
    except FileNotFoundError as err:
        raise DataNotFoundError(f"data(imagenet): no images found under '{folder}' ({str(err).split(';')[0]}); "
                                f"{_IMAGENET_HELP}") from None
    classes, source = _global_classes(base, ds.classes, synsets)
    index = {c: i for i, c in enumerate(classes)}
    unknown = [c for c in ds.classes if c not in index]
    if unknown:
        raise DataNotFoundError(f"data(imagenet): class folder '{unknown[0]}' is not in the {source} class list; "
                                "class folders must be named by wnid (e.g. n01440764)")
    remap = [index[c] for c in ds.classes]
    ds.target_transform = remap.__getitem__
    info: dict[str, Any] = {"name": "imagenet", "split": sub, "root": str(folder), "num_classes": len(classes),
                            "input_shape": (3, size, size), "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                            "n": len(ds), "resize": resize, "class_index": source, "classes": classes,
                            "dataset_mean": torch.zeros(3, size, size)}
    return XDataset(ds, info)


class UInt8Images(Dataset):
    """Images held as uint8 [N, C, H, W]; item ``i`` is (normalised float image, label)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...],
                 size: int | None = None):
        self.images, self.labels, self.size = images, labels, size
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.images[i].float() / 255.0
        if self.size is not None and self.size != x.shape[-1]:
            x = F.interpolate(x[None], size=(self.size, self.size), mode="bilinear", align_corners=False)[0]
        return (x - self.mean) / self.std, int(self.labels[i])


def _cifar_folder(base: Path) -> Path:
    inner = base / "cifar-10-batches-py"
    return inner if inner.is_dir() else base


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 3, 32, 32], labels int64 [N]) of one CIFAR-10 python batch file."""
    if not path.is_file():
        raise DataNotFoundError(f"data(cifar10): '{path}' is missing; {_CIFAR_HELP}")
    try:
        with path.open("rb") as f:
            d = pickle.load(f, encoding="bytes")
        d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
        data = np.asarray(d["data"], dtype=np.uint8)
        labels = np.asarray(d["labels"], dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise ValueError(f"data has shape {data.shape}")
    except Exception as err:  # noqa: BLE001 - unpickling errors come in many types; all mean "wrong format"
        raise DataNotFoundError(f"data(cifar10): '{path}' is not a CIFAR-10 python batch (a pickled dict with "
                                f"'data' [N, 3072] uint8 and 'labels'; {type(err).__name__}); {_CIFAR_HELP}") from None
    return data.reshape(-1, 3, 32, 32), labels


@DATASETS.register("cifar10", kind="image", description="CIFAR-10 from a root folder in the official python format",
                   bounds={"size": (8, 1024)})
def cifar10(*, split: Literal["train", "test"] = "test", root: str | None = None, download: bool = False,
            size: int = 32) -> XDataset:
    """CIFAR-10 ``split`` from ``root`` (holding ``cifar-10-batches-py/`` or the batch files
    ``data_batch_1..5``, ``test_batch``, ``batches.meta``), normalised with the usual CIFAR-10
    mean/std and resized to ``size`` when it is not 32.  ``download: true`` fetches it first (torchvision)."""
    if download and root is not None:
        from torchvision.datasets import CIFAR10

        Path(root).expanduser().mkdir(parents=True, exist_ok=True)
        CIFAR10(str(Path(root).expanduser()), train=split == "train", download=True)
    folder = _cifar_folder(_existing_dir(root, "cifar10", _CIFAR_HELP))
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    parts = [_read_cifar_batch(folder / n) for n in names]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    classes = [f"class_{i}" for i in range(10)]
    meta = folder / "batches.meta"
    if meta.is_file():
        try:
            with meta.open("rb") as f:
                m = pickle.load(f, encoding="bytes")
            classes = [c.decode() if isinstance(c, bytes) else c for c in m.get(b"label_names", m.get("label_names"))]
        except Exception:  # noqa: BLE001 - class names are cosmetic; the data were already validated
            pass
    ds = UInt8Images(images, labels, CIFAR10_MEAN, CIFAR10_STD, size=size)
    info = {"name": "cifar10", "split": split, "root": str(folder), "num_classes": 10, "input_shape": (3, size, size),
            "mean": list(CIFAR10_MEAN), "std": list(CIFAR10_STD), "n": len(ds), "classes": classes,
            "dataset_mean": torch.zeros(3, size, size)}
    return XDataset(ds, info)
