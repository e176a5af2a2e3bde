"""Evaluation metrics: plain functions returning per-sample tensors, plus the registry the runner uses."""

from . import axioms, faithfulness, fidelity, model_eval, path_logits, perturbation, robustness  # noqa: F401
from . import localisation as _localisation  # noqa: F401  (the function below shadows the module, as timing's)
from . import timing as _timing  # noqa: F401
from .axioms import completeness, ig_distance, sensitivity_axiom, sensitivity_n
from .base import METRICS, CellContext, MetricOutput, available, describe, register, register_metric
from .faithfulness import (
                           faithfulness_correlation,
                           faithfulness_estimate,
                           irof,
                           monotonicity_arya,
                           monotonicity_nguyen,
                           region_perturbation,
                           selectivity,
)
from .fidelity import infidelity
from .localisation import localisation
from .perturbation import abpc, deletion, insertion, keep_remove
from .randomisation import data_randomisation, mprt, random_logit  # (import registers)
from .road import road
from .robustness import avg_sensitivity, max_sensitivity
from .timing import timing

__all__ = ["METRICS", "CellContext", "MetricOutput", "abpc", "available", "avg_sensitivity", "completeness",
           "deletion", "describe", "ig_distance", "infidelity", "insertion", "keep_remove", "localisation",
           "max_sensitivity", "register", "register_metric", "sensitivity_axiom", "sensitivity_n", "timing"]
__all__ += ["data_randomisation", "mprt", "random_logit"]
__all__ += ["faithfulness_correlation", "faithfulness_estimate", "irof", "monotonicity_arya", "monotonicity_nguyen",
            "region_perturbation", "road", "selectivity"]
