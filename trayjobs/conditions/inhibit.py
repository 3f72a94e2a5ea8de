"""Holding off sleep while a run is going: a logind inhibitor lock.

``Inhibit("sleep", "trayjobs", why, mode)`` on ``org.freedesktop.login1`` returns a
file descriptor; the lock lasts exactly as long as that descriptor is open anywhere.
So it is closed when the run ends, and should the process holding it be killed, the
kernel closes it and logind lets the computer sleep again: a crash never leaves the
computer unable to suspend.
"""

from __future__ import annotations

import logging
import os

from .system import LOGIN1, LOGIN1_PATH

__all__ = ["SleepLock", "InhibitError", "inhibit_sleep"]

log = logging.getLogger(__name__)


class InhibitError(Exception):
    """logind could not be asked (no system bus, no logind, refused by policy)."""


class SleepLock:
    """An open inhibitor lock; ``release()`` (or the end of a ``with``) lets it go."""

    def __init__(self, fd: int, mode: str) -> None:
        self.fd: int | None = fd
        self.mode = mode

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    def __enter__(self) -> "SleepLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def inhibit_sleep(why: str, *, mode: str = "block", bus: str = "SYSTEM",
                  timeout: float = 5.0) -> SleepLock:
    """Take a sleep inhibitor lock (``mode``: ``block`` or ``delay``) with ``why`` as its
    reason; :class:`InhibitError` when it cannot be had."""
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg
    except ImportError as exc:
        raise InhibitError("jeepney (D-Bus) is not installed") from exc
    try:
        conn = open_dbus_connection(bus=bus, enable_fds=True)
    except Exception as exc:
        raise InhibitError(f"no system bus ({exc})") from exc
    try:
        msg = new_method_call(DBusAddress(LOGIN1_PATH, bus_name=LOGIN1,
                                          interface="org.freedesktop.login1.Manager"),
                              "Inhibit", "ssss", ("sleep", "trayjobs", why, mode))
        try:
            (fd,) = unwrap_msg(conn.send_and_get_reply(msg, timeout=timeout))
        except TimeoutError as exc:  # says nothing of its own
            raise InhibitError(f"logind did not answer within {timeout:g} s") from exc
        except Exception as exc:
            raise InhibitError(f"logind refused or is not there ({exc})") from exc
        raw = fd.to_raw_fd()
        os.set_inheritable(raw, False)  # job processes must not keep it alive
        return SleepLock(raw, mode)
    finally:
        conn.close()
