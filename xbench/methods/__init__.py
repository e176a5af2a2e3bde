"""Attribution methods: a registry of ``fn(model, inputs, target, **params)`` and :func:`attribute`."""

from . import adaptive_path, captum_any, captum_methods, gradient, path, refined  # noqa: F401  (import registers)
from .base import FROM_BASELINE, METHODS, attribute, available, describe, path_end, path_start, register

__all__ = ["FROM_BASELINE", "METHODS", "attribute", "available", "describe", "path_end", "path_start", "register"]
