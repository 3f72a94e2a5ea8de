"""One watched folder: a watchdog observer shared by the jobs that watch it.

The observer's threads do nothing but post what they see to the watch thread
(``post``); every decision is taken there. A folder that cannot be watched is
*unavailable* with a reason a person can act on; while it is, a second,
non-recursive observer on its nearest existing parent notices it appear.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import (DirAttribEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
                             FileClosedEvent, FileCreatedEvent, FileDeletedEvent,
                             FileModifiedEvent, FileMovedEvent, FileSystemEvent,
                             FileSystemEventHandler)
from ..places import danger, mount_points, realpath
from ..textfmt import path_text
from .observer import LimitEvent, OverflowEvent, make_observer

__all__ = ["Folder", "folder_problem"]

log = logging.getLogger(__name__)

#: What a watch listens to. Leaving out opened / closed-without-writing keeps the kernel from
#: reporting every read of the folder's files (an import reads each one).
EVENTS = [FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileMovedEvent,
          FileDeletedEvent, DirDeletedEvent, DirMovedEvent, OverflowEvent,
          LimitEvent]
#: What the parent of an unavailable folder listens to: the folder appearing or changing mode.
PARENT_EVENTS = [DirCreatedEvent, DirMovedEvent, DirAttribEvent]

Post = Callable[[tuple[Any, ...]], None]


def describe(exc: OSError) -> str:
    """A reason a person can act on, for an error met while opening a watch."""
    code = exc.errno
    if code == errno.ENOENT:
        return "the folder does not exist"
    if code == errno.ENOTDIR:
        return "a part of its path is a file, not a folder"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if code == errno.ENOSPC:
        return ("the system's limit of watched folders is reached "
                "(raise fs.inotify.max_user_watches)")
    if code == errno.EMFILE:
        return ("too many folders are watched at once "
                "(raise fs.inotify.max_user_instances)")
    if code in (errno.ENODEV, errno.EIO, errno.ENXIO, errno.ESTALE):
        return f"the drive is not available ({exc.strerror})"
    return exc.strerror or str(exc)


def folder_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be watched, or None if it can."""
    try:
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            return "it is a file, not a folder"
        with os.scandir(path) as it:
            next(it, None)
    except OSError as exc:
        return describe(exc)
    return None


def _is_mounted(path: str) -> bool:
    # A bind mount within one file system is told by the mount table alone.
    return path in mount_points() or os.path.ismount(path)


def _mount_of(path: str) -> str:
    """The mount point of the file system ``path`` is on."""
    points = mount_points()
    while not (path in points or os.path.ismount(path)):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


class _Forward(FileSystemEventHandler):
    """Posts each event, stamped with the time it arrived, to the watch thread."""

    def __init__(self, post: Post, key: str, tag: str) -> None:
        self.post, self.key, self.tag = post, key, tag

    def dispatch(self, event: FileSystemEvent) -> None:
        self.post((self.tag, self.key, event.event_type, event.is_directory,
                   os.fsdecode(event.src_path), os.fsdecode(event.dest_path or ""),
                   time.monotonic()))


def _start_observer(path: str, handler: FileSystemEventHandler, *, recursive: bool,
                    events: list[type[FileSystemEvent]]) -> tuple[Any, bool]:
    observer, reports_close = make_observer(recursive=recursive)
    try:
        observer.schedule(handler, path, recursive=recursive, event_filter=events)
        observer.start()
    except BaseException:
        _stop_observer(observer)
        raise
    return observer, reports_close


def _stop_observer(observer) -> None:
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(5)
    except Exception:  # a half-started observer must not keep the app from going on
        log.exception("could not stop a folder observer")


class Folder:
    def __init__(self, path: str, post: Post) -> None:
        self.key = path              # the folder as configured, `~` expanded
        self.post = post
        self.jobs: set[str] = set()  # the jobs watching it
        self.recursive = False
        self.state = "starting"      # starting | watching | unavailable | idle (all paused)
        self.reason: str | None = None
        self.real = realpath(path).path or path  # what the observer watches (symlinks resolved)
        #: Every job watching it allows a dangerous folder (the config refused it otherwise;
        #: this catches a folder swapped for a link to one since).
        self.allow_dangerous = False
        self.reports_close = False   # its observer reports files closed after writing
        self._observer = None
        self._ident: tuple[int, int] | None = None
        #: Whether the path was a symbolic link when it was first watched (None: not yet).
        self._was_link: bool | None = None
        self._parent = None
        self._parent_path: str | None = None
        #: The mount point of the drive or share the folder was last watched on.
        self._mount: str | None = None

    def open(self) -> bool:
        """(Re)start watching; False, with ``reason`` set, if the folder cannot be watched."""
        self.close()
        real = realpath(self.key)
        if self._drive_gone():
            reason = (f"the drive that was mounted at {path_text(self._mount)} is not there; "
                      f"watching resumes when it is mounted again")
        elif real.error:
            reason = f"the path cannot be resolved: {real.error}"
        else:
            self.real = real.path
            why = None if self.allow_dangerous else danger(self.real)
            reason = (f"it {why}; refusing to watch it" if why else self._swapped()
                      or folder_problem(self.real))
        if reason is None:
            try:
                st = os.stat(self.real)
                self._observer, self.reports_close = _start_observer(
                    self.real, _Forward(self.post, self.key, "fs"), recursive=self.recursive,
                    events=EVENTS)
                self._ident = (st.st_dev, st.st_ino)
                if self._was_link is None:
                    self._was_link = os.path.islink(self.key)
                self._mount = _mount_of(self.real)
            except OSError as exc:
                reason = describe(exc)
            except RecursionError:  # the observer walks the sub-folders recursively
                reason = ("its sub-folders are nested too deep to watch them all; "
                          "watch it without sub-folders (recursive = false)")
        if reason is not None:
            self.state, self.reason = "unavailable", reason
            self._watch_parent()
            return False
        self._stop_parent()
        self.state, self.reason = "watching", None
        return True

    def _drive_gone(self) -> bool:
        """Was the folder on a drive or share that is unmounted now? What is left is the
        empty mount point on the disk below: watching it would be watching another folder,
        and say nothing."""
        return self._mount is not None and not _is_mounted(self._mount)

    def _swapped(self) -> str | None:
        """Why not to watch a folder that was a folder when first watched and is now a
        link: the files a run takes (and moves, or deletes) would be those of whatever the
        link points to, which is not the folder the job names. One that was a link from the
        start is the person's own set-up, and is followed."""
        if self._was_link is False and os.path.islink(self.key):
            return (f"it was a folder and is now a link to {self.real}, which is not followed: "
                    f"a run would take and move the files there; put the folder back, or "
                    f"name {self.real} in the job if that is the folder to watch")
        return None

    def healthy(self) -> bool:
        """Is the observer still watching the folder this path names?"""
        if self._observer is None:
            return False
        try:
            st = os.stat(self.key)
        except OSError:
            return False
        if (st.st_dev, st.st_ino) != self._ident or not stat.S_ISDIR(st.st_mode):
            return False  # deleted and made again, moved away, or a drive unmounted
        return self._observer.is_alive() and all(e.is_alive() for e in self._observer.emitters)

    def close(self, state: str | None = None) -> None:
        if self._observer is not None:
            _stop_observer(self._observer)
            self._observer = None
            self._ident = None
        if state is not None:
            self.state, self.reason = state, None
            self._stop_parent()

    # -- noticing an unavailable folder appear ------------------------------------------

    def _watch_parent(self) -> None:
        parent = os.path.dirname(self.key)
        while parent and not os.path.isdir(parent) and os.path.dirname(parent) != parent:
            parent = os.path.dirname(parent)
        if parent == self._parent_path and self._parent is not None:
            return
        self._stop_parent()
        try:
            self._parent, _ = _start_observer(parent, _Forward(self.post, self.key, "parent"),
                                              recursive=False, events=PARENT_EVENTS)
            self._parent_path = parent
        except OSError:
            self._parent = None  # the periodic retry still finds it
            return
        # The folder (or the next part of its path) may have appeared before this watch
        # began: look once more.
        self.post(("parent", self.key, "", True, parent, "", time.monotonic()))

    def _stop_parent(self) -> None:
        if self._parent is not None:
            _stop_observer(self._parent)
        self._parent, self._parent_path = None, None
