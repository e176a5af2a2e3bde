"""The one rule for file paths written in a suite: relative to the suite file.

A relative path in a suite file (``models[i].path``, ``models[i].weights`` when it names a file, ``data.root``,
``plugins``) is read relative to the folder holding that suite file, so a suite runs the same from any current
folder.  A path given on the command line (``--set``, ``--data-root``, ``--plugin``) is relative to the current
folder, as a shell user expects; so are the paths of a built-in suite (it has no folder of its own).  ``~`` and
``~user`` are expanded everywhere.  Every error names the field and the resolved path.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ParamError


def expand_path(value: str, where: str, base: str | Path | None = None) -> Path:
    """``value`` as a path: ``~`` expanded, then (when relative and ``base`` is given) joined to ``base``.

    Raises :class:`ParamError` (one line naming ``where``) for a name the operating system cannot hold
    (a NUL byte, a lone surrogate) or a ``~user`` with no such user; nothing on disk is checked."""
    try:
        os.fsencode(value)  # the OS cannot represent a NUL or a lone surrogate: every later stat would raise
        if "\x00" in value:
            raise ValueError("embedded NUL")
    except (UnicodeEncodeError, ValueError):
        raise ParamError(f"{where}: {value!r} is not a valid file name (it holds a NUL byte or a character the "
                         "file system cannot encode)") from None
    path = Path(value)
    if value.startswith("~"):
        try:
            path = path.expanduser()
        except RuntimeError:
            user = value[1:].split("/", 1)[0].split("\\", 1)[0]
            raise ParamError(f"{where}: '{value}': cannot expand '~{user}' (no such user on this machine); give an "
                             "absolute path") from None
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path
