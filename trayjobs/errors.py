"""Errors a user can act on, each with one type.

A :class:`UserError` carries a message written for the person using the app:
what went wrong and what to do. Anything else escaping the core is a bug.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import unicodedata
from typing import Any

__all__ = [
    "UserError",
    "ConfigError",
    "JobFailed",
    "Cancelled",
    "StoreBusy",
    "StoreUnreachable",
    "StoreDamaged",
    "StoreFull",
    "sqlite_damaged",
    "unseen",
]


class UserError(Exception):
    """Something the user can fix; ``str(exc)`` is shown as is."""


class ConfigError(UserError):
    """A problem in the config file, located as precisely as we can."""

    def __init__(self, message: str, *, file: str | None = None, job: str | None = None,
                 key: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.job = job
        self.key = key
        self.line = line
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.file:
            where.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.job:
            where.append(f"job '{_cut(_escaped(self.job))}'")
        if self.key:  # a key of the file's own, such as a parameter's name
            where.append(f"key '{_cut(_escaped(self.key))}'")
        prefix = ", ".join(where)
        # A value quoted in the message is the file's: escaped as the key is.
        message = _cut(_escaped(self.message))
        return f"{prefix}: {message}" if prefix else message


_BIDI_CONTROLS = frozenset({"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})


def unseen(c: str) -> bool:
    """Whether ``c`` is a control character: C0/C1 controls and the bidi overrides."""
    return unicodedata.category(c) == "Cc" or unicodedata.bidirectional(c) in _BIDI_CONTROLS


def _escaped(text: str) -> str:
    """``text`` with control characters escaped: printed as they are, they would move the
    cursor, recolour the terminal or turn the line around."""
    return "".join(ascii(c)[1:-1] if unseen(c) else c for c in text)


#: Longer runs of characters without a space (a value pasted by mistake, megabytes of it)
#: are shown cut in the middle, so that what to write instead, after them, is seen.
_LONGEST_RUN = 200
_LONG_RUN = re.compile(rf"\S{{{_LONGEST_RUN + 1},}}")


def _cut(text: str) -> str:
    return _LONG_RUN.sub(lambda m: f"{m.group()[:120]}…{m.group()[-30:]}", text)


class JobFailed(UserError):
    """Raised by job code for an expected failure: no traceback is shown.

    ``retry=False`` says another attempt cannot help (e.g. a malformed file),
    so the run fails at once instead of spending its retry budget. ``result`` is what the
    run did before it failed (an import's outcome per file, the files it moved), kept with
    the failed run like a successful run's result, so that a retry or an undo can act on it.
    """

    def __init__(self, message: str, *, retry: bool = True,
                 result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.result = result


class Cancelled(Exception):
    """Raised inside job code by ``ctx.check_cancelled()`` once a cancel was asked for."""


class StoreBusy(UserError):
    """The run database stayed locked by another program for too long."""


class StoreUnreachable(StoreBusy):
    """The run history's server (PostgreSQL) does not answer: it is down, or this machine
    cannot reach it. ``where``: its ``host:port``. The engine keeps going on what it has
    (see :mod:`trayjobs.engine.spool`) and reconnects; a command fails with the message."""

    def __init__(self, message: str, *, where: str = "") -> None:
        super().__init__(message)
        self.where = where


class StoreDamaged(UserError):
    """The run history's SQLite file is damaged (or is no database): nothing can be read
    from it or added to it until it is moved out of the way."""


class StoreFull(StoreUnreachable):
    """The disk that holds the run history's SQLite file has no room left for a change.
    The engine rides it out as it does a history it cannot reach (its runs' ends kept,
    no run started, tried again each heartbeat); a command fails with the message."""


def sqlite_full(exc: BaseException, folder) -> bool:
    """Whether SQLite could not write for want of room on the disk that holds ``folder``:
    it says "database or disk is full", or only "disk I/O error" when it cannot make the
    files it keeps beside the database there."""
    code = getattr(exc, "sqlite_errorcode", None) or 0
    if code == sqlite3.SQLITE_FULL:
        return True
    return code & 0xFF == sqlite3.SQLITE_IOERR and disk_full(folder)


def disk_full(folder, *, room: int = 256 * 1024) -> bool:
    """Whether the disk that holds ``folder`` has less than ``room`` bytes free (False when
    that cannot be told)."""
    try:
        return shutil.disk_usage(folder).free < room
    except OSError:
        return False


def sqlite_damaged(exc: BaseException) -> bool:
    """Whether SQLite found its file damaged, or no database at all."""
    return isinstance(exc, sqlite3.DatabaseError) and getattr(
        exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
