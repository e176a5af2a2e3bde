"""A run directory: the one place that knows how xbench owns, locks, writes and finishes an output folder.

Layout (``xbench run`` and ``xbench train-prior`` alike)::

    .xbench-run.json   marker: this folder is an xbench run (written first, before anything else)
    .xbench-written    journal: one relative path a line of every file xbench wrote here
    .xbench-lock       held while a run writes here (pid and host of the holder)
    run.json           stamp: settings hash, resolved settings, start time, invocation count
    parts/...          one part per unit, first line ``# xbench-part {rows, sha256, settings...}``
    results.csv, manifest.json, report files
    complete           written last: the folder holds a finished run

xbench only ever deletes what the journal (or a part's own header) proves it wrote, and refuses a
non-empty folder without the marker.  Every file is written to a ``.<name>.<random>.xbench.tmp``
beside its target and renamed into place with the mode the umask gives; stale temp files of a killed
run are removed by the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .errors import XBenchError, one_line
from .provenance import now

MARKER = ".xbench-run.json"
JOURNAL = ".xbench-written"
LOCK = ".xbench-lock"
STAMP = "run.json"
COMPLETE = "complete"
TMP_SUFFIX = ".xbench.tmp"
PART_TAG = "# xbench-part "
OWN_FILES = (MARKER, JOURNAL, LOCK)
DEFAULT_OUT = Path("runs")
"""Where runs go without ``--out``: ``runs/<suite name>`` (git-ignored, so a run in a checkout never touches
the committed reference runs under ``results/``)."""


def note(line: str) -> None:
    """One line to the user on stderr, never on a progress bar's line."""
    print(f"xbench: {one_line(line)}", file=sys.stderr, flush=True)


# ---- atomic writes (the only place xbench writes a file) ---------------------------------------------------
def _file_mode() -> int:
    """0666 minus the process umask: what ``open()`` would give a new file (mkstemp's own mode is 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = True) -> None:
    """Call ``write(fh)`` on a temp file beside ``path``, then rename it into place (umask-honouring mode)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` atomically: readers never see half a file."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


def to_json(obj: Any) -> str:
    """Compact, sorted JSON; non-JSON values (tensors included) become a short string."""

    def default(o: Any) -> Any:
        if isinstance(o, torch.Tensor):
            return f"<tensor {tuple(o.shape)}>"
        return str(o)

    return json.dumps(obj, sort_keys=True, default=default, separators=(",", ":"))


def settings_hash(settings: Any) -> str:
    """16 hex digits identifying a settings object (sorted JSON)."""
    return hashlib.sha256(to_json(settings).encode()).hexdigest()[:16]


def changed_fields(old: Any, new: Any, prefix: str = "") -> list[str]:
    """``field: old -> new`` for every leaf that differs between two JSON-like objects (dotted paths)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += changed_fields(old.get(k, "<absent>"), new.get(k, "<absent>"), f"{prefix}{k}.")
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [c for i, (a, b) in enumerate(zip(old, new)) for c in changed_fields(a, b, f"{prefix}{i}.")]
    if to_json(old) != to_json(new):
        return [f"{prefix.rstrip('.')}: {to_json(old)} -> {to_json(new)}"]
    return []


# ---- output folder checks -----------------------------------------------------------------------------------
def check_out_path(path: str | Path) -> Path:
    """Refuse, with one line, an output folder that cannot be a run directory; returns it resolved.

    Refused: the current folder or one of its parents (a run there could never be told apart from the
    user's files), an existing non-directory (or a path through one), and a folder xbench cannot write.
    """
    from .paths import expand_path

    p = expand_path(str(path), "--out")  # a NUL, a lone surrogate, a ~user with no such user: one line
    where = p.resolve()
    cwd = Path.cwd().resolve()
    if where == cwd or where in cwd.parents:
        raise XBenchError(f"--out: '{path}' is the current folder or one of its parents; give a folder of its own "
                          "(default: runs/<suite name>)")
    probe = where
    while not probe.exists():
        probe = probe.parent
    if probe != where or not where.is_dir():
        if not probe.is_dir():
            raise XBenchError(f"--out: '{path}': '{probe}' exists and is not a directory; give a folder path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise XBenchError(f"--out: '{path}' is not writable ('{probe}' is read-only here); give a writable folder")
    return where


def write_problem(path: Path, err: OSError, root: Path | None = None) -> str:
    """One line for a failed write: the file, the system's reason and what to do (the finished parts are safe:
    every write is atomic, so a full disk or a read-only folder leaves no half-written file)."""
    import errno

    target = Path(err.filename) if isinstance(err.filename, str) else Path(path)
    where = target
    with contextlib.suppress(ValueError):
        where = target.relative_to(root) if root is not None else target
    if target.name.endswith(TMP_SUFFIX):  # the temp file beside the target: name the target
        where = Path(path)
        with contextlib.suppress(ValueError):
            where = where.relative_to(root) if root is not None else where
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "free some space"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"make '{target if target.is_dir() else target.parent}' writable"
    else:
        fix = "fix that"
    return (f"cannot write {where}: {err.strerror or type(err).__name__}; nothing written is damaged: {fix} and "
            "run the same command again to continue")


@contextlib.contextmanager
def writing(path: Path, root: Path | None = None):
    """Turn an ``OSError`` raised inside the block (a full disk, a read-only folder) into one
    :class:`XBenchError` line naming ``path`` (see :func:`write_problem`)."""
    try:
        yield
    except OSError as err:
        raise XBenchError(write_problem(path, err, root)) from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunDir:
    """An xbench output folder: ownership (marker + journal), lock, stamp, parts, atomic writes, completion.

    ``open`` claims the folder (refusing a foreign one), takes the lock, cleans stale temp files and, on a
    fresh start, deletes what a previous run wrote; ``close`` releases the lock.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.stamp: dict[str, Any] = {}
        self._locked = False

    # ---- ownership ------------------------------------------------------------------------------------------
    def is_xbench_run(self) -> bool:
        return (self.path / MARKER).is_file()

    def claim(self) -> None:
        """Make the folder an xbench run: create it (parents too) or accept an empty one or one with our marker."""
        check_out_path(self.path)
        try:
            if self.path.is_dir() and not self.is_xbench_run() and any(self.path.iterdir()):
                raise XBenchError(f"--out: '{self.path}' is not empty and is not an xbench run folder (no {MARKER}); "
                                  "xbench never deletes files it did not write: give a new or empty folder")
            self.path.mkdir(parents=True, exist_ok=True)
            if not self.is_xbench_run():
                atomic_write_text(self.path / MARKER, json.dumps({"xbench_run": 1, "created": now()}) + "\n")
        except OSError as err:
            raise XBenchError(f"--out: '{self.path}' cannot be written ({err.strerror or err}); "
                              "give a writable folder") from None

    def record(self, paths: Iterable[Path]) -> None:
        """Append paths (inside the run folder) to the journal of files xbench wrote here."""
        rels = [os.path.relpath(p, self.path) for p in paths]
        if rels:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(self.path / JOURNAL, "a", encoding="utf-8") as fh:
                fh.write("".join(f"{r}\n" for r in rels))

    def written(self) -> list[Path]:
        """The files the journal proves xbench wrote here (only paths inside the folder)."""
        j = self.path / JOURNAL
        if not j.is_file():
            return []
        root = self.path.resolve()
        out = []
        for line in j.read_text(encoding="utf-8", errors="replace").splitlines():
            p = (self.path / line).resolve() if line and not os.path.isabs(line) else None
            if p is not None and root in p.parents and p.name not in OWN_FILES:
                out.append(p)
        return out

    def clean_written(self) -> int:
        """Delete every file the journal lists and the folders that leaves empty; returns the files deleted."""
        root = self.path.resolve()
        n = 0
        dirs = set()
        for p in self.written():
            if p.is_file() or p.is_symlink():
                p.unlink()
                n += 1
            dirs.update(d for d in p.parents if root in d.parents)
        for d in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        (self.path / JOURNAL).unlink(missing_ok=True)
        return n

    def clean_tmp(self) -> int:
        """Delete temp files a killed xbench process left (``*.xbench.tmp`` only); returns how many."""
        n = 0
        for p in self.path.rglob(f"*{TMP_SUFFIX}"):
            if p.is_file():
                p.unlink(missing_ok=True)
                n += 1
        return n

    # ---- lock -----------------------------------------------------------------------------------------------
    def lock(self) -> None:
        """Take the folder's lock; one line naming the holder if another live run holds it."""
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": now()}
        lock = self.path / LOCK
        for _ in range(3):
            fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".lock.", suffix=TMP_SUFFIX)
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(me))
            try:
                os.link(tmp, lock)  # atomic: fails if the lock exists; the lock is never seen half-written
                self._locked = True
                return
            except FileExistsError:
                pass
            except FileNotFoundError:
                continue  # the holder's start-up cleaned our temp file away: try again
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(tmp)
            try:
                holder = json.loads(lock.read_text())
            except (OSError, ValueError):
                holder = {}
            pid, host = holder.get("pid"), holder.get("host")
            if host == me["host"] and isinstance(pid, int) and not _pid_alive(pid) or not holder:
                lock.unlink(missing_ok=True)  # a dead run's lock (or an unreadable one): take it over
                continue
            raise XBenchError(f"--out: '{self.path}' is in use by another xbench run (pid {pid} on {host}, since "
                              f"{holder.get('since')}); wait for it, give another --out, or delete {LOCK} if that run "
                              "is gone")
        raise XBenchError(f"--out: could not take the lock {lock}; remove it if no run is using the folder")

    def unlock(self) -> None:
        if self._locked:
            (self.path / LOCK).unlink(missing_ok=True)
            self._locked = False

    # ---- lifecycle ------------------------------------------------------------------------------------------
    def open(self, settings: dict[str, Any], resume: bool) -> int:
        """Claim, lock, clean, check the stamp against ``settings`` (on resume) and count this invocation.

        Returns the number of finished parts a resumed run keeps (0 on a fresh start or a new folder)."""
        self.claim()
        with writing(self.path / LOCK, self.path):
            self.lock()
        try:
            self.clean_tmp()
            stamp_path = self.path / STAMP
            old = _read_json(stamp_path) if resume else None
            if old is not None and old.get("settings_hash") != settings_hash(settings):
                diff = changed_fields(old.get("settings"), settings) if "settings" in old else []
                raise XBenchError(f"the suite differs from the one that started the run in '{self.path}' "
                                  f"({'; '.join(diff[:3]) or 'settings changed'}); add --fresh to start over, "
                                  "or give another --out")
            was_complete = (self.path / COMPLETE).exists()
            (self.path / COMPLETE).unlink(missing_ok=True)
            kept = len(self.finished_parts()) if resume else 0
            if not resume:
                self.clean_written()
            elif kept:
                state = "finished" if was_complete else "interrupted"
                note(f"resuming the {state} run in {self.path}: {kept} finished parts are kept, only missing ones "
                     "are computed (--fresh starts over)")
            self.stamp = old or {"settings_hash": settings_hash(settings), "settings": settings, "started": now(),
                                 "invocations": 0}
            self.stamp["invocations"] = int(self.stamp.get("invocations", 0)) + 1  # counted when it starts
            self.write_json(stamp_path, self.stamp)
        except OSError as err:  # cleaning a read-only subfolder, a full disk
            self.unlock()
            raise XBenchError(write_problem(Path(err.filename or self.path), err, self.path)) from None
        except BaseException:
            self.unlock()
            raise
        return kept

    def finished_parts(self) -> list[Path]:
        """The part files the journal lists that still exist (verified later, one by one, by :meth:`part_done`)."""
        parts = (self.path / "parts").resolve()
        return [p for p in self.written() if parts in p.parents and p.suffix == ".csv" and p.is_file()]

    def finish(self) -> None:
        """Write the ``complete`` marker (last of all) and release the lock."""
        self.write_text(self.path / COMPLETE, f"{now()}\n")
        self.unlock()

    # ---- writes (journaled) ---------------------------------------------------------------------------------
    def write_bytes(self, path: Path, data: bytes) -> None:
        with writing(path, self.path):
            self.record([path])
            atomic_write_bytes(path, data)

    def write_text(self, path: Path, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def write_json(self, path: Path, obj: Any) -> None:
        self.write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")

    def write_csv(self, path: Path, df: pd.DataFrame) -> None:
        self.write_text(path, csv_text(df))

    def write_torch(self, path: Path, obj: Any) -> None:
        with writing(path, self.path):
            self.record([path])
            atomic_torch_save(obj, path)

    def journaled(self, produce: Callable[[], Any]) -> Any:
        """Call ``produce()`` (e.g. a report writer that writes files itself) and journal every file it
        created or changed here; returns what it returned."""
        before = self.snapshot()
        try:
            with writing(self.path / "the report", self.path):
                return produce()
        finally:
            self.track_new_files(before)  # journal what it did write, even when it stopped half-way

    def track_new_files(self, since: dict[Path, int], skip: tuple[str, ...] = ("parts",)) -> None:
        """Journal the files created or changed since the :meth:`snapshot` ``since`` (e.g. by a report)."""
        now_files = self.snapshot(skip)
        self.record([p for p, m in now_files.items() if since.get(p) != m])

    def snapshot(self, skip: tuple[str, ...] = ("parts",)) -> dict[Path, int]:
        """{file: mtime_ns} of the folder, leaving out the top-level folders in ``skip`` and xbench's own files."""
        out = {}
        for p in self.path.rglob("*"):
            rel = p.relative_to(self.path).parts
            if rel[0] in skip or p.name in OWN_FILES or not p.is_file():
                continue
            out[p] = p.stat().st_mtime_ns
        return out

    # ---- parts ----------------------------------------------------------------------------------------------
    def write_part(self, path: Path, df: pd.DataFrame, settings: dict[str, Any]) -> None:
        """A part: one header line (row count, body checksum, settings and their hash), then the CSV body."""
        body = csv_text(df).encode("utf-8")
        head = {"rows": len(df), "sha256": hashlib.sha256(body).hexdigest(), "settings_hash": settings_hash(settings),
                "settings": settings}
        self.write_bytes(path, (PART_TAG + to_json(head) + "\n").encode("utf-8") + body)

    def part_problem(self, path: Path, settings: dict[str, Any] | None = None) -> tuple[str | None, list[str]]:
        """(why the part does not verify or None, the settings fields that differ from ``settings``)."""
        head, body, why = _split_part(path)
        if why is not None:
            return why, []
        if settings is not None and head.get("settings_hash") != settings_hash(settings):
            return None, changed_fields(head.get("settings"), settings) or ["settings"]
        return None, []

    def part_done(self, path: Path, settings: dict[str, Any], resume: bool) -> bool:
        """The resume check: whether the part at ``path`` exists, verifies and was computed with ``settings``.

        Without ``resume`` nothing is done (a fresh start deleted the old parts).  A part that does not
        verify is deleted and recomputed (said so in one line); a part from other settings stops the run
        (resume would mix them), naming the fields that changed."""
        if not resume or not path.exists():
            return False
        problem, changed = self.part_problem(path, settings)
        rel = path.relative_to(self.path)
        if changed:
            raise XBenchError(f"{rel} was computed with other settings ({'; '.join(changed[:3])}); "
                              "add --fresh to start over, or give another --out")
        if problem:
            note(f"{rel}: {problem}; recomputing it")
            path.unlink(missing_ok=True)
            return False
        return True

    def merge(self, paths: list[Path], reader: Callable[[str], pd.DataFrame] | None = None,
              columns: list[str] | None = None, progress: bool = False) -> pd.DataFrame:
        """Concatenate the verified parts ``paths`` in that order into ``results.csv`` (atomic); returns it.

        A missing part stops the merge (never a silently shorter result); ``columns`` are those of an
        empty result (no parts)."""
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise XBenchError(f"{len(missing)} of {len(paths)} parts are missing (first: "
                              f"{missing[0].relative_to(self.path)}); run the same command again to compute them")
        if progress:
            note(f"merging {len(paths)} parts into {self.path / 'results.csv'}")
        frames = [self.read_part(p, reader) for p in paths]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
        self.write_csv(self.path / "results.csv", df)
        return df

    def read_part(self, path: Path, reader: Callable[[str], pd.DataFrame] | None = None) -> pd.DataFrame:
        """The rows of a verified part (parsed by ``reader``, default :func:`read_csv_text`); an
        :class:`XBenchError` naming the file if it does not verify."""
        head, body, why = _split_part(path)
        if why is None:
            try:
                df = (reader or read_csv_text)(body.decode("utf-8"))
            except Exception as err:  # noqa: BLE001 - any parse failure is a corrupt part
                why = f"unreadable ({type(err).__name__})"
            else:
                if len(df) == head["rows"]:
                    return df
                why = f"{len(df)} rows where its header says {head['rows']}"
        raise XBenchError(f"{path}: {why}; it was not merged (run the same command again to recompute it)")


def _split_part(path: Path) -> tuple[dict[str, Any], bytes, str | None]:
    try:
        blob = path.read_bytes()
    except OSError as err:
        return {}, b"", f"unreadable ({err.strerror})"
    line, _, body = blob.partition(b"\n")
    if not line.startswith(PART_TAG.encode()):
        return {}, b"", "no xbench part header (cut, empty or not written by this xbench)"
    try:
        head = json.loads(line[len(PART_TAG):].decode("utf-8"))
        rows, digest = int(head["rows"]), str(head["sha256"])
    except (ValueError, KeyError, TypeError):
        return {}, b"", "damaged part header"
    if hashlib.sha256(body).hexdigest() != digest:
        return {}, b"", "checksum mismatch (cut or changed after it was written)"
    return {**head, "rows": rows}, body, None


def csv_text(df: pd.DataFrame) -> str:
    """CSV text with full float precision, so a merge loses nothing."""
    return df.to_csv(index=False, float_format="%.9g")


def read_csv_text(text: str) -> pd.DataFrame:
    """Parse a results CSV (flags as strings, ``nan``/``NaN`` only as missing numbers)."""
    return pd.read_csv(io.StringIO(text), keep_default_na=False,
                       na_values={"value": ["nan", "NaN"], "x": ["nan", "NaN"]}, dtype={"flag": str})


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        out = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return out if isinstance(out, dict) else None
