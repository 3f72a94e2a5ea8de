"""``path_exists = "/mnt/backup"``: a file, folder or mounted volume is there.

Mounting and unmounting wake the check at once (the engine follows the mount table);
a plain file appearing is noticed at the next look, every :attr:`PathExists.recheck`
seconds while a run waits on it.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Annotated, Any

from pydantic import AfterValidator

from ..places import expand, problem
from .base import MET, Condition, Facts, Verdict

__all__ = ["PathExists"]

#: Where the folders that drives are mounted on are listed, and what is mounted now.
FSTAB = "/etc/fstab"
MOUNTS = "/proc/self/mounts"
#: How long a look at the path is waited for (seconds) before it counts as unknown.
LOOK_WAIT = 1.0


def _usable(v: str) -> str:
    if not v.strip():
        raise ValueError("empty; give a path, e.g. \"/mnt/backup\"")
    why = problem(v, look=False)  # a drive that does not answer holds up no config
    if why:
        raise ValueError(f"{v!r} {why}")
    return v


class PathExists(Condition):
    key = "path_exists"
    annotation = Annotated[str, AfterValidator(_usable)]
    description = ('Only while this file, folder or mounted volume is there, e.g. '
                   '"/mnt/backup" (`~` and $VARIABLES are expanded).')
    recheck = 30.0

    def check(self, value: Any, facts: Facts, now: float) -> Verdict:
        found = _look(expand(value))
        if found is None:
            return Verdict(None, f"whether {value} is there unknown: the drive it is on "
                                 f"does not answer (a network drive whose server is gone "
                                 f"or slow?)")
        if found == "absent":
            return Verdict(False, f"{value} is not there")
        if found == "unmounted":
            return Verdict(False, f"{value} is not mounted (its drive is not plugged in?)")
        return MET

    def describe(self, value: Any) -> str:
        return f"{value} is there"


_looks: dict[str, threading.Event] = {}  # path -> the look at it under way
_found: dict[str, str] = {}
_looks_lock = threading.Lock()


def _look(path: str) -> str | None:
    """``"there"``, ``"absent"`` or ``"unmounted"``; None when the file system does not
    answer within :data:`LOOK_WAIT` (a network drive whose server is gone: looking at a
    path on it waited as long, on the engine's thread, and the jobs file that named it
    could not even be read). The look goes on in a thread of its own; while it hangs,
    the next checks start none of their own and wait for nothing."""
    with _looks_lock:
        done = _looks.get(path)
        started = done is None
        if started:
            done = _looks[path] = threading.Event()

            def look() -> None:
                try:
                    _found[path] = _state(path)
                finally:
                    done.set()
            threading.Thread(target=look, name="trayjobs-path-exists", daemon=True).start()
    if not done.wait(LOOK_WAIT if started else 0):
        return None
    with _looks_lock:
        if _looks.get(path) is done:
            del _looks[path]
        return _found.pop(path, None) or "absent"


def _state(path: str) -> str:
    if not os.path.exists(path):
        return "absent"
    real = os.path.realpath(path)
    # The folder fstab mounts a drive on is there, empty, without the drive. (A bind
    # mount within one file system is told by the mount table alone.)
    if real in _mount_points(FSTAB) and not (os.path.ismount(real)
                                             or real in _mount_points(MOUNTS)):
        return "unmounted"
    return "there"


def _mount_points(table: str) -> set[str]:
    """The folders ``table`` (fstab's format) mounts something on (none when it cannot be
    read)."""
    try:
        with open(table, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    points = set()
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and not fields[0].startswith("#") and fields[1].startswith("/"):
            # fstab writes a space in a name as \040, a tab as \011
            points.add(os.path.normpath(re.sub(r"\\([0-7]{3})",
                                               lambda m: chr(int(m[1], 8)), fields[1])))
    return points
