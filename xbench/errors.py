"""Exceptions xbench raises on purpose; the CLI turns them into one-line messages (exit code 2)."""

from __future__ import annotations


class XBenchError(Exception):
    """Base class: an error whose message is meant for the user, printed without a traceback."""


class SuiteError(XBenchError):
    """A suite file is malformed. ``problems`` holds one line per problem, each naming the field path."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class UnknownNameError(XBenchError, KeyError):
    """A name is not in a registry; the message suggests the closest valid name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ParamError(XBenchError, ValueError):
    """A parameter of a method, metric, dataset or model is unknown, of the wrong type, or out of range."""


class DataNotFoundError(XBenchError, FileNotFoundError):
    """A dataset path is missing, empty or in the wrong format; the message says how to provide it."""


class NotHomogeneousError(XBenchError, ValueError):
    """A model is not nonnegatively homogeneous; the message names the offending layer."""
