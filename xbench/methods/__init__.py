"""Attribution methods: a registry of ``fn(model, inputs, target, **params)`` and :func:`attribute`."""

from . import adaptive_path, captum_any, captum_methods, gradient, path  # noqa: F401  (import registers the methods)
from .base import METHODS, attribute, available, describe, register

__all__ = ["METHODS", "attribute", "available", "describe", "register"]
