"""ImageNet-style folders and CIFAR-10 batch files, built in tmp_path in their real on-disk formats."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from xbench.data import create
from xbench.data.images import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD
from xbench.errors import DataNotFoundError

WNIDS = ["n01440764", "n01443537", "n01484850"]


def _imagefolder(root, split="val", wnids=WNIDS[:2], per_class=2, fmt="JPEG"):
    rng = np.random.default_rng(0)
    for c in wnids:
        d = root / split / c if split else root / c
        d.mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
            Image.fromarray(arr).save(d / f"{c}_{i}.{fmt}", format="JPEG" if fmt == "JPEG" else "PNG")
    return root


def _one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_imagenet_val_folder(tmp_path):
    ds = create("imagenet", "val", root=str(_imagefolder(tmp_path)), size=32)
    assert len(ds) == 4 and ds.info["input_shape"] == (3, 32, 32) and ds.info["resize"] == 37
    x, y = ds.dataset[0]
    assert x.shape == (3, 32, 32) and y == 0 and ds.dataset[3][1] == 1
    assert ds.info["mean"] == list(IMAGENET_MEAN) and ds.info["std"] == list(IMAGENET_STD)
    assert ds.info["class_index"] == "folder names" and ds.info["num_classes"] == 2
    assert len(create("imagenet", "test", root=str(tmp_path), size=32)) == 4  # test reads val


def test_imagenet_plain_imagefolder_png_and_inception_size(tmp_path):
    ds = create("imagenet", root=str(_imagefolder(tmp_path, split=None, fmt="png")), size=299)
    assert ds.dataset[0][0].shape == (3, 299, 299) and ds.info["resize"] == 342


def test_imagenet_subset_keeps_torchvision_indices(tmp_path):
    _imagefolder(tmp_path, wnids=[WNIDS[2]])
    # torchvision's meta.bin: (wnid -> class names, val wnids); indices follow the sorted wnids
    torch.save(({w: (f"class {w}",) for w in WNIDS}, []), tmp_path / "meta.bin")
    ds = create("imagenet", root=str(tmp_path), size=32)
    assert ds.dataset[0][1] == 2 and ds.info["num_classes"] == 3 and ds.info["class_index"] == "meta.bin"
    syn = tmp_path / "LOC_synset_mapping.txt"
    syn.write_text("\n".join(f"{w} name {i}" for i, w in enumerate(reversed(WNIDS))) + "\n")
    assert create("imagenet", root=str(tmp_path), size=32, synsets=str(syn)).dataset[0][1] == 0


@pytest.mark.parametrize("case", ["none", "missing", "empty", "file"])
def test_imagenet_errors_are_one_line(tmp_path, case):
    root = {"none": None, "missing": str(tmp_path / "nope"), "empty": str(tmp_path), "file": None}[case]
    if case == "file":
        (tmp_path / "x.txt").write_text("hi")
        root = str(tmp_path / "x.txt")
    with pytest.raises(DataNotFoundError) as err:
        create("imagenet", root=root)
    msg = _one_line(err)
    assert "root" in msg and "ImageFolder" in msg


def _cifar(root, n=6, subdir=True, corrupt=False):
    folder = root / "cifar-10-batches-py" if subdir else root
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in rng.integers(0, 10, n)],
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
        with (folder / name).open("wb") as f:
            if corrupt and name == "test_batch":
                f.write(b"not a pickle")
            else:
                pickle.dump(batch, f, protocol=2)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({b"num_cases_per_batch": n, b"label_names": names, b"num_vis": 3072}, f, protocol=2)
    return folder


def test_cifar10_official_format(tmp_path):
    folder = _cifar(tmp_path)
    train = create("cifar10", "train", root=str(tmp_path))
    test = create("cifar10", "test", root=str(tmp_path))
    assert len(train) == 30 and len(test) == 6 and test.info["classes"][0] == "airplane"
    with (folder / "test_batch").open("rb") as f:
        raw = pickle.load(f, encoding="bytes")
    x, y = test.dataset[2]
    expected = (torch.tensor(raw[b"data"][2], dtype=torch.float32).view(3, 32, 32) / 255
                - torch.tensor(CIFAR10_MEAN).view(3, 1, 1)) / torch.tensor(CIFAR10_STD).view(3, 1, 1)
    assert torch.allclose(x, expected, atol=1e-6) and y == raw[b"labels"][2]
    assert create("cifar10", root=str(folder), size=48).dataset[0][0].shape == (3, 48, 48)  # batch files directly


def test_cifar10_errors_are_one_line(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        create("cifar10", root=str(tmp_path))
    assert "data_batch" in _one_line(err) or "test_batch" in str(err.value)
    _cifar(tmp_path, corrupt=True)
    with pytest.raises(DataNotFoundError) as err:
        create("cifar10", "test", root=str(tmp_path))
    assert "not a CIFAR-10 python batch" in _one_line(err)
    with pytest.raises(DataNotFoundError) as err:
        create("cifar10", root=None)
    assert "download: true" in _one_line(err)
