"""Reload the jobs file when it is edited by hand while the app runs.

Editors often save by writing a new file and renaming it over the old one, which
ends a watch on the file itself; so the folder is watched too, and the file's
watch is renewed after each change. Changes are gathered for a moment (an
editor may write several times) and only a real change of the text counts:
the app's own saves are announced with :meth:`ConfigWatcher.expect`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

__all__ = ["ConfigWatcher"]


def _digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


class ConfigWatcher(QObject):
    changed = Signal()   # the file's text changed (not by our own save)

    def __init__(self, path: Path, parent: QObject | None = None, *, delay_ms: int = 400) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self._closed = False
        self._target: str | None = None  # the file a link points to, as last watched
        self._known = _digest(self._read())
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._poke)
        self._watcher.directoryChanged.connect(self._poke)
        self._timer = QTimer(self, singleShot=True, interval=delay_ms)
        self._timer.timeout.connect(self._check)
        self._rewatch()

    def _read(self) -> bytes | None:
        from ..config import read_jobs_file  # never blocks: the file may be a named pipe
        try:
            return read_jobs_file(self.path)
        except OSError:
            return None

    def _rewatch(self) -> None:
        folder = str(self.path.parent)
        if self.path.parent.is_dir() and folder not in self._watcher.directories():
            self._watcher.addPath(folder)
        # The file's watch follows a link to the file it points to; a link pointed at
        # another file left it on the first one, and edits of the new one went unseen.
        target = os.path.realpath(self.path)
        if target != self._target and str(self.path) in self._watcher.files():
            self._watcher.removePath(str(self.path))
        if self.path.exists() and str(self.path) not in self._watcher.files():
            self._watcher.addPath(str(self.path))
        self._target = target

    def close(self) -> None:
        """Stop watching: the watcher goes, and with it the inotify instance it holds (a
        user has only 128 of them; each app started and quit in one process kept one)."""
        self._closed = True
        self._timer.stop()
        self._watcher.deleteLater()

    def expect(self, text: str | bytes) -> None:
        """The app itself is writing this text: its change is not news."""
        self._known = _digest(text.encode() if isinstance(text, str) else text)

    def _poke(self, _path: str) -> None:
        if not self._closed:
            self._timer.start()

    def _check(self) -> None:
        self._rewatch()
        digest = _digest(self._read())
        if digest != self._known:
            self._known = digest
            self.changed.emit()
