"""The freedesktop.org trash, done directly so we know where every file went.

Spec: https://specifications.freedesktop.org/trash-spec/latest/. Files on the
home filesystem go to ``$XDG_DATA_HOME/Trash`` (``~/.local/share/Trash``);
files on other filesystems to ``$topdir/.Trash/$uid`` when an admin made a
sticky ``.Trash`` there, else ``$topdir/.Trash-$uid``. Each trashed item is a
rename into ``files/NAME`` after ``info/NAME.trashinfo`` was created with
``O_EXCL`` (which reserves the name), so both steps are atomic and the
journal can record the exact place to restore from.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes

from .fsops import NAME_MAX, fit_name, make_dirs, rename_noreplace

__all__ = ["TrashBin", "Trashed", "Trasher", "home_trash", "home_trashes", "restore", "release", "trash_holding"]


@dataclass
class Trashed:
    """Where one item went: its file in ``files/`` and its ``.trashinfo``."""

    path: str
    info: str


@dataclass
class TrashBin:
    root: str
    topdir: str | None  # None for the home trash: its info paths are absolute
    _next: dict[str, int] = field(default_factory=dict)

    @property
    def files(self) -> str:
        return os.path.join(self.root, "files")

    @property
    def info(self) -> str:
        return os.path.join(self.root, "info")

    def reserve(self, src: str) -> Trashed:
        """Claim a unique name for ``src`` by creating its ``.trashinfo``."""
        name = os.path.basename(src)
        stem, suffix = os.path.splitext(name)
        rel = src if self.topdir is None else os.path.relpath(src, self.topdir)
        body = (f"[Trash Info]\nPath={quote(os.fsencode(rel), safe='/')}\n"
                f"DeletionDate={time.strftime('%Y-%m-%dT%H:%M:%S')}\n").encode()
        # a counter per name keeps a trash full of "notes.txt" from costing a probe per copy
        n = self._next.get(name, 1)
        if len(os.fsencode(suffix)) > NAME_MAX // 2:  # no extension worth keeping whole
            stem, suffix = name, ""
        while True:
            # NAME.trashinfo must be a valid name too: a long stem is cut (Path= keeps it whole)
            candidate = fit_name(stem, ("" if n == 1 else f".{n}") + suffix,
                                 room=NAME_MAX - len(".trashinfo"))
            info = os.path.join(self.info, candidate + ".trashinfo")
            try:
                fd = os.open(info, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                n += 1
                continue
            try:
                os.write(fd, body)
            finally:
                os.close(fd)
            target = os.path.join(self.files, candidate)
            if os.path.lexists(target):  # left over by another program: keep looking
                os.unlink(info)
                n += 1
                continue
            self._next[name] = n + 1
            return Trashed(target, info)


def home_trash() -> str:
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data, "Trash")


def home_trashes() -> tuple[str, ...]:
    """The real paths of the home trash, and of the default one when ``XDG_DATA_HOME``
    points elsewhere (programs that do not read it still use that one)."""
    return tuple(dict.fromkeys(os.path.realpath(p) for p in (
        home_trash(), os.path.expanduser("~/.local/share/Trash"))))


#: Trash folders by name: a drive's (``.Trash``, ``.Trash-$uid``), macOS's (``~/.Trash``,
#: ``.Trashes``) and Windows' (``$RECYCLE.BIN``).
_TRASH_NAMES = frozenset({".Trash", ".Trashes", "$RECYCLE.BIN"})


def trash_holding(path: str) -> str | None:
    """The trash folder that the real path ``path`` is (or lies in), or None.

    Tidying a trash (or moving files into one) throws away what it keeps to put
    files back, and the trash's own records with it. The home trash is known by
    its path, also the default one when ``XDG_DATA_HOME`` points elsewhere (other
    programs may not read it); a drive's by its folder's name.
    """
    homes = set(home_trashes())
    folder = path
    while True:
        if folder in homes:
            return folder
        name = os.path.basename(folder)
        if name in _TRASH_NAMES or name.startswith(".Trash-"):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _mount_point(path: str) -> str:
    path = os.path.realpath(path)
    dev = os.lstat(path).st_dev
    while True:
        parent = os.path.dirname(path)
        if parent == path or os.lstat(parent).st_dev != dev:
            return path
        path = parent


def _home_device() -> int:
    """The filesystem of the home trash (created if missing)."""
    return os.stat(_ensure_bin(home_trash(), check_owner=False)).st_dev


def _ensure_bin(root: str, *, check_owner: bool) -> str:
    make_dirs(os.path.dirname(root))
    try:
        os.mkdir(root, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(root)
    if not stat.S_ISDIR(st.st_mode) or (check_owner and st.st_uid != os.getuid()):
        raise OSError(f"{root} is not a trash folder we can use")
    for sub in ("files", "info"):
        try:
            os.makedirs(os.path.join(root, sub), mode=0o700, exist_ok=True)
        except FileExistsError:  # "File exists" of what had to be a folder
            raise OSError(f"{os.path.join(root, sub)} is a file, not a folder") from None
        if check_owner and os.path.islink(os.path.join(root, sub)):
            # a drive's trash: items would be renamed (and their info written) wherever
            # the link points on that drive
            raise OSError(f"{os.path.join(root, sub)} is a link, not a folder; not followed")
    return root


class Trasher:
    """Finds (once per filesystem) the trash bin for each path and moves items into it."""

    def __init__(self) -> None:
        self._bins: dict[int, TrashBin | OSError] = {}
        self._home_dev: int | None = None

    def bin_for(self, path: str, dev: int) -> TrashBin:
        found = self._bins.get(dev)
        if found is None:
            try:
                found = self._find_bin(path, dev)
            except OSError as exc:
                # kept for every item of that drive: named by the drive, not by this item
                try:
                    drive = _mount_point(os.path.dirname(path))
                except OSError:
                    drive = os.path.dirname(path)
                found = OSError(f"no usable trash on the drive at {drive} ({exc}); fix or "
                                f"remove that trash folder, or choose another action")
            self._bins[dev] = found
        if isinstance(found, OSError):
            raise found
        return found

    def _find_bin(self, path: str, dev: int) -> TrashBin:
        if self._home_dev is None:
            self._home_dev = _home_device()
        if dev == self._home_dev:
            return TrashBin(home_trash(), None)
        top = _mount_point(os.path.dirname(path))
        uid = os.getuid()
        shared = os.path.join(top, ".Trash")
        try:
            st = os.lstat(shared)
            if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX:
                return TrashBin(_ensure_bin(os.path.join(shared, str(uid)), check_owner=True), top)
        except OSError:
            pass
        return TrashBin(_ensure_bin(os.path.join(top, f".Trash-{uid}"), check_owner=True), top)

    def reserve(self, path: str, dev: int) -> Trashed:
        return self.bin_for(path, dev).reserve(path)

    @staticmethod
    def commit(dir_fd: int, name: str, slot: Trashed) -> None:
        """Move ``name`` (in the open folder ``dir_fd``) into the slot reserved for it."""
        rename_noreplace(name, slot.path, src_dir_fd=dir_fd)


def release(slot: Trashed) -> None:
    """Give back a reserved slot that was never used."""
    try:
        os.unlink(slot.info)
    except FileNotFoundError:
        pass


def restore(trashed_path: str, info: str | None, dir_fd: int, name: str) -> None:
    """Put a trashed item back as ``name`` in the open folder ``dir_fd``; ``FileExistsError``
    if that place is taken."""
    if not os.path.lexists(trashed_path):
        raise FileNotFoundError(f"no longer in the trash ({trashed_path})")
    rename_noreplace(trashed_path, name, dst_dir_fd=dir_fd)
    if info:
        try:
            os.unlink(info)
        except FileNotFoundError:
            pass


def original_path(info: str, topdir: str | None = None) -> str:
    """The original location a ``.trashinfo`` file records."""
    with open(info, encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            if line.startswith("Path="):
                p = os.fsdecode(unquote_to_bytes(line[5:].strip()))
                return p if os.path.isabs(p) or topdir is None else os.path.join(topdir, p)
    raise ValueError(f"{info} records no Path")
