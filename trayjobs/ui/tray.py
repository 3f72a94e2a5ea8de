"""The tray icon: its state, its tooltip, and a menu rebuilt each time it opens."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from ..textfmt import when
from .icons import tray_icon

__all__ = ["Tray", "tray_status"]

TRAY_RECHECK_MS = 2000


def tray_status(*, running: list[dict[str, Any]], next_job: dict[str, Any] | None,
                paused: bool, failed: int, warned: int = 0,
                waiting: list[dict[str, Any]] = (), problems: list[str] = (),
                retrying: list[dict[str, Any]] = ()) -> tuple[str, str]:
    """(icon state, tooltip), e.g. ("running", "2 running · next: Weekly report Mon 09:00");
    ``failed``, ``warned``: runs not seen yet that failed, or succeeded with warnings;
    ``waiting``: runs waiting for their conditions (``job``, ``wait_reason``);
    ``retrying``: failed attempts waiting for the next one (``job``, ``attempt``,
    ``max_attempts``, ``next_attempt_at``): still under way, so never "idle";
    ``problems``: lasting ones, in a few words each (a server that cannot be reached),
    first in the tooltip and a warning badge."""
    parts = list(problems)
    if running:
        text = f"{len(running)} running"
        if len(running) == 1:
            only = running[0]
            text += f": {only['job']}" + (f" {only['text']}" if only.get("text") else "")
        parts.append(text)
    if waiting:
        first = waiting[0]
        text = f"{len(waiting)} waiting: {first['job']}"
        if first.get("wait_reason"):
            text += f", {first['wait_reason']}"
        parts.append(text + (f" (and {len(waiting) - 1} more)" if len(waiting) > 1 else ""))
    if retrying:
        first = min(retrying, key=lambda r: r.get("next_attempt_at") or 0)
        text = f"{len(retrying)} retrying: {first['job']}"
        if first.get("next_attempt_at"):
            text += (f", attempt {first['attempt'] + 1}/{first['max_attempts']}"
                     f" at {when(first['next_attempt_at'], seconds=True)}")
        parts.append(text + (f" (and {len(retrying) - 1} more)" if len(retrying) > 1 else ""))
    if paused:
        parts.append("paused")
    elif next_job and next_job.get("next_run_at"):
        parts.append(f"next: {next_job['name']} {when(next_job['next_run_at'])}")
    if failed:
        parts.append(f"{failed} failed")
    if warned:
        parts.append(f"{warned} with warnings")
    state = ("failed" if failed else "warning" if warned or problems else "running" if running or retrying
             else "paused" if paused else "idle")
    return state, " · ".join(parts) if parts else "trayjobs · idle"


class Tray:
    """Icon with state, tooltip, and a menu rebuilt each time it opens."""

    def __init__(self, app) -> None:
        self.app = app
        self.state = "idle"
        self.badge = 0
        self.icon = QSystemTrayIcon(tray_icon("idle"))
        self.icon.setToolTip("trayjobs")
        self.menu = QMenu()
        self.menu.setObjectName("trayMenu")
        self.menu.aboutToShow.connect(self.rebuild)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        # No tray yet (started at login before the panel, or the panel restarting): look
        # again now and then, and show the icon once there is one.
        self._wait_for_tray = QTimer(self.menu, interval=TRAY_RECHECK_MS)
        self._wait_for_tray.timeout.connect(self.show)
        self.rebuild()

    def show(self) -> None:
        """Show the icon; where the desktop has no tray yet, as soon as it has one."""
        if self.available():
            self._wait_for_tray.stop()
            if not self.icon.isVisible():
                self.icon.show()
        elif not self._wait_for_tray.isActive():
            self._wait_for_tray.start()

    def hide(self) -> None:
        """Take the icon away, and stop waiting for a tray (the app quits)."""
        self._wait_for_tray.stop()
        self.icon.hide()

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def _activated(self, reason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.app.toggle_window()

    def _add(self, menu: QMenu, text: str, slot, name: str = "") -> QAction:
        act = menu.addAction(text)
        if slot is not None:
            act.triggered.connect(lambda _=False: slot())
        if name:
            act.setObjectName(name)
        return act

    def rebuild(self) -> None:
        app, m = self.app, self.menu
        for act in m.actions():
            if act.menu() is not None:
                act.menu().deleteLater()  # submenus are the menu's children: do not pile up
        m.clear()
        self._add(m, "Open trayjobs", app.show_window, "open")

        run_menu = m.addMenu("Run now")
        run_menu.setObjectName("runNow")
        jobs = [j for j in app.jobs_snapshot() if j["enabled"]]
        for job in jobs:
            self._add(run_menu, job["name"], lambda n=job["name"]: app.run_job(n), f"run:{job['name']}")
        if not jobs:
            run_menu.addAction("No enabled jobs").setEnabled(False)

        running = app.running_snapshot()
        rm = m.addMenu(f"Running ({len(running)})" if running else "Running")
        rm.setObjectName("running")
        for run in running:
            label = f"{run['job']} {run['text']}".strip()
            self._add(rm, label, lambda rid=run["id"]: app.open_run(rid), f"running:{run['id']}")
        if not running:
            rm.addAction("Nothing is running").setEnabled(False)

        self._add(m, "Resume" if app.paused else "Pause all", app.toggle_pause, "pause")

        waiting = app.unseen_failures + app.unseen_warnings
        act = self._add(m, f"Needs attention ({waiting})" if waiting else "Needs attention",
                        app.show_attention, "attention")
        act.setEnabled(bool(waiting))

        failures = app.recent_failures()[:5]
        fm = m.addMenu("Recent failures")
        fm.setObjectName("failures")
        for run in failures:
            error = (run.get("error") or "failed").splitlines()[0]
            if len(error) > 60:
                error = error[:59] + "…"
            self._add(fm, f"{run['job']}: {error}", lambda rid=run["id"]: app.open_run(rid),
                      f"failure:{run['id']}")
        if failures:
            fm.addSeparator()
            self._add(fm, "Show all failures", app.show_failures, "allFailures")
        else:
            fm.addAction("No failures").setEnabled(False)

        m.addSeparator()
        report = self._add(m, "Open latest report", app.open_latest_report, "latestReport")
        report.setEnabled(app.latest_report() is not None)
        self._add(m, "Open data folder", app.open_data_folder, "dataFolder")
        m.addSeparator()
        self._add(m, "Quit", app.quit, "quit")

    def set_state(self, state: str, tooltip: str, *, badge: int = 0) -> None:
        """Always the app's own icon; ``state`` and ``badge`` (runs not seen yet that need
        attention) are a badge over it."""
        if (state, badge) != (self.state, self.badge):
            self.state, self.badge = state, badge
            self.icon.setIcon(tray_icon(state, badge))
        if tooltip != self.icon.toolTip():
            self.icon.setToolTip(tooltip)

    def action(self, object_name: str) -> QAction | None:
        """Find a menu action by name (menus are rebuilt, so look them up each time)."""
        self.rebuild()
        stack = [self.menu]
        while stack:
            menu = stack.pop()
            for a in menu.actions():
                if a.objectName() == object_name:
                    return a
                if a.menu():
                    if a.menu().objectName() == object_name:
                        return a
                    stack.append(a.menu())
        return None

    def texts(self, submenu: str | None = None) -> list[str]:
        """The labels of the menu (or a submenu) as a person would see them."""
        self.rebuild()
        menu = self.menu
        if submenu is not None:
            act = self.action(submenu)
            menu = act.menu() if act is not None else None
        return [a.text() for a in menu.actions() if not a.isSeparator()] if menu else []
