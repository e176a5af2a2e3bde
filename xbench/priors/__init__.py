"""Training with attribution priors (paper A §4.3): differentiable attributions, priors, protocol, report.

``run_priors(suite)`` is the entry point (``python -m xbench train-prior SUITE``); the built-in
suites are listed by :func:`list_prior_suites`.
"""

from .attributions import PRIOR_METHODS, prior_attribution
from .penalties import PENALTIES, gini, smoothness, sparsity, total_variation
from .run import run_priors
from .suite import PriorSuite, list_prior_suites, load_prior_suite, parse_prior_suite

__all__ = ["PENALTIES", "PRIOR_METHODS", "PriorSuite", "gini", "list_prior_suites", "load_prior_suite",
           "parse_prior_suite", "prior_attribution", "run_priors", "smoothness", "sparsity", "total_variation"]
