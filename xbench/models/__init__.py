"""Models: a registry of factories (``create``/``list_models``), to-X conversion and homogeneity checks."""

from . import cifar, digits, efficientnet, imagenet, synthetic, tabular, user  # noqa: F401  (import registers models)
from .base import MODELS, available, create, describe, list_models
from .homogeneity import homogeneity_error, is_homogeneous, non_homogeneous_layers, to_x

__all__ = ["MODELS", "available", "create", "describe", "homogeneity_error", "is_homogeneous", "list_models",
           "non_homogeneous_layers", "to_x"]
