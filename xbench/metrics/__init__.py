"""Evaluation metrics: plain functions returning per-sample tensors, plus the registry the runner uses."""

from . import axioms, faithfulness, fidelity, model_eval, path_logits, perturbation, robustness, stability  # noqa: F401
from . import complexity as _complexity  # noqa: F401  (shadowed by the function below, as timing's)
from . import localisation as _localisation  # noqa: F401  (the function below shadows the module, as timing's)
from . import roar as _roar  # noqa: F401
from . import timing as _timing  # noqa: F401
from .axioms import completeness, ig_distance, sensitivity_axiom, sensitivity_n
from .base import METRICS, CellContext, MetricOutput, available, describe, register, register_metric
from .complexity import complexity, effective_complexity, sparseness
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
from .roar import roar
from .robustness import avg_sensitivity, max_sensitivity
from .stability import (
                           local_lipschitz_estimate,
                           relative_input_stability,
                           relative_output_stability,
                           relative_representation_stability,
)
from .timing import timing

__all__ = ["METRICS", "CellContext", "MetricOutput", "abpc", "available", "avg_sensitivity", "completeness",
           "complexity", "deletion", "describe", "effective_complexity", "ig_distance", "infidelity", "insertion",
           "keep_remove", "local_lipschitz_estimate", "localisation", "max_sensitivity", "register", "register_metric",
           "relative_input_stability", "relative_output_stability", "relative_representation_stability", "roar",
           "sensitivity_axiom", "sensitivity_n", "sparseness", "timing"]
__all__ += ["data_randomisation", "mprt", "random_logit"]
__all__ += ["faithfulness_correlation", "faithfulness_estimate", "irof", "monotonicity_arya", "monotonicity_nguyen",
            "region_perturbation", "road", "selectivity"]
