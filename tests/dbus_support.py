"""A private D-Bus session bus with a stand-in notification daemon, for tests of the
freedesktop notification path without a tray (and without a display).

The bus is a real ``dbus-daemon`` on a socket in a temporary folder, with a config of
its own: it activates no services, so nothing of the machine's desktop is started.
The daemon is a small jeepney service that owns ``org.freedesktop.Notifications``,
records every ``Notify`` call as it arrives on the bus, and can send ``ActionInvoked``
as a click on a notification does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

__all__ = ["NotificationDaemon", "notification_bus"]

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


class NotificationDaemon:
    """Owns ``org.freedesktop.Notifications`` on ``address`` and records what it is sent."""

    def __init__(self, address: str) -> None:
        from jeepney import message_bus
        from jeepney.io.blocking import Proxy, open_dbus_connection

        self.conn = open_dbus_connection(bus=address)
        (result,) = Proxy(message_bus, self.conn).RequestName(NAME, 4)  # DO_NOT_QUEUE
        if result != 1:  # PRIMARY_OWNER
            raise RuntimeError(f"could not own {NAME} on the test bus (reply {result})")
        self.received: list[dict[str, Any]] = []
        self.hung = False  # True: takes Notify calls and never answers, as a stopped daemon
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="test-notifications",
                                        daemon=True)
        self._thread.start()

    def _send(self, msg) -> None:
        with self._send_lock:
            self.conn.send(msg)

    def _serve(self) -> None:
        from jeepney import HeaderFields, MessageType, new_error, new_method_return

        while True:
            try:
                msg = self.conn.receive()
            except (OSError, EOFError, ValueError):
                return  # closed
            h = msg.header
            if h.message_type is not MessageType.method_call:
                continue
            member = h.fields.get(HeaderFields.member)
            if h.fields.get(HeaderFields.interface) not in (NAME, None):
                self._send(new_error(msg, "org.freedesktop.DBus.Error.UnknownInterface"))
            elif member == "Notify":
                app_name, replaces_id, icon, summary, body, actions, hints, timeout = msg.body
                with self._cond:
                    note = {"id": len(self.received) + 1, "app_name": app_name,
                            "replaces_id": replaces_id, "icon": icon, "summary": summary,
                            "body": body, "actions": list(actions), "hints": dict(hints),
                            "timeout": timeout}
                    if not self.hung:
                        self._send(new_method_return(msg, "u", (note["id"],)))
                    self.received.append(note)
                    self._cond.notify_all()
            elif member == "GetCapabilities":
                self._send(new_method_return(msg, "as", (["actions", "body"],)))
            elif member == "GetServerInformation":
                self._send(new_method_return(msg, "ssss", ("test", "trayjobs", "1", "1.2")))
            else:
                self._send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The notifications received, once there are at least ``count`` of them."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"the notification daemon received {len(self.received)} "
                                     f"notification(s) in {timeout} s, expected {count}")
            return list(self.received)

    def invoke(self, note_id: int, action: str = "default") -> None:
        """What a click on the notification makes the daemon send."""
        from jeepney import DBusAddress, new_signal

        self._send(new_signal(DBusAddress(PATH, interface=NAME), "ActionInvoked", "us",
                              (note_id, action)))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the serving thread
        except OSError:
            pass
        self._thread.join(5)
        self.conn.close()


class _Bus:
    def __init__(self, address: str, daemon: NotificationDaemon,
                 proc: subprocess.Popen | None = None) -> None:
        self.address = address
        self.daemon = daemon
        self.proc = proc  # the dbus-daemon: stop it to take the bus away

    def stop(self) -> None:
        """The session bus goes away (a desktop session ending, dbus-daemon killed)."""
        self.proc.terminate()
        self.proc.wait(5)


@pytest.fixture
def notification_bus(monkeypatch):
    """A private session bus (``DBUS_SESSION_BUS_ADDRESS`` points at it) with a
    notification daemon on it; ``.daemon.received`` is what reached the daemon."""
    pytest.importorskip("jeepney")
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon (apt: dbus)")
    # A short folder: a unix socket path must stay under 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="tj-bus-"))
    config = folder / "bus.conf"
    config.write_text(_BUS_CONFIG.format(socket=folder / "socket"))
    proc = subprocess.Popen(["dbus-daemon", "--nofork", f"--config-file={config}",
                             "--print-address=1"], stdout=subprocess.PIPE, text=True)
    daemon = None
    try:
        address = proc.stdout.readline().strip()  # printed once it listens
        if not address:
            raise RuntimeError(f"dbus-daemon did not start (exit {proc.wait(5)})")
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        daemon = NotificationDaemon(address)
        yield _Bus(address, daemon, proc)
    finally:
        if daemon is not None:
            daemon.close()
        if proc.poll() is None:
            proc.terminate()
        proc.wait(5)
        proc.stdout.close()
        shutil.rmtree(folder, ignore_errors=True)
