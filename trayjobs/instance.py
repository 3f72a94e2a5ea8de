"""One consumer per home: the process that runs jobs holds a lock file.

The app and ``trayjobs worker`` take it; the CLI looks at it to decide whether
to hand a run to the running process or to run it itself.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .paths import Home

__all__ = ["InstanceLock", "AlreadyRunning"]


class AlreadyRunning(Exception):
    def __init__(self, pid: int | None, mode: str | None):
        self.pid, self.mode = pid, mode
        what = {"app": "the trayjobs app", "worker": "a trayjobs worker"}.get(mode or "", "trayjobs")
        super().__init__(f"{what} is already running for this home (pid {pid})")


class InstanceLock:
    def __init__(self, home: Home) -> None:
        self.path: Path = home.data_dir / "trayjobs.lock"
        self._fd: int | None = None

    def acquire(self, mode: str, *, wait: float = 2.0) -> None:
        """Take the lock, waiting up to ``wait`` seconds for a process that is letting go
        (a child forked an instant before the last owner stopped holds it until it execs)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                pid, held_mode = self.owner()
                raise AlreadyRunning(pid, held_mode)
            time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {mode}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def lost(self) -> bool:
        """Whether the lock held is no longer the file at its path: deleted (alone, or with
        the data folder) or replaced. Other processes then see no lock, so neither this
        process nor that it runs jobs. The held file stays open, so its inode cannot be
        given to a new file meanwhile: a new file at the path is always told apart."""
        if self._fd is None:
            return False
        try:
            now = os.stat(self.path)
        except OSError:
            return True
        held = os.fstat(self._fd)
        return (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino)

    def owner(self) -> tuple[int | None, str | None]:
        try:
            pid, mode = self.path.read_text().split()
            return int(pid), mode
        except (OSError, ValueError):
            return None, None

    def is_locked(self) -> bool:
        """True if some process (possibly this one) holds the lock."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR)
        except (FileNotFoundError, NotADirectoryError):  # no folder, or a file in its place
            return False
        try:
            if _try_lock(fd):
                return False
            return True
        finally:
            os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False
