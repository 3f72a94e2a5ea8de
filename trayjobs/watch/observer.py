"""The watchdog observer a folder gets.

On Linux, watchdog holds back every event that follows a file moved *out* of a watched
folder for half a second, waiting for the other half of the move. An import job moves
each file it took out of a folder watched without sub-folders (to ``processed/``, which is
not watched), so the next file to arrive would wait that half second for nothing. A watch
only needs where files arrive: for such folders the kernel is not asked for moved-out
events at all; a rename inside the folder then comes as its destination being created.
Recursive watches keep them (their own ``processed/`` moves pair at once, and moved
sub-folders need them). Elsewhere the platform's native observer is used as it is.

When more happens at once than the kernel queues (``fs.inotify.max_queued_events``), it
drops events: which files arrived is lost. The inotify observers here then send one
:class:`OverflowEvent` for their folder, and the watch looks at the folder anew.

watchdog passes over a sub-folder it could not watch. When that is for the system's limit
of watches (or inotify instances), every file that arrives there would be missed without
a word: starting such a watch fails with the limit's error instead, and a sub-folder made
later that hits the limit sends a :class:`LimitEvent`, so that the folder is opened again
and shown unavailable with the reason.

A recursive watch does not go below a mount point in the folder (see :mod:`.match`): the
system is not asked to watch a drive mounted there, nor a bind mount of ``/`` whole.

The folder itself renamed away is reported as a :class:`DirMovedEvent` of it (watchdog
reports only its deletion), so that the watch notices at once that its path names
another folder, or none.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import Any

from watchdog.events import DirMovedEvent, FileSystemEvent
from watchdog.observers import Observer

from ..places import mount_points

__all__ = ["make_observer", "OverflowEvent", "LimitEvent"]

#: Errors that leave a sub-folder unwatched until the system's limits are raised.
_LIMITS = (errno.ENOSPC, errno.EMFILE)

log = logging.getLogger(__name__)


class OverflowEvent(FileSystemEvent):
    """Events below ``src_path`` were lost: look at the folder again."""
    event_type = "overflow"
    is_directory = True


class LimitEvent(FileSystemEvent):
    """A sub-folder of ``src_path`` could not be watched for the system's limits."""
    event_type = "limit"
    is_directory = True


def _inotify_classes() -> tuple[type, type] | None:
    try:
        from watchdog.observers.inotify import (InotifyEmitter, InotifyObserver,
                                                InotifyWatchGroup)
        from watchdog.observers.inotify_c import InotifyConstants
    except Exception:  # not Linux, or a watchdog without these
        return None

    class Group(InotifyWatchGroup):
        emitter: Any = None
        limit: OSError | None = None  # met while adding the first watches

        def on_event(self, event) -> None:
            if not event.is_move_self:
                super().on_event(event)
            elif (self.emitter is not None
                  and self._active_callbacks_by_watch.get(event.wd) == self.path):
                # The folder itself renamed away: watchdog says nothing of it.
                self.emitter.queue_event(DirMovedEvent(self.emitter.watch.path, ""))

        def _add_all_callbacks(self, path: bytes) -> None:
            if not self.is_recursive or not os.path.isdir(path):
                return super()._add_all_callbacks(path)
            # As watchdog does, without going below a mount point.
            mounts = None  # read once there is a sub-folder (a new folder is mostly empty)
            self._add_callback(path)
            for top, dirnames, _ in os.walk(path, followlinks=False):
                keep = []
                for name in dirnames:
                    full = os.path.join(top, name)
                    if mounts is None:
                        mounts = {os.fsencode(m) for m in mount_points()}
                    if full not in mounts and not os.path.islink(full):
                        self._add_callback(full)
                        keep.append(name)
                dirnames[:] = keep

        def _add_callback(self, path: bytes) -> None:
            try:
                wd = self._inotify_fd.add_callback(path, self.event_mask, self._callback,
                                                   self._id)
            except OSError as exc:
                if path == self.path:
                    raise
                if exc.errno in _LIMITS:
                    if self.emitter is None:
                        self.limit = self.limit or exc
                    else:
                        self.emitter.queue_event(LimitEvent(self.emitter.watch.path))
                return  # otherwise gone or unreadable meanwhile, as watchdog has it
            self._active_callbacks_by_path[path] = wd
            self._active_callbacks_by_watch[wd] = path

        def on_queue_overflow(self) -> None:
            super().on_queue_overflow()
            emitter = self.emitter
            if emitter is not None:
                emitter.queue_event(OverflowEvent(emitter.watch.path))

    class OverflowEmitter(InotifyEmitter):
        def get_event_mask_from_filter(self):
            return super().get_event_mask_from_filter() | InotifyConstants.IN_MOVE_SELF

        def on_thread_start(self) -> None:
            group = Group(self._inotify_fd, os.fsencode(self.watch.path),
                          is_recursive=self.watch.is_recursive,
                          event_mask=self.get_event_mask_from_filter(),
                          follow_symlink=self.watch.follow_symlink)
            if group.limit is not None:
                group.deactivate()
                raise group.limit
            group.emitter = self
            self._inotify = group

    class FolderObserver(InotifyObserver):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self._emitter_class = OverflowEmitter

    class ArrivalsEmitter(OverflowEmitter):
        def get_event_mask_from_filter(self):
            return super().get_event_mask_from_filter() & ~InotifyConstants.IN_MOVED_FROM

        def queue_events(self, timeout, *, full_events: bool = False) -> None:
            if not self.stopped_event.is_set():  # stopping: nothing more to read
                super().queue_events(timeout, full_events=full_events)

    class ArrivalsObserver(FolderObserver):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self._emitter_class = ArrivalsEmitter

    return ArrivalsObserver, FolderObserver


_CLASSES = _inotify_classes()


def make_observer(*, recursive: bool) -> tuple[Any, bool]:
    """A new observer, and whether it reports a file closed after writing (inotify)."""
    if _CLASSES is None:
        return Observer(), False
    arrivals, inotify = _CLASSES
    observer = inotify() if recursive else arrivals()
    return observer, isinstance(observer, inotify)
