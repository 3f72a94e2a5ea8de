"""``desktop://``: a notification on this computer's desktop.

In the app, the window's own notifier shows it (the app sets :data:`show`); in the
headless worker, the freedesktop notification service on the session bus, where there is
one (a worker started in a desktop session), else a clear error.
"""

from __future__ import annotations

import os
from typing import Callable

from . import Channel, DeliveryError, Message, register

__all__ = ["DesktopChannel", "show"]

#: Set by the app: shows (title, body, failure) with its tray icon or notifier.
show: Callable[[str, str, bool], None] | None = None


@register
class DesktopChannel(Channel):
    schemes = ("desktop",)

    def send(self, message: Message, *, timeout: float = 30.0) -> None:
        if show is not None:
            show(message.title, message.body, message.failure)
            return
        if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            raise DeliveryError("no desktop session here (no session bus): desktop:// "
                                "needs the app, or a worker started in a desktop session",
                                retry=False)
        try:
            from jeepney import DBusAddress, new_method_call
            from jeepney.io.blocking import open_dbus_connection
            addr = DBusAddress("/org/freedesktop/Notifications",
                               bus_name="org.freedesktop.Notifications",
                               interface="org.freedesktop.Notifications")
            hints = {"urgency": ("y", 2 if message.failure else 1)}
            with open_dbus_connection(bus="SESSION") as conn:
                conn.send_and_get_reply(new_method_call(
                    addr, "Notify", "susssasa{sv}i",
                    ("trayjobs", 0, "trayjobs", message.title, message.body, [], hints, 10_000)),
                    timeout=timeout)
        except Exception as exc:
            raise DeliveryError(f"the desktop's notification service did not answer: {exc}")
