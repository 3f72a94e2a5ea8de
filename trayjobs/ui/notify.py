"""Desktop notifications: through the tray where there is one, else straight to the
freedesktop notification service over D-Bus, else in the window's status bar."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Callable

from PySide6.QtWidgets import QSystemTrayIcon

__all__ = ["Notifier"]

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, tray: QSystemTrayIcon | None, fallback: Callable[[str], None]) -> None:
        self.tray = tray
        self.fallback = fallback
        self.sent: list[tuple[str, str]] = []  # what was shown, for the window's record

    def notify(self, title: str, message: str, *, critical: bool = False) -> None:
        self.sent.append((title, message))
        if self.tray is not None and QSystemTrayIcon.isSystemTrayAvailable() and self.tray.isVisible():
            icon = QSystemTrayIcon.Critical if critical else QSystemTrayIcon.Information
            self.tray.showMessage(title, message, icon, 10_000)
            return
        if sys.platform.startswith("linux"):
            threading.Thread(target=self._dbus, args=(title, message), daemon=True).start()
        self.fallback(f"{title}: {message}")

    @staticmethod
    def _dbus(title: str, message: str) -> None:
        try:
            from jeepney import DBusAddress, new_method_call
            from jeepney.io.blocking import open_dbus_connection
        except ImportError:
            return
        try:
            addr = DBusAddress("/org/freedesktop/Notifications",
                               bus_name="org.freedesktop.Notifications",
                               interface="org.freedesktop.Notifications")
            msg = new_method_call(addr, "Notify", "susssasa{sv}i",
                                  ("trayjobs", 0, "trayjobs", title, message, [], {}, 10_000))
            with open_dbus_connection(bus="SESSION") as conn:
                conn.send_and_get_reply(msg, timeout=3)
        except Exception as exc:  # no session bus or no notification service: the status bar has it
            log.info("desktop notification not delivered: %s", exc)
