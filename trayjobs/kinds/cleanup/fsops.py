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
import stat
import sys

from .dirs import MountInTheWay, crosses_mount, display

PARTIAL_PREFIX = ".trayjobs-partial-"  # never picked up by a scan

__all__ = ["MAX_NESTING", "NAME_MAX", "PARTIAL_PREFIX", "TooDeep", "copy_at", "fit_name", "make_dirs",
           "move_at", "reason", "remove", "remove_at", "removal_problems", "rename_noreplace", "same_tree",
           "temp_beside", "temp_name", "tree_sizes"]

#: Folders nested deeper than this below an item are not gone into (well within Python's recursion limit).
MAX_NESTING = 400


class TooDeep(OSError):
    """A folder holds folders nested deeper than :data:`MAX_NESTING`: left as it is."""

    def __init__(self, name: str) -> None:
        super().__init__(errno.ELOOP, f"it holds folders nested more than {MAX_NESTING} levels deep; "
                                      f"left as it is", name)

class Unreadable(PermissionError):
    """A file to copy may not be read: named by its path inside what is copied."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.EACCES, f"{display(path)} cannot be read (permission denied)")
        self.path = path


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


def rename_noreplace(src: str, dst: str, *, src_dir_fd: int | None = None,
                     dst_dir_fd: int | None = None) -> None:
    """Rename ``src`` to ``dst`` (each relative to its folder descriptor, if given);
    ``FileExistsError`` if ``dst`` exists (never overwrites). Neither name is followed if a link."""
    if "\x00" in src or "\x00" in dst:  # C would cut the name there: another file than meant
        raise OSError(errno.EINVAL, "a name cannot hold a NUL character", src, None, dst)
    if _renameat2 is not None:
        sfd = _AT_FDCWD if src_dir_fd is None else src_dir_fd
        dfd = _AT_FDCWD if dst_dir_fd is None else dst_dir_fd
        if _renameat2(sfd, os.fsencode(src), dfd, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), src, None, dst)
        # the filesystem cannot do it atomically: fall through to check-then-rename
    if _exists(dst, dst_dir_fd):
        raise FileExistsError(errno.EEXIST, "destination exists", dst)
    os.rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)


def _exists(name: str, dir_fd: int | None) -> bool:
    try:
        os.lstat(name, dir_fd=dir_fd)
        return True
    except FileNotFoundError:
        return False


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
    return os.path.join(head, temp_name(tail))


NAME_MAX = 255  # bytes in one name, on every filesystem a desktop uses


def fit_name(stem: str, tail: str = "", *, room: int = NAME_MAX) -> str:
    """``stem + tail`` in at most ``room`` bytes: the stem cut (at a character's edge) when needed,
    so a name made from a long one (a temporary name, a ``.trashinfo``) stays a valid name."""
    head, end = os.fsencode(stem), os.fsencode(tail)
    if len(head) + len(end) <= room:
        return stem + tail
    head = head[:max(room - len(end), 1)]
    while len(head) > 1 and head[-1] & 0xC0 == 0x80:  # inside a UTF-8 character: back to its start
        head = head[:-1]
    if len(head) > 1 and head[-1] >= 0xC0:
        head = head[:-1]
    return os.fsdecode(head + end)


def temp_name(name: str) -> str:
    return fit_name(f"{PARTIAL_PREFIX}{os.getpid()}-{name}")


_SPECIAL = "a pipe, socket or device"


def _kind(st: os.stat_result) -> str:
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISLNK(st.st_mode):
        return "link"
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "special"


def _copy_file_at(src_fd: int, name: str, dst_fd: int, dst: str, st: os.stat_result) -> None:
    # no wait for a writer if a pipe took the file's place since ``st`` (the run would hang)
    try:
        fin = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=src_fd)
    except PermissionError:
        raise Unreadable(name) from None
    try:
        now = os.fstat(fin)
        if not (os.path.samestat(st, now) and stat.S_ISREG(now.st_mode)):  # its inode may be reused
            raise OSError(errno.ESTALE, "it changed while it was being copied; left where it is", name)
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                       stat.S_IMODE(st.st_mode) | 0o200, dir_fd=dst_fd)
        try:
            with open(fin, "rb", closefd=False) as r, open(fout, "wb", closefd=False) as w:
                shutil.copyfileobj(r, w, 1 << 20)
            os.chmod(fout, stat.S_IMODE(st.st_mode))
            os.utime(fout, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _copy_at(src_fd: int, name: str, dst_fd: int, dst: str, dev: int | None, depth: int = 0) -> None:
    if depth > MAX_NESTING:
        raise TooDeep(name)
    st = os.lstat(name, dir_fd=src_fd)
    kind = _kind(st)
    if kind == "link":
        os.symlink(os.readlink(name, dir_fd=src_fd), dst, dir_fd=dst_fd)
        # with its time, as files and folders are: undo knows a copy by it
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_fd, follow_symlinks=False)
    elif kind == "file":
        _copy_file_at(src_fd, name, dst_fd, dst, st)
    elif kind == "dir":
        if dev is not None and st.st_dev != dev:
            raise MountInTheWay(name)
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_fd)
        try:
            if dev is not None and crosses_mount(src_fd, sub):  # a bind mount keeps st_dev
                raise MountInTheWay(name)
            os.mkdir(dst, 0o700, dir_fd=dst_fd)
            out = os.open(dst, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst_fd)
            try:
                for child in sorted(os.listdir(sub)):
                    try:
                        _copy_at(sub, child, out, child, dev, depth + 1)
                    except Unreadable as exc:
                        raise Unreadable(os.path.join(name, exc.path)) from None
                os.chmod(out, stat.S_IMODE(st.st_mode))
                os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(out)
        finally:
            os.close(sub)
    elif stat.S_ISFIFO(st.st_mode):
        os.mkfifo(dst, stat.S_IMODE(st.st_mode), dir_fd=dst_fd)  # a pipe holds no data: a new one is a copy
    elif not stat.S_ISSOCK(st.st_mode):  # a socket is only a meeting point for a program that is gone
        raise OSError(errno.EINVAL, f"{name} is {_SPECIAL}; not copied")


def copy_at(src_fd: int, name: str, dst_fd: int, dst: str, *, dev: int | None = None) -> None:
    """Copy the file, link or folder ``name`` (in ``src_fd``) to ``dst`` (in ``dst_fd``):
    complete or not at all, never over anything, never through a link, never across a mount
    point below it (with ``dev``); pipes, sockets and devices inside a folder refuse the copy."""
    tmp = temp_name(dst)
    remove_at(dst_fd, tmp, missing_ok=True)
    try:
        _copy_at(src_fd, name, dst_fd, tmp, dev)
        rename_noreplace(tmp, dst, src_dir_fd=dst_fd, dst_dir_fd=dst_fd)
    except BaseException:
        remove_at(dst_fd, tmp, missing_ok=True)
        raise


def move_at(src_fd: int, name: str, dst_fd: int, dst: str, *, dev: int | None = None) -> None:
    """Move ``name`` to ``dst`` (a rename on the same filesystem, else copy then remove; never overwrites)."""
    try:
        rename_noreplace(name, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        problems = removal_problems(src_fd, name, dev=dev)
        if problems:
            raise OSError(errno.EPERM, f"cannot be moved off its drive: {problems[0]}", name)
        before = os.lstat(name, dir_fd=src_fd)
        copy_at(src_fd, name, dst_fd, dst, dev=dev)
        if _changed(before, os.lstat(name, dir_fd=src_fd)) or (
                stat.S_ISDIR(before.st_mode) and not same_tree(src_fd, name, dst_fd, dst)):
            remove_at(dst_fd, dst)  # the copy is not what is there now: the source stays, whole
            raise OSError(errno.EAGAIN, "it changed while it was being copied off its drive; "
                                        "left where it is", name)
        remove_at(src_fd, name)


def _changed(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_dev, a.st_size, a.st_mtime_ns, a.st_ctime_ns) != \
        (b.st_ino, b.st_dev, b.st_size, b.st_mtime_ns, b.st_ctime_ns)


def remove_at(dir_fd: int, name: str, *, missing_ok: bool = False, dev: int | None = None,
              removed: list[str] | None = None, failed: list[tuple[str, OSError]] | None = None,
              _depth: int = 0) -> None:
    """Delete the file, link or whole folder ``name`` in ``dir_fd`` (links removed, never followed).

    A folder is emptied depth first through descriptors; with ``dev`` a mount point below
    it raises before anything in it is touched. With ``failed``, what cannot be removed is
    listed there and the rest carries on (``removed`` lists what went); without, the first
    error raises.
    """
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    if not stat.S_ISDIR(st.st_mode):
        _remove_one(lambda: os.unlink(name, dir_fd=dir_fd), name, removed, failed)
        return
    if dev is not None and st.st_dev != dev:
        raise MountInTheWay(name)
    if _depth > MAX_NESTING:
        raise TooDeep(name)
    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        if not os.path.samestat(st, os.fstat(sub)):
            raise OSError(errno.ESTALE, "changed while it was being removed", name)
        if dev is not None and crosses_mount(dir_fd, sub):  # a bind mount keeps st_dev
            raise MountInTheWay(name)
        for child in os.listdir(sub):
            sub_removed = None if removed is None else []
            sub_failed = None if failed is None else []
            remove_at(sub, child, missing_ok=True, dev=dev, removed=sub_removed, failed=sub_failed,
                      _depth=_depth + 1)
            if removed is not None:
                removed.extend(os.path.join(name, p) for p in sub_removed)
            if failed is not None:
                failed.extend((os.path.join(name, p), e) for p, e in sub_failed)
    finally:
        os.close(sub)
    _remove_one(lambda: os.rmdir(name, dir_fd=dir_fd), name, removed, failed)


def _remove_one(act, name: str, removed: list[str] | None, failed: list[tuple[str, OSError]] | None) -> None:
    try:
        act()
    except FileNotFoundError:
        return
    except OSError as exc:
        if failed is None:
            raise
        failed.append((name, exc))
        return
    if removed is not None:
        removed.append(name)


_FS_IOC_GETFLAGS = 0x80086601 if ctypes.sizeof(ctypes.c_long) == 8 else 0x80046601
_LOCKED_FLAGS = 0x10 | 0x20  # immutable, append-only: nothing in or of them can be removed


def _locked(fd: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import fcntl
        buf = fcntl.ioctl(fd, _FS_IOC_GETFLAGS, b"\0" * 8)
    except OSError:
        return False  # the filesystem keeps no such flags
    return bool(int.from_bytes(buf[:4], sys.byteorder) & _LOCKED_FLAGS)


def removal_problems(dir_fd: int, name: str, *, dev: int | None = None, limit: int = 20) -> list[str]:
    """Why removing ``name`` (and all it holds) from ``dir_fd`` would stop half-way: checked
    before anything is removed, so a delete either can do all it planned or does nothing."""
    problems: list[str] = []

    def writable(fd: int, label: str) -> None:
        if not os.access(".", os.W_OK | os.X_OK, dir_fd=fd):
            problems.append(f"{label}: permission denied (a read-only folder)")
        elif _locked(fd):
            problems.append(f"{label}: marked immutable or append-only")

    def visit(parent: int, child: str, label: str, depth: int = 0) -> None:
        if len(problems) >= limit:
            return
        if depth > MAX_NESTING:
            problems.append(f"{name}: {TooDeep(name).strerror}")
            return
        st = os.lstat(child, dir_fd=parent)
        if not stat.S_ISDIR(st.st_mode):
            if stat.S_ISREG(st.st_mode):
                try:
                    fd = os.open(child, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent)
                except OSError:
                    return
                try:
                    if _locked(fd):
                        problems.append(f"{label}: marked immutable or append-only")
                finally:
                    os.close(fd)
            return
        if dev is not None and st.st_dev != dev:
            problems.append(f"{label}: a mount point (never crossed)")
            return
        try:
            sub = os.open(child, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except OSError as exc:
            problems.append(f"{label}: {reason(exc)}")
            return
        try:
            if dev is not None and crosses_mount(parent, sub):  # a bind mount keeps st_dev
                problems.append(f"{label}: a mount point (never crossed)")
                return
            writable(sub, label)
            try:
                names = os.listdir(sub)
            except OSError as exc:
                problems.append(f"{label}: cannot be listed ({reason(exc)})")
                return
            for n in names:
                visit(sub, n, os.path.join(label, n), depth + 1)
        finally:
            os.close(sub)

    try:
        writable(dir_fd, ".")
        visit(dir_fd, name, name)
    except FileNotFoundError:
        pass
    return [p.replace("./", "", 1) if p.startswith("./") else p for p in problems]


def remove(path: str, *, missing_ok: bool = False) -> None:
    """Delete a file, link or whole folder by path (for trayjobs' own temporary files)."""
    head, tail = os.path.split(path)
    fd = os.open(head or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        remove_at(fd, tail, missing_ok=missing_ok)
    finally:
        os.close(fd)


def same_tree(a_fd: int, a: str, b_fd: int, b: str, *, _depth: int = 0) -> bool:
    """Does folder ``b`` hold what :func:`copy_at` made of folder ``a``: the same names, files
    of the same size and modification time, links to the same targets? Read through no link;
    a tree too deep to tell counts as different."""
    if _depth > MAX_NESTING or not (stat.S_ISDIR(os.lstat(a, dir_fd=a_fd).st_mode)
                                    and stat.S_ISDIR(os.lstat(b, dir_fd=b_fd).st_mode)):
        return False  # a link or a file now, not the folder copied
    fa = os.open(a, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=a_fd)
    try:
        fb = os.open(b, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=b_fd)
        try:
            # a socket is never copied (see _copy_at)
            names = sorted(n for n in os.listdir(fa) if not stat.S_ISSOCK(os.lstat(n, dir_fd=fa).st_mode))
            if names != sorted(os.listdir(fb)):
                return False
            for n in names:
                sa, sb = os.lstat(n, dir_fd=fa), os.lstat(n, dir_fd=fb)
                if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
                    return False
                if stat.S_ISREG(sa.st_mode):
                    if (sa.st_size, sa.st_mtime_ns) != (sb.st_size, sb.st_mtime_ns):
                        return False
                elif stat.S_ISLNK(sa.st_mode):
                    if os.readlink(n, dir_fd=fa) != os.readlink(n, dir_fd=fb):
                        return False
                elif stat.S_ISDIR(sa.st_mode) and not same_tree(fa, n, fb, n, _depth=_depth + 1):
                    return False
            return True
        finally:
            os.close(fb)
    finally:
        os.close(fa)


def tree_sizes(path: str) -> dict[str, int]:
    """Bytes in the files below ``path`` and below each folder in it, from one walk (links
    counted as links, unreadable parts skipped): a size filter on folders asks at every level,
    and a walk per level would read a deep tree once for each folder above each file."""
    own: dict[str, int] = {}
    order = []
    stack = [path]
    while stack:
        folder = stack.pop()
        order.append(folder)
        total = 0
        try:
            with os.scandir(folder) as it:
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
        own[folder] = total
    for folder in reversed(order[1:]):  # each folder comes after its parent: add it up the tree
        own[os.path.dirname(folder)] += own[folder]
    return own


def reason(exc: OSError) -> str:
    """A short human reason for a failed file operation."""
    if isinstance(exc, PermissionError):  # the system's words made plain; a message of our own kept
        own = exc.strerror and exc.strerror != os.strerror(exc.errno)
        if own:
            return exc.strerror
        if exc.errno == errno.EPERM:  # not the permission bits (EACCES), which root passes
            return ("not permitted: it or its folder may be marked immutable or append-only "
                    "(lsattr shows it), or belong to someone else in a shared folder")
        return "permission denied"
    if getattr(exc, "winerror", None) == 32 or exc.errno in (errno.EBUSY, errno.ETXTBSY):
        return "in use"
    if exc.errno == errno.ENAMETOOLONG and exc.strerror == os.strerror(exc.errno):
        return ("its path is longer than the system allows (4096 bytes); move it higher up "
                "to tidy it")
    return exc.strerror or str(exc)
