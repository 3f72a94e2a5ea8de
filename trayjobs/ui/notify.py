"""Desktop notifications: which runs deserve one, how bursts are summarised, and how
they reach the desktop.

:class:`NotificationRouter` decides: a run's *final* failure (never a retry),
a success with warnings (unless turned off), successes if asked for, nothing in quiet hours, and several finishing close
together become one notification ("12 imports failed"); after one, what finishes in the next
30 s is told together when they are over, so a stream of failures is a few notices, not one
every few seconds. Each notification
carries a *target* (a run, or a filtered list of runs) that a click opens.

:class:`Notifier` delivers: on Linux straight to the freedesktop notification
service over D-Bus, from a thread of its own with a default action (Qt's tray
would call it from the event loop: a notification daemon that hangs froze the
app for 25 s a notice, and a click could only lead to the latest notice), else
through the tray icon, else in the window's status bar. A notice the service
does not take is logged with its title, and shown by the tray where the
desktop has no notification service at all.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from ..alerts.quiet import in_quiet_hours
from ..store import outcome, run_warnings
from ..textfmt import warnings_text

__all__ = ["Notifier", "NotificationRouter", "in_quiet_hours", "summarise"]

log = logging.getLogger(__name__)

BURST_WINDOW_MS = 1500
#: After a notification, what finishes within this time waits for its end, to be told in
#: one (runs retried with jitter fail over a minute, not within the window above).
BURST_COOLDOWN_MS = 30_000

Target = tuple[str, Any]  # ("run", run id) or ("runs", {"job": ..., "states": ..., "since": ...})


def summarise(runs: list[dict[str, Any]], *, failed: bool,
              warned: bool = False) -> tuple[str, str, Target]:
    """(title, message, click target) for one run or a burst of them; ``warned``: runs
    that succeeded with warnings."""
    verb = "failed" if failed else "finished with warnings" if warned else "succeeded"
    if len(runs) == 1 and warned:
        run = runs[0]
        result = run.get("result") if isinstance(run.get("result"), dict) else {}
        warnings = run_warnings(result)
        body = "\n".join(w if len(w) <= 200 else w[:199] + "…" for w in warnings[:2])
        if len(warnings) > 2:
            body += f"\n… and {len(warnings) - 2} more"
        return (f"{run['job']} finished with {warnings_text(len(warnings))}",
                f"{result.get('summary') or ''}\n{body}\nRun {run['id']} · click for details"
                .lstrip(), ("run", run["id"]))
    if len(runs) == 1:
        run = runs[0]
        if failed:
            body = (run.get("error") or "failed").strip()
            if len(body) > 300:
                body = body[:299] + "…"
            return (f"{run['job']} failed", f"{body}\nRun {run['id']} · click for details",
                    ("run", run["id"]))
        result = run.get("result") if isinstance(run.get("result"), dict) else {}
        return (f"{run['job']} succeeded", result.get("summary") or f"Run {run['id']}",
                ("run", run["id"]))
    kinds = {r.get("kind") for r in runs}
    jobs: dict[str, int] = {}
    for r in runs:
        jobs[r["job"]] = jobs.get(r["job"], 0) + 1
    noun = _plural(next(iter(kinds))) if len(kinds) == 1 else "runs"
    title = f"{len(runs)} {noun} {verb}"
    listing = ", ".join(f"{j} ({n})" if n > 1 else j for j, n in
                        sorted(jobs.items(), key=lambda kv: -kv[1])[:4])
    if len(jobs) > 4:
        listing += f" and {len(jobs) - 4} more"
    body = listing
    if failed:
        latest = max(runs, key=lambda r: r["id"])
        body += f"\nLatest: {(latest.get('error') or 'failed').splitlines()[0][:200]}"
    body += "\nClick to see them"
    since = min(r.get("created_at") or time.time() for r in runs)
    states = ("failed",) if failed else ("warning",) if warned else ("succeeded",)
    target = ("runs", {"job": next(iter(jobs)) if len(jobs) == 1 else None,
                       "states": states, "since": since})
    return title, body, target


def _plural(kind: str | None) -> str:
    """Several runs of ``kind`` in words: the kind's own ``plural`` ("imports"), or "runs"."""
    from ..kinds.registry import get_kind
    try:
        return get_kind(kind or "").plural or "runs"
    except KeyError:
        return "runs"


class NotificationRouter(QObject):
    """Turns finished runs into (few) notifications."""

    def __init__(self, notifier: "Notifier", *, settings: Callable[[], Any],
                 job_notify: Callable[[str], str | None], parent: QObject | None = None,
                 window_ms: int = BURST_WINDOW_MS,
                 cooldown_ms: int = BURST_COOLDOWN_MS) -> None:
        super().__init__(parent)
        self.notifier = notifier
        self.settings = settings
        self.job_notify = job_notify
        self._failed: list[dict[str, Any]] = []
        self._warned: list[dict[str, Any]] = []
        self._succeeded: list[dict[str, Any]] = []
        self.suppressed = 0  # held back by quiet hours
        self._timer = QTimer(self, singleShot=True, interval=window_ms)
        self._timer.timeout.connect(self.flush)
        self._cooldown = QTimer(self, singleShot=True, interval=cooldown_ms)
        self._cooldown.timeout.connect(self._cooled)

    def run_finished(self, run: dict[str, Any]) -> None:
        """Called for every run that reached its final state."""
        pref = self.job_notify(run["job"]) or "failure"
        if pref == "never":
            return
        s = self.settings()
        if run["state"] == "failed":
            if not (getattr(s, "notify_failures", True) or pref == "always"):
                return
            self._failed.append(run)
        elif outcome(run) == "warning":
            if not (getattr(s, "notify_warnings", True) or pref == "always"):
                return
            self._warned.append(run)
        elif run["state"] == "succeeded":
            if not (getattr(s, "notify_success", False) or pref == "always"):
                return
            self._succeeded.append(run)
        else:
            return
        if not self._timer.isActive() and not self._cooldown.isActive():
            self._timer.start()  # gather what finishes together into one notification

    def _cooled(self) -> None:
        if self._failed or self._warned or self._succeeded:
            self.flush()  # what finished since the last notification, in one

    def flush(self) -> None:
        self._timer.stop()
        failed, self._failed = self._failed, []
        warned, self._warned = self._warned, []
        succeeded, self._succeeded = self._succeeded, []
        if in_quiet_hours(getattr(self.settings(), "quiet_hours", None)):
            self.suppressed += len(failed) + len(warned) + len(succeeded)
            return
        if failed or warned or succeeded:
            self._cooldown.start()
        if failed:
            title, body, target = summarise(failed, failed=True)
            self.notifier.notify(title, body, critical=True, target=target)
        if warned:
            title, body, target = summarise(warned, failed=False, warned=True)
            self.notifier.notify(title, body, critical=False, target=target)
        if succeeded:
            title, body, target = summarise(succeeded, failed=False)
            self.notifier.notify(title, body, critical=False, target=target)


class Notifier(QObject):
    """Shows a notification; ``clicked`` carries the target of the one that was clicked."""

    clicked = Signal(object)
    _dbusClicked = Signal(object)
    _dbusFailed = Signal(object)

    def __init__(self, tray: QSystemTrayIcon | None, fallback: Callable[[str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tray = tray
        self.fallback = fallback
        self.sent: list[dict[str, Any]] = []  # what was shown (the tests read it too)
        self._tray_target: Target | None = None
        self._dbus: _DBusNotifications | None = None
        self._dbusClicked.connect(self.clicked, Qt.ConnectionType.QueuedConnection)
        self._dbusFailed.connect(self._undelivered, Qt.ConnectionType.QueuedConnection)
        if tray is not None:
            tray.messageClicked.connect(lambda: self._tray_target and self.clicked.emit(
                self._tray_target))

    def via(self) -> str:
        if sys.platform.startswith("linux") and not (self._dbus is not None and self._dbus.dead):
            return "dbus"
        if self._tray_usable():
            return "tray"
        return "status"

    def _tray_usable(self) -> bool:
        return (self.tray is not None and QSystemTrayIcon.isSystemTrayAvailable()
                and self.tray.isVisible())

    def notify(self, title: str, message: str, *, critical: bool = False,
               target: Target | None = None) -> None:
        how = self.via()
        self.sent.append({"title": title, "message": message, "target": target, "via": how})
        if how == "tray":
            self._show_in_tray(title, message, critical, target)
            return
        if how == "dbus":
            if self._dbus is None:
                self._dbus = _DBusNotifications(self._dbusClicked.emit, self._dbusFailed.emit)
            self._dbus.send(title, message, critical=critical, target=target)
        self.fallback(f"{title}: {message.splitlines()[0]}")

    def _show_in_tray(self, title: str, message: str, critical: bool, target: Any) -> None:
        self._tray_target = target
        icon = (QSystemTrayIcon.MessageIcon.Critical if critical
                else QSystemTrayIcon.MessageIcon.Information)
        self.tray.showMessage(title, message, icon, 15_000 if critical else 8_000)

    def _undelivered(self, failure: dict[str, Any]) -> None:
        """A notice the notification service did not take: said in the log; with no
        service on the desktop (not one that hangs), the tray shows it instead."""
        log.warning("desktop notification %r not delivered: %s", failure["title"],
                    failure["why"])
        if failure["no_service"] and self._tray_usable():
            self.sent.append({"title": failure["title"], "message": failure["message"],
                              "target": failure["target"], "via": "tray"})
            self._show_in_tray(failure["title"], failure["message"], failure["critical"],
                               failure["target"])

    def close(self) -> None:
        if self._dbus is not None:
            self._dbus.close()


class _DBusNotifications:
    """The freedesktop notification service over D-Bus (jeepney, on its own thread).

    Each notification has a default action; the service's ``ActionInvoked`` signal
    for one of ours calls ``on_click(target)`` (from this thread: the caller queues it).
    A notice the service does not take within :attr:`REPLY_TIMEOUT` seconds, or with no
    session bus at all (then :attr:`dead`), goes to ``on_failed`` (a dict), also from
    this thread.
    """

    REPLY_TIMEOUT = 5.0
    NO_SERVICE = ("org.freedesktop.DBus.Error.ServiceUnknown",
                  "org.freedesktop.DBus.Error.NameHasNoOwner")

    def __init__(self, on_click: Callable[[Any], None],
                 on_failed: Callable[[dict[str, Any]], None] = lambda failure: None) -> None:
        # Imported here, on the caller's thread: a daemon thread importing while the
        # interpreter shuts down can crash it.
        try:
            import jeepney  # noqa: F401
            import jeepney.io.threading  # noqa: F401
        except ImportError:
            pass
        self.on_click = on_click
        self.on_failed = on_failed
        self.dead = False  # no session bus: every notice fails
        self._q: queue.Queue = queue.Queue()
        self._targets: dict[int, Any] = {}
        self._thread = threading.Thread(target=self._run, name="trayjobs-notify", daemon=True)
        self._thread.start()

    def send(self, title: str, message: str, *, critical: bool, target: Any) -> None:
        self._q.put((title, message, critical, target))

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(2)

    def _failed(self, item: tuple, why: str, *, no_service: bool) -> None:
        title, message, critical, target = item
        self.on_failed({"title": title, "message": message, "critical": critical,
                        "target": target, "why": why, "no_service": no_service})

    def _run(self) -> None:
        try:
            self._serve()
        except Exception as exc:  # no session bus: each notice is said to fail
            log.info("no desktop notifications over D-Bus: %s", exc)
            self._drain(f"no session bus ({exc})")

    def _drain(self, why: str) -> None:
        """No bus: each notice from now on is said to fail, until close()."""
        self.dead = True
        while (item := self._q.get()) is not None:
            self._failed(item, why, no_service=True)

    def _serve(self) -> None:
        try:
            from jeepney import DBusAddress, MatchRule, message_bus, new_method_call
            from jeepney.wrappers import DBusErrorResponse, unwrap_msg
            from jeepney.io.threading import Proxy, open_dbus_router
        except ImportError as exc:
            raise RuntimeError("the jeepney package is missing") from exc
        addr = DBusAddress("/org/freedesktop/Notifications", bus_name="org.freedesktop.Notifications",
                           interface="org.freedesktop.Notifications")
        rule = MatchRule(type="signal", interface="org.freedesktop.Notifications",
                         member="ActionInvoked", path="/org/freedesktop/Notifications")
        with open_dbus_router(bus="SESSION") as router:
            Proxy(message_bus, router).AddMatch(rule)
            with router.filter(rule, bufsize=64) as signals:
                listener = threading.Thread(target=self._listen, args=(signals,),
                                            name="trayjobs-notify-actions", daemon=True)
                listener.start()
                while True:
                    item = self._q.get()
                    if item is None:
                        return
                    title, message, critical, target = item
                    hints = {"urgency": ("y", 2 if critical else 1)}
                    msg = new_method_call(addr, "Notify", "susssasa{sv}i",
                                          ("trayjobs", 0, "trayjobs", title, message,
                                           ["default", "Open"], hints,
                                           15_000 if critical else 8_000))
                    try:
                        reply = unwrap_msg(router.send_and_get_reply(
                            msg, timeout=self.REPLY_TIMEOUT))
                        self._targets[int(reply[0])] = target
                    except DBusErrorResponse as exc:
                        self._failed(item, f"{exc.name}: {' '.join(map(str, exc.data))}",
                                     no_service=exc.name in self.NO_SERVICE)
                    except TimeoutError:
                        self._failed(item, "the notification service did not answer within"
                                     f" {self.REPLY_TIMEOUT:g} s (it may show it later)",
                                     no_service=False)
                    except Exception as exc:  # the bus went away: this one, and the rest
                        why = f"the session bus went away ({exc})"
                        self._failed(item, why, no_service=True)
                        # Said here, not once the router is left: leaving it may wait on
                        # its receiving thread, which the bus's end took down.
                        self._drain(why)
                        return

    def _listen(self, q: queue.Queue) -> None:
        while True:
            try:
                msg = q.get()
            except Exception:
                return
            nid, _action = msg.body
            target = self._targets.get(int(nid))
            if target is not None:
                self.on_click(target)
