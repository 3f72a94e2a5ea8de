"""One window per home: a second start brings the running app's window forward.

The first app for a home listens on a local socket named after the home; a
second start connects, says ``show`` and exits, so it never starts a second
consumer. A lock file makes two simultaneous starts agree on who is first
(a stale socket of a crashed app is replaced only by the lock's holder).
"""

from __future__ import annotations

import hashlib
import logging

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ..paths import Home

__all__ = ["SingleInstance", "server_name"]

log = logging.getLogger(__name__)


def server_name(home: Home) -> str:
    key = str(home.root or home.data_dir)
    return "trayjobs-" + hashlib.sha1(key.encode()).hexdigest()[:16]


class SingleInstance(QObject):
    """``claim()`` is True for the first app of a home; the others ``ask("show")``."""

    message = Signal(str)  # what another start asked for ("show")

    def __init__(self, home: Home, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(home)
        self._lock = QLockFile(str(home.data_dir / "app.lock"))
        self._lock.setStaleLockTime(0)  # stale only if its process is gone
        self._server: QLocalServer | None = None
        self._clients: list[QLocalSocket] = []

    def claim(self) -> bool:
        """Become the app for this home (listening for others), or False if one is running."""
        if not self._lock.tryLock(0):
            self._lock.removeStaleLockFile()
            if not self._lock.tryLock(0):
                return False
        QLocalServer.removeServer(self.name)  # a socket left by a crash
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning("single-instance socket unavailable: %s", server.errorString())
            return True
        server.newConnection.connect(self._accept)
        self._server = server
        return True

    def ask(self, message: str = "show", *, timeout_ms: int = 3000) -> bool:
        """Tell the running app ``message``; True if it got it."""
        sock = QLocalSocket()
        sock.connectToServer(self.name)
        if not sock.waitForConnected(timeout_ms):
            return False
        sock.write((message + "\n").encode())
        ok = sock.waitForBytesWritten(timeout_ms)
        sock.waitForReadyRead(min(timeout_ms, 1000))  # the answer ("ok"): it was read
        sock.disconnectFromServer()
        return ok

    def release(self) -> None:
        for sock in self._clients:
            sock.readyRead.disconnect()
            sock.abort()
        self._clients.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        self._lock.unlock()

    def _accept(self) -> None:
        while self._server is not None and self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            self._clients.append(sock)
            sock.readyRead.connect(self._read)
            sock.disconnected.connect(self._gone)

    def _gone(self) -> None:
        sock = self.sender()
        if sock in self._clients:
            self._clients.remove(sock)
            sock.deleteLater()

    def _read(self) -> None:
        sock = self.sender()
        while sock is not None and sock.canReadLine():
            line = bytes(sock.readLine()).decode(errors="replace").strip()
            if line:
                sock.write(b"ok\n")
                self.message.emit(line)
