"""Evaluation metrics: plain functions returning per-sample tensors, plus the registry the runner uses."""

from . import axioms, model_eval, perturbation  # noqa: F401  (import registers the metrics)
from . import timing as _timing  # noqa: F401
from .axioms import completeness
from .base import METRICS, CellContext, MetricOutput, available, describe, register
from .perturbation import deletion, insertion
from .timing import timing

__all__ = ["METRICS", "CellContext", "MetricOutput", "available", "completeness", "deletion", "describe",
           "insertion", "register", "timing"]
