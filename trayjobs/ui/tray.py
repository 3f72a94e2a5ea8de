"""The tray icon and its menu."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from .icons import icon

__all__ = ["Tray"]


class Tray:
    """Icon with state, tooltip, and a menu rebuilt each time it opens."""

    def __init__(self, app) -> None:
        self.app = app
        self.icon = QSystemTrayIcon(icon("tray-idle"))
        self.icon.setToolTip("trayjobs")
        self.menu = QMenu()
        self.menu.setObjectName("trayMenu")
        self.menu.aboutToShow.connect(self.rebuild)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self.app.open_last_notified)
        self.rebuild()

    def show(self) -> None:
        self.icon.show()

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def _activated(self, reason) -> None:
        if reason in (QSystemTrayIcon.Trigger, QSystemTrayIcon.DoubleClick):
            self.app.toggle_window()

    def rebuild(self) -> None:
        m = self.menu
        m.clear()
        m.addAction("Open trayjobs", self.app.show_window).setObjectName("open")
        run_menu = m.addMenu("Run now")
        run_menu.setObjectName("runNow")
        jobs = [j for j in self.app.jobs_snapshot() if j["enabled"]]
        for job in jobs:
            act = run_menu.addAction(job["name"])
            act.setObjectName(f"run:{job['name']}")
            act.triggered.connect(lambda _=False, n=job["name"]: self.app.run_job(n))
        if not jobs:
            run_menu.addAction("No jobs yet").setEnabled(False)
        running = self.app.running_snapshot()
        if running:
            rm = m.addMenu(f"Running ({len(running)})")
            for run in running:
                rm.addAction(f"{run['job']} {run['text']}",
                             lambda rid=run["id"]: self.app.open_run(rid))
        paused = self.app.paused
        act = QAction("Resume" if paused else "Pause all", m)
        act.setObjectName("pause")
        act.triggered.connect(self.app.toggle_pause)
        m.addAction(act)
        failures = self.app.recent_failures()
        if failures:
            fm = m.addMenu("Recent failures")
            for run in failures[:5]:
                fm.addAction(f"{run['job']}: {(run.get('error') or '')[:60]}",
                             lambda rid=run["id"]: self.app.open_run(rid))
        m.addSeparator()
        m.addAction("Quit", self.app.quit).setObjectName("quit")

    def set_state(self, state: str, tooltip: str) -> None:
        self.icon.setIcon(icon(f"tray-{state}"))
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
                    stack.append(a.menu())
                    if a.menu().objectName() == object_name:
                        return a
        return None
