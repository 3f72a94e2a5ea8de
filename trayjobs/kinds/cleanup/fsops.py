"""File operations that never replace what is already there.

``rename_noreplace`` is the primitive: on Linux it is ``renameat2`` with
``RENAME_NOREPLACE`` (atomic, no window in which another file could be
clobbered); elsewhere, or on filesystems without it, an existence check
followed by a rename. Moves across filesystems copy to a hidden temporary
name beside the target first, so a target is either complete or absent.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys

PARTIAL_PREFIX = ".trayjobs-partial-"  # never picked up by a scan

__all__ = ["PARTIAL_PREFIX", "copy", "make_dirs", "move", "reason", "remove", "rename_noreplace", "temp_beside",
           "tree_size"]

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _load_renameat2():
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


def rename_noreplace(src: str, dst: str) -> None:
    """Rename ``src`` to ``dst``; ``FileExistsError`` if ``dst`` exists (never overwrites)."""
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), src, None, dst)
        # the filesystem cannot do it atomically: fall through to check-then-rename
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "destination exists", dst)
    os.rename(src, dst)


def make_dirs(path: str) -> list[str]:
    """Create ``path`` and missing parents; returns the folders created, outermost first."""
    missing = []
    p = path
    while not os.path.isdir(p):
        missing.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    created = []
    for d in reversed(missing):
        try:
            os.mkdir(d)
            created.append(d)
        except FileExistsError:
            if not os.path.isdir(d):
                raise
    return created


def temp_beside(dst: str) -> str:
    head, tail = os.path.split(dst)
    return os.path.join(head, f"{PARTIAL_PREFIX}{os.getpid()}-{tail}")


def _copy_any(src: str, dst: str) -> None:
    if os.path.isdir(src) and not os.path.islink(src):
        shutil.copytree(src, dst, symlinks=True)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)


def copy(src: str, dst: str) -> None:
    """Copy a file, link or folder to ``dst`` (complete or not at all; never overwrites)."""
    tmp = temp_beside(dst)
    remove(tmp, missing_ok=True)
    try:
        _copy_any(src, tmp)
        rename_noreplace(tmp, dst)
    except BaseException:
        remove(tmp, missing_ok=True)
        raise


def move(src: str, dst: str) -> None:
    """Move ``src`` to ``dst`` (a rename when on the same filesystem; never overwrites)."""
    try:
        rename_noreplace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy(src, dst)
        remove(src)


def remove(path: str, *, missing_ok: bool = False) -> None:
    """Delete a file, link or whole folder (links are removed, never followed)."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        if not missing_ok:
            raise


def tree_size(path: str) -> int:
    """Bytes in the files below ``path`` (links counted as links, unreadable parts skipped)."""
    total = 0
    stack = [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        else:
                            total += e.stat(follow_symlinks=False).st_size
                    except OSError:
                        pass
        except OSError:
            pass
    return total


def reason(exc: OSError) -> str:
    """A short human reason for a failed file operation."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if getattr(exc, "winerror", None) == 32 or exc.errno in (errno.EBUSY, errno.ETXTBSY):
        return "in use"
    return exc.strerror or str(exc)
