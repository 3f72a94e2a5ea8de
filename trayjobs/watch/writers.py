"""Which files a process still has open for writing, where the system can tell (Linux).

A file that was already in a watched folder when watching began, or whose events the
kernel dropped, comes with no "closed after writing" to wait for: a download that stalls
for longer than the settle time would look complete. ``/proc/PID/fd`` names the files
each process has open and ``/proc/PID/fdinfo/FD`` how (its flags). Only processes this
one may look at are seen (those of the same user; every one as root): elsewhere a file
is complete once its size and time stay the same for the settle time, as before.

Descriptors are matched by the path the kernel gives for them (``readlink``), which is
the file's current name, never by ``stat``: that would reach the file system of every
file any process has open, and a network share or a FUSE mount that stopped answering
would hold the watch thread for as long.
"""

from __future__ import annotations

import os

__all__ = ["open_for_writing"]

_PROC = "/proc"
_WRITE = (os.O_WRONLY, os.O_RDWR)


def _flags(pid: str, fd: str) -> int | None:
    try:
        with open(f"{_PROC}/{pid}/fdinfo/{fd}", encoding="ascii") as f:
            for line in f:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def open_for_writing(paths: set[str]) -> set[str] | None:
    """Those of ``paths`` (absolute, resolved) some process has open for writing; None
    where the system cannot tell."""
    if not paths:
        return set()
    try:
        pids = [p for p in os.listdir(_PROC) if p.isdigit()]
    except OSError:
        return None
    if not pids:
        return None
    found: set[str] = set()
    for pid in pids:
        fd_dir = f"{_PROC}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # ended meanwhile, or another user's
            continue
        for fd in fds:
            try:
                path = os.readlink(f"{fd_dir}/{fd}")  # what the descriptor is open on
            except OSError:
                continue
            if path in paths and path not in found:
                flags = _flags(pid, fd)
                if flags is not None and flags & os.O_ACCMODE in _WRITE:
                    found.add(path)
    return found
