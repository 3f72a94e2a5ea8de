"""Which folders trayjobs may act in: the one place that decides what is too dangerous.

A cleanup location, a watched folder and an import's ``processed_dir`` / ``failed_dir``
all pass :func:`danger`. It refuses the filesystem root, the home folder itself (or any
folder holding it), the operating system's own folders and the shared folders such as
``/var`` or ``/home``. The comparison is by *identity* (device and inode), not by the
path's spelling: a bind mount of ``/`` or ``/etc`` elsewhere, or a link to them, is the
same folder and is refused the same way; a folder is a system folder when it or any of
its parents is one.

A path that cannot be resolved at all (a symlink loop, a link the user may not read such
as ``/proc/1/cwd``, a NUL byte in the name) is reported, never raised: one job's odd
folder must not make the whole jobs file unusable. Relative paths are refused: the
processes that run jobs have no meaningful current folder to take them in.
"""

from __future__ import annotations

import errno
import os
import re
import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, NamedTuple

from pydantic import ValidationError
from pydantic_core import InitErrorDetails

__all__ = ["Real", "danger", "expand", "mount_points", "problem", "realpath", "refusal",
           "recording", "relative", "still_true"]

# These folders and everything below them belong to the system.
SYSTEM_TREES = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
    "/run", "/sbin", "/sys", "/usr", "/System", "/private/etc",
    "C:\\Windows", "C:\\Program Files", "C:\\Program Files (x86)", "C:\\ProgramData",
)
# These folders hold other people's or the system's data: refused themselves,
# while a folder inside them (``/var/tmp/exports``) is fine.
SHARED_FOLDERS = (
    "/var", "/var/tmp", "/tmp", "/opt", "/srv", "/mnt", "/media", "/root", "/snap",
    "/home", "/Users", "/Library", "/Applications", "/Volumes", "/private",
    "/private/var", "/private/tmp", "C:\\Users",
)
# Errors that only say the folder is not there (yet): its path still resolves as far as
# it goes, and whoever uses it reports it missing or unavailable when it acts.
_ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EIO, errno.ENODEV, errno.ENXIO,
                     errno.ESTALE})

Ident = tuple[int, int]


class Real(NamedTuple):
    """A resolved path, or why it could not be resolved (then ``path`` is None)."""
    path: str | None
    error: str | None = None


def expand(path: str, base: str | None = None) -> str:
    """``path`` with ``~`` and environment variables expanded, made absolute: a relative
    path is taken in ``base`` (the current folder when no base is given)."""
    full = os.path.expandvars(os.path.expanduser(path))
    if base is not None and not os.path.isabs(full):
        full = os.path.join(base, full)
    return os.path.abspath(full)


# -- what validation saw -----------------------------------------------------------------
# Whether a folder is usable or dangerous depends on the file system (links, mounts, the
# home folder), not only on the config's text. A validation done under ``recording()``
# notes every lookup it made, so that its result can be reused (the config cache) only
# while each lookup still gives the same answer (``still_true``).

_seen = threading.local()


@contextmanager
def recording() -> Iterator[list[tuple[str, str, Any]]]:
    """Collect ``(lookup, path, answer)`` for each file system lookup made in the block
    (on this thread)."""
    outer = getattr(_seen, "log", None)
    log: list[tuple[str, str, Any]] = []
    _seen.log = log
    try:
        yield log
    finally:
        _seen.log = outer
        if outer is not None:
            outer.extend(log)


def _noted(lookup: str, path: str, answer: Any) -> Any:
    log = getattr(_seen, "log", None)
    if log is not None:
        log.append((lookup, path, answer))
    return answer


def still_true(log: list[tuple[str, str, Any]]) -> bool:
    """Whether every lookup of ``log`` (from :func:`recording`) gives the same answer now."""
    lookups = {"realpath": _realpath, "ident": _stat_ident}
    try:
        return all(lookups[what](path) == answer for what, path, answer in log)
    except (KeyError, TypeError, ValueError):
        return False


def realpath(path: str) -> Real:
    """The real path of ``path`` (links resolved); never raises.

    A path that does not exist (yet) resolves as far as it goes, as
    ``os.path.realpath`` does; a loop, an unreadable link or an impossible name
    is an error.
    """
    return _noted("realpath", path, _realpath(path))


def _realpath(path: str) -> Real:
    try:
        return Real(os.path.realpath(path, strict=True))
    except OSError as exc:
        if exc.errno not in _ABSENT:
            return Real(None, _reason(exc))
    except ValueError as exc:  # a NUL byte in the name
        return Real(None, f"not a usable path ({exc})")
    try:
        return Real(os.path.realpath(path))
    except OSError as exc:  # e.g. a missing part below a link nobody may read
        return Real(None, _reason(exc))
    except ValueError as exc:
        return Real(None, f"not a usable path ({exc})")


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link in it points back to itself (a loop)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied reading {exc.filename}"
    if exc.errno == errno.ENAMETOOLONG:
        return "the path is too long"
    return exc.strerror or str(exc)


def problem(path: str, *, look: bool = True) -> str | None:
    """Why ``path`` cannot name a folder at all (relative, or unresolvable), or None.
    ``look=False``: only as written, the file system not asked (it may not answer)."""
    if "\0" in path:
        return "cannot be used: it holds a NUL character"
    full = os.path.expandvars(os.path.expanduser(path))
    if not os.path.isabs(full):
        # What was left unexpanded is why, not the way it was written.
        unset = re.match(r"\$(\w+|\{[^}]*\})", full)
        if unset:
            return (f"cannot be used: the variable {unset.group(1).strip('{}')} is not set "
                    f"where trayjobs runs; set it, or write the folder in full")
        if full.startswith("~"):
            return (f"cannot be used: there is no user {full[1:].split('/')[0]!r}; write "
                    f"~/… for a folder in your own home")
        return "is a relative path; write it in full, starting with / or ~"
    if not look:
        return None
    real = realpath(expand(path))
    if real.error:
        return f"cannot be resolved: {real.error}"
    return None


def relative(path: str) -> str | None:
    """Why ``path`` (a job's file or folder, ``~`` expanded, nothing else) cannot be used
    as written: a relative one would be taken in whatever folder trayjobs was started
    from. ``~name`` of no user is left to whoever reads it, which says so."""
    if path.startswith("$"):  # $HOME/work: no shell reads it
        return ("starts with a variable, which is not expanded here; write the path in full, "
                "starting with / or ~")
    if path and not path.startswith("~") and not os.path.isabs(path):
        return "is a relative path; write it in full, starting with / or ~"
    return None


def _ident(path: str) -> Ident | None:
    return _noted("ident", path, _stat_ident(path))


def _stat_ident(path: str) -> Ident | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _key(path: str) -> str:
    return os.path.normcase(os.path.normpath(path))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _lineage(path: str) -> list[str]:
    """``path`` and each of its parents, up to the root."""
    out = [path]
    while os.path.dirname(out[-1]) != out[-1]:
        out.append(os.path.dirname(out[-1]))
    return out


def _idents(paths) -> set[Ident]:
    # Only absolute paths: another system's names (C:\\Windows) are no folder here.
    return {i for i in map(_ident, filter(os.path.isabs, paths)) if i is not None}


def danger(path: str) -> str | None:
    """Why acting in ``path`` would be dangerous, or ``None`` when it is an ordinary folder.

    ``~`` and environment variables are expanded. A relative or unresolvable path is
    dangerous too: nobody can tell what it would name when the job runs.
    """
    why = problem(path)
    if why:
        return why
    real = _key(realpath(expand(path)).path or "")
    lineage = _lineage(real)
    own = _ident(real)
    found = [_ident(p) for p in lineage]   # identity of the folder and of each parent
    if os.path.dirname(real) == real or (own is not None and own == _ident(os.sep)):
        return "is the root of a drive"
    home_real = realpath(os.path.expanduser("~")).path
    if home_real:
        home = _key(home_real)
        home_id = _ident(home)
        if real == home or (own is not None and own == home_id):
            return "is your home folder itself; name a folder inside it"
        if _within(home, real) or (own is not None and own in _idents(_lineage(home)[1:])):
            return "contains your home folder"
    system = _idents(SYSTEM_TREES)
    if (any(_within(real, _key(tree)) for tree in SYSTEM_TREES)
            or any(i is not None and i in system for i in found)):
        return "is a system folder"
    if real in {_key(f) for f in SHARED_FOLDERS} or (own is not None and own in _idents(SHARED_FOLDERS)):
        return "is a shared system folder; name a folder inside it"
    return None


def refusal(model: str, key: str, value: str, why: str, where: str = "") -> ValidationError:
    """A dangerous folder refused as ``key``'s own error (so the message names the key),
    with the opt-in that allows it."""
    error = ValueError(f"{value!r} {why}; set allow_dangerous_location = true{where} if you "
                       f"really mean it")
    return ValidationError.from_exception_data(model, [InitErrorDetails(
        type="value_error", loc=(key,), input=value, ctx={"error": error})])


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes
    out, i = bytearray(), 0
    raw = os.fsencode(field)
    while i < len(raw):
        if raw[i] == 0x5C and i + 3 < len(raw) + 1 and raw[i + 1:i + 4].isdigit():
            out.append(int(raw[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return os.fsdecode(bytes(out))


def mount_points(lines: Iterable[str] | None = None) -> frozenset[str]:
    """Every mount point of this process (from ``/proc/self/mountinfo``); empty where there is none."""
    if lines is None:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
                lines = fh.read().splitlines()
        except OSError:
            return frozenset()
    found = set()
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:
            found.add(_unescape(fields[4]))
    return frozenset(found)
