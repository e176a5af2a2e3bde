"""Suites: the YAML schema, its validation, and the built-in suites."""

from .loader import builtin_suites, load_suite, read_suite_yaml
from .schema import DataSpec, MethodSpec, MetricSpec, ModelSpec, Suite, parse_suite

__all__ = ["DataSpec", "MethodSpec", "MetricSpec", "ModelSpec", "Suite", "builtin_suites", "load_suite",
           "parse_suite", "read_suite_yaml"]
