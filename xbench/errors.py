"""Exceptions xbench raises on purpose; the CLI turns them into one-line messages (exit code 2)."""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b", "\x00": "\\x00"}


def one_line(text: str) -> str:
    """``text`` safe to print as one terminal line: every character that would break the line (newline, CR,
    U+0085, U+2028, ...), drive the terminal (NUL, ESC, other controls, bidi overrides) or fail to encode (a lone
    surrogate) is written as its Python escape (``\\n``, ``\\x1b``, ``\\u2028``, ``\\ud800``); tabs stay."""
    out = []
    for c in text:
        if c != "\t" and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(_NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"))
        else:
            out.append(c)
    return "".join(out)


def error_lines(err: BaseException) -> list[str]:
    """The lines the user sees for ``err``: one per problem of a :class:`SuiteError`, else one, each escaped by
    :func:`one_line` (a name holding a newline never splits a problem over two lines)."""
    problems = err.problems if isinstance(err, SuiteError) else [str(err)]
    return [one_line(p) for p in problems] or [""]


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
