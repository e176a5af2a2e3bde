"""Attribution methods: a registry of ``fn(model, inputs, target, **params)`` and :func:`attribute`."""

from . import adaptive_path, captum_any, captum_methods, gradient, path, refined  # noqa: F401  (import registers)
from .base import FROM_BASELINE, METHODS, attribute, available, describe, path_end, path_start, register

__all__ = ["FROM_BASELINE", "METHODS", "attribute", "available", "describe", "path_end", "path_start", "register",
           "release_caches"]


def release_caches() -> None:
    """Empty the methods' per-process result caches (the Split IG families); a runner calls it when it is done
    with a model, so one network's cached sums never share memory with the next one's work."""
    from .split_family import CACHE

    CACHE.clear()
