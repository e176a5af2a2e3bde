"""train_model: checkpoint with config, usable as weights: path; recipes; data-derived model parameters."""

from __future__ import annotations

import json

import numpy as np
import torch

import xbench.models as M
from xbench.models.checkpoints import checkpoint_config
from xbench.models.recipes import RECIPES, train_model


def test_train_mlp_breast_cancer_and_load_by_path(tmp_path):
    out = tmp_path / "mlp-x.pt"
    path = train_model("mlp", "breast_cancer", x=True, epochs=3, out=out, progress=False, device="cpu")
    assert path == out and out.is_file()
    ckpt = torch.load(out, weights_only=True)
    assert set(ckpt) >= {"state_dict", "config", "history", "test_accuracy"}
    assert len(ckpt["history"]) == 3 and ckpt["test_accuracy"] > 0.85
    cfg = checkpoint_config(out)
    assert cfg["x"] is True and cfg["model_params"]["in_features"] == 30 and cfg["recipe"]["epochs"] == 3
    assert json.loads(out.with_suffix(".json").read_text())["config"]["data"] == "breast_cancer"
    model = M.create("mlp", weights=str(out))  # x and in_features come from the checkpoint
    assert M.is_homogeneous(model)
    assert torch.equal(model[0].weight, ckpt["state_dict"]["0.weight"])


def test_train_on_nhanes_csv_derives_in_features(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(260, 7))
    y = (x[:, 0] + 0.3 * rng.normal(size=260) > 0).astype(int)
    lines = ["id," + ",".join(f"f{i}" for i in range(7))]
    lines += [f"{r}," + ",".join("" if (r + i) % 37 == 0 else f"{v:.4f}" for i, v in enumerate(row))
              for r, row in enumerate(x)]
    (tmp_path / "X_sparsity.csv").write_text("\n".join(lines) + "\n")
    np.save(tmp_path / "y_sparsity.npy", y)
    out = train_model("mlp", "nhanes", root=str(tmp_path), epochs=20, out=tmp_path / "m.pt", progress=False,
                      device="cpu")
    cfg = checkpoint_config(out)
    assert cfg["model_params"]["in_features"] == 7 and cfg["eval_split"] == "val"
    model = M.create("mlp", weights=str(out))
    assert model[0].weight.shape == (512, 7)
    assert torch.load(out, weights_only=True)["test_accuracy"] > 0.75


def test_train_cifar_vgg_on_synthetic_uses_data_size(tmp_path):
    out = train_model("cifar_vgg", "synthetic", x=True, epochs=1, out=tmp_path / "v.pt",
                      data_params={"n": 64, "num_classes": 3}, model_params={"width": 0.125}, batch_size=32,
                      progress=False, device="cpu")
    model = M.create("cifar_vgg", weights=str(out))
    assert model.classifier.out_features == 3 and M.is_homogeneous(model)


def test_every_recipe_documented():
    """The module docstring's table states every recipe as RECIPES holds it (a wrong row fails)."""
    import re

    import xbench.models.recipes as T

    rows: dict[str, tuple[str, str]] = {}
    name = None
    for line in T.__doc__.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)\s+([\d.e-]+)\s+(\d+)\s+(.*)$", line)
        if m:
            name = m.group(1)
            rows[name] = (m.group(2, 3, 4), m.group(5))
        elif name and line.startswith(" " * 20) and line.strip() and not line.startswith("="):
            rows[name] = (rows[name][0], rows[name][1] + " " + line.strip())  # a wrapped "why"
    assert set(rows) == set(RECIPES)
    for name, r in RECIPES.items():
        (epochs, lr, batch), why = rows[name]
        assert (int(epochs), float(lr), int(batch)) == (r.epochs, r.lr, r.batch_size), name
        if r.weight_decay:
            wd = re.search(r"weight decay ([\d.e-]+)", why)
            assert wd and float(wd.group(1)) == r.weight_decay, name
        if r.warmup_epochs:
            assert re.search(rf"\b{r.warmup_epochs} warm-up epoch", why), name
