"""Tabular datasets for the attribution-priors work (paper A §4.3): breast_cancer (offline) and NHANES I.

Features are standardised with the training split's mean/std (missing values imputed with the
training mean first), so the zero baseline is the average subject, as in the papers.  ``info``
``mean``/``std`` are per feature in the raw units.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..errors import DataNotFoundError
from .base import DATASETS, XDataset

_NHANES_HELP = ("give features: a CSV (header row, one subject per row, first column an id unless index_col: false) "
                "and labels: a .npy or one-column CSV of 0/1 outcomes, or root: a folder with the authors' "
                "X_sparsity.csv and y_sparsity.npy")


def _standardise(x: np.ndarray, train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x imputed with the train mean and standardised with the train mean/std, mean, std)."""
    x = x.astype(np.float64)
    mean = np.nanmean(x[train_idx], axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)  # a feature missing for every training subject
    x = np.where(np.isnan(x), mean, x)
    std = x[train_idx].std(axis=0)
    std = np.where(std > 0, std, 1.0)  # constant features stay 0 instead of dividing by 0
    return (x - mean) / std, mean, std


def _tabular(name: str, x: np.ndarray, y: np.ndarray, splits: dict[str, np.ndarray], split: str,
             feature_names: list[str], **extra) -> XDataset:
    """XDataset of one split, standardised with the ``train`` split's statistics."""
    z, mean, std = _standardise(x, splits["train"])
    idx = splits[split]
    xt = torch.as_tensor(z[idx], dtype=torch.float32)
    yt = torch.as_tensor(y[idx], dtype=torch.long)
    info = {"name": name, "split": split, "num_classes": int(y.max()) + 1 if len(y) else 2,
            "input_shape": (x.shape[1],), "mean": mean.tolist(), "std": std.tolist(), "n": len(idx),
            "feature_names": feature_names, "dataset_mean": torch.zeros(x.shape[1]), **extra}
    return XDataset(TensorDataset(xt, yt), info)


@DATASETS.register("breast_cancer", kind="tabular",
                   description="scikit-learn breast cancer (569 subjects, 30 features), tabular, "
                   "standardised, offline", bounds={"test_fraction": (0.05, 0.95)})
def breast_cancer(*, split: Literal["train", "test", "all"] = "test", seed: int = 0,
                  test_fraction: float = 0.3) -> XDataset:
    """Wisconsin diagnostic breast cancer: label 0 = malignant, 1 = benign; a stratified split seeded by ``seed``."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    d = load_breast_cancer()
    all_idx = np.arange(len(d.target))
    train_idx, test_idx = train_test_split(all_idx, test_size=test_fraction, random_state=seed, stratify=d.target)
    splits = {"train": np.sort(train_idx), "test": np.sort(test_idx), "all": all_idx}
    return _tabular("breast_cancer", d.data, d.target, splits, split, list(d.feature_names),
                    classes=list(d.target_names))


def _read_features(path: Path, index_col: bool) -> tuple[np.ndarray, list[str]]:
    """(features [N, D] float with nan for empty cells, column names) from a CSV with a header row."""
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], [r for r in rows[1:] if r]
        start = 1 if index_col else 0

        def num(s: str) -> float:
            return math.nan if s.strip() in ("", "NA", "nan", "NaN") else float(s)

        x = np.array([[num(v) for v in r[start:]] for r in body], dtype=np.float64)
    except (ValueError, IndexError, UnicodeDecodeError) as err:
        raise DataNotFoundError(f"data(nhanes): '{path}' is not a numeric CSV ({type(err).__name__}: {err}); "
                                f"{_NHANES_HELP}") from None
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise DataNotFoundError(f"data(nhanes): '{path}' has no data rows; {_NHANES_HELP}")
    return x, header[start:]


def _read_labels(path: Path) -> np.ndarray:
    """Labels [N] (int) from a .npy file or a CSV/text file with one value per row (optional header, optional id)."""
    try:
        if path.suffix == ".npy":
            y = np.load(path, allow_pickle=False).reshape(-1)
        else:
            rows = [r for r in csv.reader(path.open(newline="")) if r]
            vals = [r[-1] for r in rows]
            try:
                float(vals[0])
            except ValueError:
                vals = vals[1:]  # a header row
            y = np.array([float(v) for v in vals])
        if not np.all(np.isin(y, (0, 1))):
            raise ValueError("labels must be 0 or 1")
    except (ValueError, IndexError, OSError) as err:
        raise DataNotFoundError(f"data(nhanes): '{path}' is not a label file ({err}); {_NHANES_HELP}") from None
    return y.astype(np.int64)


@DATASETS.register("nhanes", kind="tabular",
                   description="NHANES I 10-year mortality (paper A §4.3; user-provided CSV), tabular",
                   bounds={"n_train": (1, None), "n_val": (1, None)})
def nhanes(*, split: Literal["train", "val", "test", "all"] = "test", root: str | None = None,
           features: str | None = None, labels: str | None = None, index_col: bool = True, rep: int = 0,
           n_train: int = 100, n_val: int = 100) -> XDataset:
    """NHANES I as used by paper A (and Erion et al.'s attribution priors).

    Files: ``features`` — a CSV with a header row of feature names and one subject per row, the
    first column a subject id (``index_col: false`` when there is none), empty cells for missing
    values; ``labels`` — ``.npy`` (the authors' ``y_sparsity.npy``) or a CSV with one 0/1 value per
    row (1 = died within 10 years).  Either give both paths, or ``root`` holding ``X_sparsity.csv``
    and ``y_sparsity.npy``.  Split as the authors: repetition ``rep`` draws ``n_train`` + ``n_val``
    subjects (sklearn ``train_test_split``, ``random_state=rep``), the rest is the test split.
    """
    from sklearn.model_selection import train_test_split

    base = Path(root).expanduser() if root is not None else None
    fpath = Path(features).expanduser() if features else (base / "X_sparsity.csv" if base else None)
    lpath = Path(labels).expanduser() if labels else (base / "y_sparsity.npy" if base else None)
    if fpath is None or lpath is None:
        raise DataNotFoundError(f"data(nhanes): no files given; {_NHANES_HELP}")
    for p in (fpath, lpath):
        if not p.is_file():
            raise DataNotFoundError(f"data(nhanes): '{p}' does not exist; {_NHANES_HELP}")
    x, names = _read_features(fpath, index_col)
    y = _read_labels(lpath)
    if len(y) != len(x):
        raise DataNotFoundError(f"data(nhanes): {len(x)} feature rows but {len(y)} labels; {_NHANES_HELP}")
    if n_train + n_val >= len(x):
        raise DataNotFoundError(f"data(nhanes): n_train + n_val = {n_train + n_val} leaves no test subjects "
                                f"out of {len(x)}")
    idx = np.arange(len(x))
    tv, test = train_test_split(idx, train_size=n_train + n_val, random_state=rep)
    train, val = train_test_split(tv, train_size=n_train, random_state=rep)
    splits = {"train": train, "val": val, "test": test, "all": idx}
    return _tabular("nhanes", x, y, splits, split, names, rep=rep, classes=["alive", "died"])
