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

__all__ = ["InstanceLock", "AlreadyRunning", "LOST_HOME"]

#: What follows from a lost lock (see :meth:`InstanceLock.lost_why`), for whoever held it.
LOST_HOME = ("other trayjobs processes can no longer see it (they look for its lock there), "
             "and what it kept there (the queue, and the run history unless it is on a "
             "server) went with it.")


class AlreadyRunning(Exception):
    def __init__(self, pid: int | None, mode: str | None):
        self.pid, self.mode = pid, mode
        what = {"app": "the trayjobs app", "worker": "a trayjobs worker"}.get(mode or "", "trayjobs")
        super().__init__(f"{what} is already running for this home (pid {pid})")


class InstanceLock:
    def __init__(self, home: Home) -> None:
        self.path: Path = home.data_dir / "trayjobs.lock"
        self._fd: int | None = None
        self._data_id: tuple[int, int] | None = None  # the data folder's, as the lock was taken

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
        self._data_id = _identity(self.path.parent)

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

    def lost_why(self) -> str | None:
        """What became of the lock held, when it is :meth:`lost`: the data folder deleted
        (and perhaps made again, by any trayjobs command since), or the lock file alone."""
        if not self.lost():
            return None
        data = self.path.parent
        now = _identity(data)
        return (f"the data folder {data} was deleted" if now is None else
                f"the data folder {data} was deleted and made again" if now != self._data_id
                else f"its lock file {self.path} was deleted" if not self.path.exists() else
                f"its lock file {self.path} was replaced")

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
        except OSError:  # a read-only folder: a lock is seen all the same
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except OSError:
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


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino
