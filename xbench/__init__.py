"""xbench: a benchmark harness for feature attribution (X-Gradient, Split IG, IG, ... and their metrics)."""

__version__ = "0.1.0"

from .methods import attribute  # noqa: E402

__all__ = ["__version__", "attribute"]
