"""Reload the jobs file when it is edited while ``trayjobs worker`` runs (no Qt).

The app does the same with Qt's file watcher (``trayjobs/ui/confwatch.py``); both end in
the engine's ``reload_config``. Editors often save by writing a new file and renaming it
over the old one, so the folder is watched, not the file; changes are gathered until the
file has been quiet for a moment, and only a real change of its bytes counts. A jobs file
that is a link is also watched where the file it points to is. A slow poll backs the watch
up (a folder the system cannot watch, a file on a network share).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Callable

__all__ = ["ConfigFileWatch"]

log = logging.getLogger(__name__)


def _digest(path: Path) -> str | None:
    from ..config import read_jobs_file  # never blocks: the file may be a named pipe
    try:
        return hashlib.sha256(read_jobs_file(path)).hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a folder or a pipe in its place: reloading reports it
        return f"unreadable: {exc.strerror or exc}"


class ConfigFileWatch:
    def __init__(self, path: str | os.PathLike[str], on_change: Callable[[], None], *,
                 settle: float = 0.2, poll: float = 2.0) -> None:
        self.path = Path(path)
        self.on_change = on_change
        self.settle = settle
        self.poll = poll
        self._poked = threading.Event()
        self._stop = threading.Event()
        self._known = _digest(self.path)
        self._observer = None
        self._names = {self.path.name}  # the names looked for in the file's folder
        self._target: tuple[Path, object | None] | None = None  # a link's file, its watch
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._observer = self._watch_folder()
        self._thread = threading.Thread(target=self._loop, name="trayjobs-config-watch",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._poked.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(2)
        if self._thread is not None:
            self._thread.join(2)

    def _watch_folder(self):
        from watchdog.observers import Observer

        observer = Observer()
        observer.daemon = True
        try:
            self._schedule(observer, self.path.parent, self._names)
            observer.start()
        except Exception as exc:  # no such folder, no inotify watches left: the poll remains
            log.warning("cannot watch %s (%s); looking at it every %.0f s instead",
                        self.path.parent, exc, self.poll)
            return None
        self._follow_link(observer)
        return observer

    def _schedule(self, observer, folder: Path, names: set[str]):
        """Watch ``folder`` for changes to the files of these names (a set that may grow)."""
        from watchdog.events import (DirCreatedEvent, DirMovedEvent, FileClosedEvent,
                                     FileCreatedEvent, FileDeletedEvent, FileModifiedEvent,
                                     FileMovedEvent, FileSystemEventHandler)

        poke = self._poked.set

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                paths = (event.src_path, getattr(event, "dest_path", "") or "")
                if any(os.path.basename(os.fsdecode(p)) in names for p in paths if p):
                    poke()

        # Changes only: reading the file (our own digest included) makes "opened" and
        # "closed_no_write" events, which would wake this thread again and again.
        return observer.schedule(Handler(), str(folder), recursive=False,
                                 event_filter=[FileModifiedEvent, FileClosedEvent,
                                               FileCreatedEvent, FileDeletedEvent,
                                               FileMovedEvent, DirCreatedEvent, DirMovedEvent])

    def _follow_link(self, observer) -> None:
        """A jobs file that is a link (kept with one's dotfiles) is edited where the file it
        points to is: that file is watched too, and the new one when the link is pointed
        elsewhere. Without it such an edit waited for the slow poll, a minute."""
        target = Path(os.path.realpath(self.path)) if self.path.is_symlink() else None
        if (self._target and self._target[0]) == target:
            return
        if self._target is not None:
            old, watch = self._target
            self._target = None
            if watch is None:
                self._names.discard(old.name)
                self._names.add(self.path.name)
            else:
                try:
                    observer.unschedule(watch)
                except Exception:  # already gone with its folder
                    pass
        if target is None:
            return
        if target.parent == self.path.parent:  # beside it: one more name in that folder
            self._names.add(target.name)
            self._target = (target, None)
            return
        try:
            self._target = (target, self._schedule(observer, target.parent, {target.name}))
        except Exception as exc:  # its folder is missing: reloading says so
            log.debug("cannot watch %s: %s", target.parent, exc)

    def _loop(self) -> None:
        while not self._stop.is_set():
            # With inotify's word the look now and then is only a safety net (a file on a
            # network share, a folder swapped); without it, it is the way changes are seen.
            self._poked.wait(self.poll if self._observer is None else max(self.poll, 60.0))
            # An editor may write several times in a row: wait until the file is quiet.
            while self._poked.is_set() and not self._stop.is_set():
                self._poked.clear()
                self._stop.wait(self.settle)
            if self._stop.is_set():
                return
            if self._observer is not None:
                self._follow_link(self._observer)
            digest = _digest(self.path)
            if digest == self._known:
                continue
            self._known = digest
            try:
                self.on_change()
            except Exception:  # a failed reload must not end the watch
                log.exception("reloading %s failed", self.path)
