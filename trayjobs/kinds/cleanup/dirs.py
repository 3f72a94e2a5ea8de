"""Reaching folders so that a link or a mount can never lead an action elsewhere.

A run opens each of its trusted folders once (the locations, resolved when
the run starts, and each destination's fixed part) and reaches every other
folder from one of them one name at a time with ``O_NOFOLLOW``: a folder
swapped for a link, or a file in the way, makes that open fail, so the
action that needed it fails instead of acting through the link. Below a
location, a folder on another filesystem (a mount point) is refused too.
Actions then work on the opened folder's descriptor (``dir_fd=``), never on
a path that could be re-resolved in between.
"""

from __future__ import annotations

import errno
import os

from ...places import mount_points
from ...textfmt import path_text as display  # ``display`` is how the cleanup modules name it

__all__ = ["Changed", "Folders", "LinkInTheWay", "MountInTheWay", "crosses_mount", "mount_points", "display"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = _DIR | os.O_NOFOLLOW


class LinkInTheWay(OSError):
    """A folder on the way is a link (or not a folder) now: acting through it could reach elsewhere."""

    def __init__(self, path: str, what: str = "a link, not a folder",
                 then: str = "not followed") -> None:
        super().__init__(errno.ELOOP, f"{display(path)} is {what}; {then}", path)


class Changed(OSError):
    """The name now holds another file than the one scanned (replaced meanwhile): left alone."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ESTALE, "changed since it was scanned", path)


class MountInTheWay(OSError):
    """A folder on the way is on another filesystem: a mount point is never crossed."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.EXDEV, f"{display(path)} is a mount point; not crossed", path)



def _mount_id(fd: int) -> int | None:
    """The mount the open ``fd`` is on (Linux tells it in ``/proc/self/fdinfo``); None elsewhere."""
    try:
        info = os.open(f"/proc/self/fdinfo/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        text = os.read(info, 4096)
    except OSError:
        return None
    finally:
        os.close(info)
    for line in text.splitlines():
        if line.startswith(b"mnt_id:"):
            return int(line.split()[1])
    return None


def crosses_mount(parent_fd: int, child_fd: int) -> bool:
    """Is the open folder ``child_fd`` on another mount than ``parent_fd``, the folder it is in?
    A bind mount of a folder of the same filesystem keeps the device number (``st_dev``) and
    is told only by its mount; one made while a run goes on is not among those it found first."""
    parent = _mount_id(parent_fd)
    return parent is not None and parent != _mount_id(child_fd)


def _parts(rel: str) -> list[str]:
    return [p for p in rel.split(os.sep) if p and p != "."]


def open_below(base_fd: int, base: str, rel: str, *, create: bool = False, dev: int | None = None,
               made: list[str] | None = None) -> int:
    """Open the folder ``rel`` below the open folder ``base_fd`` (at ``base``) without following links.

    With ``create``, missing folders are made (and listed in ``made``); with
    ``dev``, every folder on the way must be on that filesystem.
    """
    fd = os.dup(base_fd)
    here = base
    try:
        for part in _parts(rel):
            if part == "..":
                raise LinkInTheWay(os.path.join(here, part), "a way up")
            here = os.path.join(here, part)
            try:
                nfd = os.open(part, _NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)
                    if made is not None:
                        made.append(here)
                except FileExistsError:
                    pass
                nfd = _open_checked(part, fd, here)
            except OSError as exc:
                raise _why(exc, here) from None
            crossed = dev is not None and (os.fstat(nfd).st_dev != dev or crosses_mount(fd, nfd))
            os.close(fd)
            fd = nfd
            if crossed:
                raise MountInTheWay(here)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _open_checked(part: str, fd: int, here: str) -> int:
    try:
        return os.open(part, _NOFOLLOW, dir_fd=fd)
    except OSError as exc:
        raise _why(exc, here) from None


def _why(exc: OSError, here: str) -> OSError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # Linux says either for a link opened O_NOFOLLOW
        return LinkInTheWay(here, "a link, not a folder" if os.path.islink(here) else "not a folder")
    return exc


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class Folders:
    """A run's trusted folders, opened once, and the way to every folder below them.

    ``open`` takes an absolute path inside one of the bases and returns a new
    descriptor the caller closes (or use :meth:`at` as a context manager).
    Paths outside every base are refused, unless a ``fallback`` base (``/``
    for undo, whose journal paths were real when the run wrote them) was given.
    """

    def __init__(self, *, fallback: str | None = None) -> None:
        self._bases: dict[str, tuple[int, int | None]] = {}
        self._fallback = fallback

    def add(self, path: str, *, same_device: bool = True) -> None:
        """Trust ``path`` (already resolved; links in it were the user's own choice)."""
        if path in self._bases:
            return
        fd = os.open(path, _DIR)
        self._bases[path] = (fd, os.fstat(fd).st_dev if same_device else None)

    def adopt(self, path: str, fd: int) -> None:
        """Trust the folder ``path``, opened already as ``fd`` (kept, closed with the rest):
        below it no mount point is crossed."""
        if path in self._bases:
            os.close(fd)
            return
        self._bases[path] = (fd, os.fstat(fd).st_dev)

    def base_of(self, path: str) -> str | None:
        best = None
        for base in self._bases:
            if _within(path, base) and (best is None or len(base) > len(best)):
                best = base
        return best

    def open(self, path: str, *, create: bool = False, made: list[str] | None = None) -> int:
        base = self.base_of(path)
        if base is None:
            if self._fallback is None:
                raise LinkInTheWay(path, "outside the folders this run may act in")
            self.add(self._fallback, same_device=False)
            base = self._fallback
        fd, dev = self._bases[base]
        return open_below(fd, base, os.path.relpath(path, base), create=create, dev=dev, made=made)

    def at(self, path: str, *, create: bool = False, made: list[str] | None = None) -> "_At":
        return _At(self.open(path, create=create, made=made))

    def close(self) -> None:
        for fd, _ in self._bases.values():
            os.close(fd)
        self._bases.clear()

    def __enter__(self) -> "Folders":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _At:
    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> int:
        return self.fd

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
