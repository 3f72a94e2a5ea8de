"""Store and queue work off the GUI thread.

Every read of the run store and every command (run now, cancel, retry, pause)
goes through :meth:`Service.call`: the function runs on the service thread and
its result comes back to a callback on the GUI thread. The GUI never waits on
SQLite or the queue.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal

__all__ = ["Service"]

log = logging.getLogger(__name__)


class Service(QObject):
    failed = Signal(str)  # a user-facing message
    _done = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._q: queue.Queue = queue.Queue()
        self._done.connect(self._finish, Qt.QueuedConnection)
        self._thread = threading.Thread(target=self._loop, name="trayjobs-ui-service", daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], Any], on_result: Callable[[Any], None] | None = None,
             on_error: Callable[[Exception], None] | None = None) -> None:
        self._q.put((fn, on_result, on_error))

    def call_slow(self, fn: Callable[[], Any], on_result: Callable[[Any], None] | None = None,
                  on_error: Callable[[Exception], None] | None = None) -> None:
        """Like :meth:`call`, on a thread of its own: for work that may take long (an undo,
        a history clean-up), so that page reads and commands are not held up behind it."""
        def work() -> None:
            try:
                result, error = fn(), None
            except Exception as exc:
                if not type(exc).__module__.startswith("trayjobs"):
                    log.exception("background call failed")
                result, error = None, exc
            self._done.emit((on_result, on_error, result, error))

        threading.Thread(target=work, name="trayjobs-ui-slow", daemon=True).start()

    def stop(self) -> None:
        self._q.put(None)
        self._thread.join(5)

    def _loop(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            fn, on_result, on_error = item
            try:
                result, error = fn(), None
            except Exception as exc:  # reported to the user, never fatal
                if not hasattr(exc, "__module__") or not type(exc).__module__.startswith("trayjobs"):
                    log.exception("background call failed")
                result, error = None, exc
            self._done.emit((on_result, on_error, result, error))

    def _finish(self, payload) -> None:
        on_result, on_error, result, error = payload
        if error is not None:
            if on_error is not None:
                on_error(error)
            else:
                self.failed.emit(str(error))
        elif on_result is not None:
            on_result(result)
