"""xbench: a benchmark harness for feature attribution (X-Gradient, Split IG, IG, ... and their metrics)."""

__version__ = "0.1.0"


def evaluate(*args, **kwargs):
    """Run methods x metrics on a model and data in Python; see :func:`xbench.api.evaluate`."""
    from .api import evaluate as _evaluate

    return _evaluate(*args, **kwargs)


def __getattr__(name: str):
    # ``xbench.attribute`` and the subpackages are imported on first use, so that ``import xbench.errors``
    # (what a plugin or the CLI's error path needs) does not load torch, Captum and every registry
    if name == "attribute":
        from .methods import attribute

        return attribute
    if name in ("data", "models", "methods", "metrics", "report", "suite", "plugins", "api"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'xbench' has no attribute {name!r}")


__all__ = ["__version__", "attribute", "evaluate"]
