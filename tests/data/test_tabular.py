"""breast_cancer (sklearn) and NHANES (user CSV files): standardisation, seeded splits, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xbench.data import create
from xbench.errors import DataNotFoundError


def test_breast_cancer_standardised_and_seeded():
    train, test = create("breast_cancer", "train"), create("breast_cancer", "test")
    assert len(train) + len(test) == 569 and train.info["input_shape"] == (30,) and train.info["num_classes"] == 2
    x, _ = train.tensors()
    assert torch.allclose(x.mean(0), torch.zeros(30), atol=1e-4)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(30), atol=1e-4)
    assert torch.equal(test.tensors()[0], create("breast_cancer", "test").tensors()[0])
    assert not torch.equal(test.tensors()[0], create("breast_cancer", "test", seed=1).tensors()[0])


def _nhanes_files(root, n=250, d=5, label_fmt="npy"):
    rng = np.random.default_rng(0)
    x = rng.normal(10, 3, size=(n, d))
    rows = ["SEQN," + ",".join(f"feat{i}" for i in range(d))]
    rows += [f"{1000 + r}," + ",".join("" if (r * d + i) % 11 == 0 else f"{v}" for i, v in enumerate(row))
             for r, row in enumerate(x)]
    (root / "X_sparsity.csv").write_text("\n".join(rows) + "\n")
    y = rng.integers(0, 2, n)
    if label_fmt == "npy":
        np.save(root / "y_sparsity.npy", y)
    else:
        (root / "y.csv").write_text("died\n" + "\n".join(str(v) for v in y) + "\n")
    return x, y


def test_nhanes_authors_files_and_split(tmp_path):
    from sklearn.model_selection import train_test_split

    x, y = _nhanes_files(tmp_path)
    parts = {s: create("nhanes", s, root=str(tmp_path), rep=3) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [100, 100, 50]
    assert parts["train"].info["feature_names"][0] == "feat0" and parts["train"].info["input_shape"] == (5,)
    # the authors' split: train_test_split(X, y, train_size=200, random_state=rep), then 100 of those
    tv, test_idx = train_test_split(np.arange(250), train_size=200, random_state=3)
    assert torch.equal(parts["test"].tensors()[1], torch.as_tensor(y[test_idx]))
    xt = parts["train"].tensors()[0]
    assert not torch.isnan(xt).any()  # empty cells imputed with the training mean
    assert torch.allclose(xt.mean(0), torch.zeros(5), atol=1e-5)


def test_nhanes_explicit_paths_csv_labels(tmp_path):
    _nhanes_files(tmp_path, label_fmt="csv")
    ds = create("nhanes", "all", features=str(tmp_path / "X_sparsity.csv"), labels=str(tmp_path / "y.csv"))
    assert len(ds) == 250 and ds.info["num_classes"] == 2


@pytest.mark.parametrize("case", ["nothing", "missing", "mismatch", "bad_csv", "bad_labels"])
def test_nhanes_errors_are_one_line(tmp_path, case):
    _nhanes_files(tmp_path)
    kw = {"root": str(tmp_path)}
    if case == "nothing":
        kw = {}
    elif case == "missing":
        kw = {"features": str(tmp_path / "none.csv"), "labels": str(tmp_path / "y_sparsity.npy")}
    elif case == "mismatch":
        np.save(tmp_path / "y_sparsity.npy", np.zeros(10, dtype=int))
    elif case == "bad_csv":
        (tmp_path / "X_sparsity.csv").write_text("a,b\n1,hello\n")
    else:
        np.save(tmp_path / "y_sparsity.npy", np.full(250, 7))
    with pytest.raises(DataNotFoundError) as err:
        create("nhanes", **kw)
    assert "\n" not in str(err.value) and "data(nhanes)" in str(err.value)
