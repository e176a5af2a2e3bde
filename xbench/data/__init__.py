"""Datasets: a registry of splits that yield normalised tensors (see :mod:`xbench.data.base`)."""

from . import digits, images, photos, synthetic, tabular  # noqa: F401  (import registers the datasets)
from .base import DATASETS, ServedModel, XDataset, available, create, describe

__all__ = ["DATASETS", "ServedModel", "XDataset", "available", "create", "describe"]
