"""Walking a location fast: one ``scandir`` per folder, one predicate call per file.

System files and excluded names are dropped with set and prefix tests before
any ``stat``; symlinks are listed as items but never entered, and special
files (pipes, sockets, devices) are never items at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .dirs import Folders, LinkInTheWay, MountInTheWay
from .filters.name import glob_matcher
from .fsops import PARTIAL_PREFIX

__all__ = ["Scope", "SYSTEM_NAMES", "list_dir", "walk_files"]

SYSTEM_NAMES = frozenset({
    ".DS_Store", ".localized", ".directory", "Icon\r", "Thumbs.db", "ehthumbs.db", "desktop.ini",
    ".git", ".svn", ".hg", ".bzr", ".Trash", ".Trashes", ".Spotlight-V100", ".fseventsd",
    ".TemporaryItems", ".DocumentRevisions-V100", "$RECYCLE.BIN", "System Volume Information", "lost+found",
})
SYSTEM_PREFIXES = ("~$", ".~lock.", "._", ".Trash-")
#: Left out even with ``include_system_files``: the trash bins of drives (``$topdir/.Trash``,
#: ``.Trash-$uid``). Tidying one trashes what is already in the trash, and its records with
#: it, so nothing there can be restored any more. (The home trash is left out by its path.)
TRASH_NAMES = frozenset({".Trash"})
TRASH_PREFIXES = (".Trash-",)

_NO_LIMIT = 1 << 30


@dataclass
class Scope:
    """One location, resolved, with what to leave out of it."""

    root: str
    depth: int | None
    exclude: list[str] = field(default_factory=list)
    system: bool = False                      # include system files
    skip_dirs: frozenset[str] = frozenset()   # the trash, our own data
    dest_dirs: frozenset[str] = frozenset()   # the job's destination inside it: not entered
    mounts: frozenset[str] = frozenset()      # mount points: never entered

    def __post_init__(self) -> None:
        self.max_depth = _NO_LIMIT if self.depth is None else self.depth
        self.skip_names = TRASH_NAMES if self.system else SYSTEM_NAMES
        self.skip_prefixes = (PARTIAL_PREFIX, *TRASH_PREFIXES) if self.system \
            else SYSTEM_PREFIXES + (PARTIAL_PREFIX,)
        by_name = [p.rstrip("/") for p in self.exclude if "/" not in p.rstrip("/")]
        by_path = [p.strip("/") for p in self.exclude if "/" in p.rstrip("/")]
        self._name_match = glob_matcher(by_name, case_sensitive=False) if by_name else None
        self._path_match = glob_matcher(by_path, case_sensitive=False) if by_path else None

    def keep(self, e: os.DirEntry) -> bool:
        """False for system files and excluded names."""
        name = e.name
        if name in self.skip_names or name.startswith(self.skip_prefixes):
            return False
        if self._name_match is not None and self._name_match(name):
            return False
        if self._path_match is not None:
            rel = e.path[len(self.root) + 1:].replace(os.sep, "/")
            if self._path_match(rel):
                return False
        return True


def _by_name(e: os.DirEntry) -> str:
    return e.name


def list_dir(path: str, folders: Folders | None = None) -> list[os.DirEntry]:
    """The entries of ``path``, sorted by name. With ``folders``, the folder is first reached
    from its location without following links (:class:`~.dirs.LinkInTheWay` if it cannot be),
    and the listing is checked to be of that very folder."""
    if folders is None:
        with os.scandir(path) as it:
            return sorted(it, key=_by_name)
    fd = folders.open(path)
    try:
        with os.scandir(path) as it:
            entries = sorted(it, key=_by_name)
        if not os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False)):
            raise LinkInTheWay(path, "another folder now")
        return entries
    finally:
        os.close(fd)


def walk_files(scope: Scope, pred: Callable[[os.DirEntry], bool], *, produced: set[str],
               on_error: Callable[[str, OSError], None], between: Callable[[int], None],
               folders: Folders | None = None) -> Iterator[tuple[str, list[os.DirEntry], list[os.DirEntry]]]:
    """Yield ``(folder, matching entries, all entries)`` folder by folder, depth first.

    The caller acts on each folder's matches before the walk goes on, so what
    it creates is in ``produced`` by the time a later folder is listed.
    """
    stack = [(scope.root, 0)]
    keep = scope.keep
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list_dir(folder, folders)
        except OSError as exc:
            on_error(folder, exc)
            continue
        matched, subdirs, scanned = [], [], 0
        for e in entries:
            if not keep(e):
                continue
            try:
                if e.is_dir(follow_symlinks=False):
                    if depth < scope.max_depth and e.path not in scope.skip_dirs \
                            and e.path not in scope.dest_dirs:
                        if e.path in scope.mounts:
                            on_error(e.path, MountInTheWay(e.path))
                        else:
                            subdirs.append(e.path)
                    continue
                if not (e.is_file(follow_symlinks=False) or e.is_symlink()):
                    continue  # pipes, sockets, devices
                scanned += 1
                if produced and e.path in produced:
                    continue
                if pred(e):
                    matched.append(e)
            except OSError as exc:
                on_error(e.path, exc)
        between(scanned)
        yield folder, matched, entries
        stack.extend((p, depth + 1) for p in reversed(subdirs))
