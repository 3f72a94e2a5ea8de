"""Which files a watch takes: name patterns, ignored names, and the job's own output folders.

Names are compared without regard to case, so ``*.csv`` also takes ``EXPORT.CSV`` (bank
exports are written both ways). The ignore list applies to the file's name and to every
folder between the watched folder and the file, so ``.*`` also skips a hidden ``.cache/``.
An import job moves finished files to ``processed/`` and ``failed/`` beside them: those
folders are never taken back in, whatever their configured names.

A symbolic link is never handed to a run that takes files: the run would read, move or
change the file it points to, which may be outside the folder (a link to ``~/.ssh/id_rsa``
dropped in an inbox), and a link to a file in the folder would hand that file over twice.
The log says so once per link. A kind that looks at the folder itself (a cleanup) acts on
links as links, so a link still starts its run.

A mount point below the folder (a drive, a network share, a bind mount of ``/``) is not
crossed, as a cleanup does not cross it: what is there is another file system, not the
folder the job names. The log says so once.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path

from ..config import OUTPUT_FOLDER_KEYS, Config, JobConfig, WatchSpec
from ..places import mount_points
from ..textfmt import path_text

__all__ = ["Matcher", "own_folders", "watch_root", "jobs_accepting", "name_matches", "placed"]

_LEAVE = "leave"  # the import kind's "keep files where they are"
#: Links (or names not valid UTF-8) not taken that the log names one by one, per watch,
#: before one line says there are more: a folder of them moved in gives a few lines, not
#: thousands.
NOTES = 20

log = logging.getLogger(__name__)


def _is_text(path: str) -> bool:
    if path.isascii():
        return True
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def placed(path: str) -> bool:
    """Are the folders above ``path`` what they were when it was found, with no link among
    them? (Paths come resolved from the watched folder's real path: a sub-folder swapped
    for a link since would lead the run elsewhere.)"""
    parent = os.path.dirname(path)
    try:
        return os.path.realpath(parent, strict=True) == parent
    except (OSError, ValueError):
        return False


def watch_root(spec: WatchSpec) -> Path:
    """The folder as configured, ``~`` and $VARIABLES expanded (the config refuses relative ones)."""
    return spec.path


def name_matches(name: str, patterns: Iterable[str]) -> bool:
    low = name.lower()
    return any(fnmatchcase(low, p.lower()) for p in patterns)


def own_folders(job: JobConfig) -> list[str]:
    """The folders (as configured) a job moves its input files into after a run."""
    out = []
    for key in OUTPUT_FOLDER_KEYS:
        value = getattr(job.params, key, None)
        if isinstance(value, str) and value.strip() and value.strip() != _LEAVE:
            out.append(value.strip())
    return out


class Matcher:
    """Decides whether a path below ``root`` is input for one job's watch."""

    def __init__(self, root: str | Path, spec: WatchSpec, excluded: Iterable[str] = (), *,
                 text_only: bool = True) -> None:
        self.root = os.path.join(str(root), "")  # with a trailing separator
        #: Only names that are valid UTF-8: a run is handed its files as text. A kind without
        #: input files (a cleanup) looks at the folder itself, where any name will do.
        self.text_only = text_only
        self.recursive = spec.recursive
        self.patterns = [p.lower() for p in spec.patterns]
        self.ignore = [p.lower() for p in spec.ignore]
        self._abs: list[str] = []              # excluded folders as absolute paths
        self._rel: list[tuple[str, ...]] = []  # ... as folder names beside any input file
        self._refused: set[str] = set()        # names not valid UTF-8, already logged
        self._links: set[str] = set()          # links not taken, already logged
        self._mounts: tuple[str, ...] = ()     # mount points below the folder, "/" ended
        self._noted_mounts: set[str] = set()
        self._find_mounts()
        #: Sub-folders the last full scan could not read: {path: why}. Nothing below them is
        #: taken (the system gives no events there either) until they can be read.
        self.unreadable: dict[str, str] = {}
        for folder in excluded:
            p = Path(folder).expanduser()
            if p.is_absolute() or ".." in p.parts:
                self._abs.append(os.path.join(os.path.normpath(Path(root) / p), ""))
            else:
                self._rel.append(tuple(part.lower() for part in p.parts if part != "."))

    def _find_mounts(self) -> None:
        if not self.recursive:
            return  # only the folder's own files are taken
        self._mounts = tuple(os.path.join(m, "") for m in mount_points()
                             if m.startswith(self.root))
        for m in self._mounts:
            if m not in self._noted_mounts:
                self._noted_mounts.add(m)
                log.warning("watched folder: the sub-folder %s is a mount point (another drive "
                            "or share); it is not watched and nothing in it is taken",
                            path_text(m.rstrip(os.sep)))

    def _ignored(self, name: str) -> bool:
        low = name.lower()
        return any(fnmatchcase(low, p) for p in self.ignore)

    def _excluded(self, dir_parts: tuple[str, ...], path: str) -> bool:
        if any(path.startswith(a) for a in self._abs):
            return True
        low = tuple(d.lower() for d in dir_parts)
        for rel in self._rel:
            n = len(rel)
            if n and any(low[i:i + n] == rel for i in range(len(low) - n + 1)):
                return True
        return False

    def wants(self, path: str) -> bool:
        """Is the file at ``path`` (absolute) input for this watch? Names only, no I/O."""
        if not path.startswith(self.root):
            return False
        parts = tuple(path[len(self.root):].split(os.sep))
        dirs, name = parts[:-1], parts[-1]
        if not name or (dirs and not self.recursive):
            return False
        if self._mounts and any(path.startswith(m) for m in self._mounts):
            return False
        if self._ignored(name) or any(self._ignored(d) for d in dirs):
            return False
        if (self._abs or self._rel) and self._excluded(dirs, path):
            return False
        low = name.lower()
        rel = "/".join(parts).lower()
        # A pattern with a slash is matched against the path below the folder.
        if not any(fnmatchcase(low, p) or ("/" in p and fnmatchcase(rel, p)) for p in self.patterns):
            return False
        if self.text_only and not _is_text(path):
            # Runs get their files as text.
            if path not in self._refused:
                self._refused.add(path)
                if len(self._refused) <= NOTES:
                    log.warning("watched folder: %s is not taken: its name is not valid UTF-8; "
                                "rename it", path_text(path))
                elif len(self._refused) == NOTES + 1:
                    log.warning("watched folder %s: more names that are not valid UTF-8 are not "
                                "taken; they are no longer named one by one",
                                path_text(self.root.rstrip(os.sep)))
            return False
        return True

    def takes(self, path: str, st: os.stat_result) -> bool:
        """Is the item at ``path``, as ``os.lstat`` saw it (``st``), one to take? Regular
        files; links only for a kind that looks at the folder itself (see the module)."""
        if stat.S_ISREG(st.st_mode):
            return True
        if not stat.S_ISLNK(st.st_mode):
            return False
        if not self.text_only:
            return True
        if path not in self._links:
            self._links.add(path)
            self._note_link(path)
        return False

    def _note_link(self, path: str) -> None:
        n = len(self._links)
        if n > NOTES:
            if n == NOTES + 1:
                log.warning("watched folder %s: more links are not taken; they are no longer "
                            "named one by one", path_text(self.root.rstrip(os.sep)))
            return
        try:
            target = os.path.realpath(path)
        except (OSError, ValueError):
            target = "a path that cannot be resolved"
        if target.startswith(self.root):
            log.info("watched folder: %s is not taken: it is a link to %s in the watched "
                     "folder, which is taken itself", path_text(path), path_text(target))
        else:
            log.warning("watched folder: %s is not taken: it is a link to %s, outside the "
                        "watched folder; links out of the folder are not followed",
                        path_text(path), path_text(target))

    def _skip_dir(self, path: str, name: str) -> bool:
        if self._ignored(name):
            return True
        dirs = tuple(path[len(self.root):].split(os.sep))
        return self._excluded(dirs, os.path.join(path, ""))

    def scan(self) -> Iterator[tuple[str, os.stat_result]]:
        """The files below the folder this watch takes, with their lstat (no symlinked folders,
        nothing under ignored or excluded folders). Unreadable sub-folders are skipped."""
        top = self.root.rstrip(os.sep) or os.sep
        stack = [top]
        self._find_mounts()  # one mounted since is found now (mounting gives no event)
        mounts = {m.rstrip(os.sep) for m in self._mounts}
        unreadable: dict[str, str] = {}
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError as exc:
                if folder == top:
                    raise  # the watched folder itself: the caller marks it unavailable
                unreadable[folder] = exc.strerror or str(exc)
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if (self.recursive and entry.path not in mounts
                                and not self._skip_dir(entry.path, entry.name)):
                            stack.append(entry.path)
                        continue
                    if not self.wants(entry.path):
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # gone meanwhile
                if self.takes(entry.path, st):
                    yield entry.path, st
        self.unreadable = unreadable


def jobs_accepting(config: Config, paths: Iterable[str | Path]) -> list[str]:
    """Enabled jobs that take input files and would take all of ``paths``: the jobs whose
    watch patterns match every name first, then the jobs without a watch (which take any
    file), each in config order."""
    from ..kinds.registry import get_kind

    names = [Path(p).name for p in paths]
    if not names:
        return []
    matched, plain = [], []
    for job in config.jobs.values():
        if not job.enabled:
            continue
        try:
            if not get_kind(job.kind).accepts_files:
                continue
        except (KeyError, ImportError):
            continue
        spec = job.common.watch
        if spec is None:
            plain.append(job.name)
        elif all(name_matches(n, spec.patterns) for n in names):
            matched.append(job.name)
    return matched + plain
