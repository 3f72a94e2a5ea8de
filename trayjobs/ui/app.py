"""The desktop app: engine + tray + window, wired through the bridge and the service."""

from __future__ import annotations

import logging
import logging.handlers
import signal
import socket
import sys
import threading
import time
from typing import Any

from PySide6.QtCore import QObject, QSettings, QSocketNotifier, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from ..engine.engine import Engine
from ..firstrun import ensure_first_run
from ..instance import AlreadyRunning, InstanceLock
from ..paths import Home
from ..queue import Queue
from ..schedule import local_now
from ..textfmt import when
from .bridge import EngineBridge
from .details import RunDetails
from .icons import icon
from .notify import Notifier
from .service import Service
from .tray import Tray
from .window import MainWindow

__all__ = ["TrayApp", "run_app"]

log = logging.getLogger(__name__)


class TrayApp(QObject):
    ready = Signal()                 # the engine is running
    startFailed = Signal(str)
    jobsLoaded = Signal()
    runsLoaded = Signal()
    stopped = Signal()
    _engineStarted = Signal(object)
    _control = Signal(object)

    def __init__(self, home: Home, *, minimized: bool = False, workers: int | None = None,
                 grace: float = 3.0) -> None:
        super().__init__()
        self.home = home.ensure()
        self.minimized = minimized
        self._workers, self._grace = workers, grace
        self.qsettings = QSettings(str(home.config_dir / "window.ini"), QSettings.IniFormat)
        self.engine: Engine | None = None
        self.bridge = EngineBridge(self)
        self.service = Service(self)
        self.service.failed.connect(self.status)
        self.paused = False
        self._jobs: list[dict[str, Any]] = []
        self._running: dict[int, dict[str, Any]] = {}
        self._failures: list[dict[str, Any]] = []
        self._unseen_failures = 0
        self._last_notified: int | None = None
        self._quitting = False
        self.window = MainWindow(self)
        self.tray = Tray(self)
        self.notifier = Notifier(self.tray.icon, self.status)
        self._reload_jobs = QTimer(self, singleShot=True, interval=300)
        self._reload_jobs.timeout.connect(self.refresh_jobs)
        self._engineStarted.connect(self._on_engine_started, Qt.QueuedConnection)
        self._control.connect(self._on_control, Qt.QueuedConnection)
        self.bridge.runChanged.connect(self._on_run_changed)
        self.bridge.progress.connect(self._on_progress)
        self.bridge.jobsChanged.connect(lambda _r: self._reload_jobs.start())
        self.bridge.notice.connect(lambda n: self.status(n.message))

    # -- start and stop ---------------------------------------------------------------

    def start(self) -> None:
        if Tray.available():
            self.tray.show()
        if not self.minimized or not Tray.available():
            self.show_window()

        def boot() -> None:
            try:
                eng = Engine(self.home, workers=self._workers, grace=self._grace, mode="app")
                eng.start()
                self._engineStarted.emit(eng)
            except Exception as exc:  # shown in the window; the app stays up
                log.exception("engine did not start")
                self._engineStarted.emit(exc)

        threading.Thread(target=boot, name="trayjobs-boot", daemon=True).start()

    def _on_engine_started(self, result) -> None:
        if isinstance(result, Exception):
            msg = str(result)
            if isinstance(result, AlreadyRunning):
                msg += ". Stop it first (or use it: trayjobs runs, trayjobs run JOB)."
            self.window.statusBar().showMessage(f"Jobs are not running: {msg}")
            self.window.show_config_errors([f"trayjobs could not start its engine: {msg}"], "")
            self.startFailed.emit(msg)
            return
        self.engine = result
        self.engine.on_control = self._control.emit  # from the control thread: queue it
        self.bridge.attach(self.engine.bus)
        self.status("Ready")
        self.refresh_jobs()
        self.refresh_runs()
        self.ready.emit()

    def quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        self.status("Stopping: running jobs get a few seconds to finish…")
        eng = self.engine

        def stop() -> None:
            if eng is not None:
                try:
                    eng.stop()
                except Exception:
                    log.exception("engine did not stop cleanly")
            self.service.stop()
            QTimer.singleShot(0, QApplication.instance(), self._finish_quit)

        self.bridge.detach()
        threading.Thread(target=stop, name="trayjobs-stop", daemon=True).start()

    def _finish_quit(self) -> None:
        self.tray.icon.hide()
        self.window.hide()
        self.stopped.emit()
        QApplication.instance().quit()

    def _on_control(self, msg: dict[str, Any]) -> None:
        if msg.get("op") == "show":
            self.show_window()

    # -- window -----------------------------------------------------------------------

    def show_window(self) -> None:
        self.window.show()
        self.window.setWindowState(self.window.windowState() & ~Qt.WindowMinimized)
        self.window.raise_()
        self.window.activateWindow()
        self._unseen_failures = 0
        self._update_tray()

    def toggle_window(self) -> None:
        if self.window.isVisible():
            self.window.hide()
        else:
            self.show_window()

    def close_window_requested(self) -> bool:
        """True: the window only hides (the tray keeps the app); False: the app quits."""
        if Tray.available() and not self._quitting:
            return True
        if self._quitting:
            return False
        ans = QMessageBox.question(
            self.window, "Quit trayjobs?",
            "There is no system tray on this desktop. Quit trayjobs (scheduled and watched "
            "jobs stop), or keep it running in the background?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if ans == QMessageBox.StandardButton.Yes:
            self.quit()
            return False
        self.window.showMinimized()
        return True

    def status(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 15_000)

    def open_run(self, run_id: int) -> RunDetails:
        self.show_window()
        dlg = RunDetails(self, run_id, self.window)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def open_last_notified(self) -> None:
        if self._last_notified is not None:
            self.open_run(self._last_notified)
        else:
            self.show_window()

    # -- commands ---------------------------------------------------------------------

    def run_job(self, name: str) -> None:
        if self.engine is None:
            self.status("Still starting; try again in a moment")
            return
        eng = self.engine
        self.service.call(lambda: eng.submit(name, trigger="manual"),
                          lambda rid: self.status(f"Started run {rid} of {name}"))

    def toggle_pause(self) -> None:
        if self.engine is None:
            return
        eng, want = self.engine, not self.paused
        self.service.call(lambda: eng.set_paused(want), lambda _r: self._set_paused(want))

    def _set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.window.set_paused(paused)
        self.status("All jobs paused" if paused else "Jobs resumed")
        self._update_tray()

    # -- data -------------------------------------------------------------------------

    def refresh_jobs(self) -> None:
        if self.engine is None:
            return
        eng = self.engine

        def load():
            cfg = eng.config
            states, last = eng.store.job_states(), eng.store.last_runs()
            paused_all = eng.paused()
            rows = []
            for job in cfg.jobs.values():
                st = states.get(job.name, {})
                nxt = st.get("next_run_at") if st.get("schedule_spec") == job.schedule_spec else None
                if job.schedule and nxt is None:
                    nxt = job.schedule.next_after(local_now()).timestamp()
                status = ("disabled" if not job.enabled else
                          "paused" if paused_all or st.get("paused") else "enabled")
                rows.append({"name": job.name, "kind": job.kind, "trigger": job.trigger_text(),
                             "next_run_at": nxt if job.schedule and job.enabled else None,
                             "last": last.get(job.name), "status": status,
                             "enabled": job.enabled, "description": job.common.description})
            return rows, paused_all, [str(e) for e in cfg.errors], str(cfg.path or "")

        self.service.call(load, self._jobs_loaded)

    def _jobs_loaded(self, data) -> None:
        rows, paused, errors, path = data
        self._jobs = rows
        self.window.jobs_model.set_rows(rows)
        self.window.show_config_errors(errors, path)
        self.paused = paused
        self.window.set_paused(paused)
        self._update_tray()
        self.jobsLoaded.emit()

    def refresh_runs(self) -> None:
        if self.engine is None:
            return
        eng = self.engine
        self.service.call(lambda: (eng.store.list_runs(limit=self.window.runs_model.limit),
                                   eng.store.list_runs(state="failed", limit=5)),
                          self._runs_loaded)

    def _runs_loaded(self, data) -> None:
        runs, failures = data
        self.window.runs_model.set_rows(runs)
        self._running = {r["id"]: r for r in runs if r["state"] == "running"}
        self._failures = failures
        self._update_tray()
        self.runsLoaded.emit()

    def _on_run_changed(self, run: dict[str, Any], final: bool) -> None:
        self.window.runs_model.upsert(run)
        if run["state"] == "running":
            self._running[run["id"]] = run
        else:
            self._running.pop(run["id"], None)
        if final and run["state"] == "failed":
            self._failures = [run] + [f for f in self._failures if f["id"] != run["id"]][:4]
            self._unseen_failures += 0 if self.window.isActiveWindow() else 1
            self._notify_failure(run)
        if final:
            self._reload_jobs.start()
        self._update_tray()

    def _notify_failure(self, run: dict[str, Any]) -> None:
        eng = self.engine
        job = eng.config.jobs.get(run["job"]) if eng else None
        if job is not None and job.common.notify == "never":
            return
        if eng is not None and not eng.config.settings.notify_failures and (
                job is None or job.common.notify != "always"):
            return
        self._last_notified = run["id"]
        self.notifier.notify(f"{run['job']} failed",
                             f"{run.get('error') or 'failed'}\nRun {run['id']}: click for details",
                             critical=True)

    def _on_progress(self, updates) -> None:
        self.window.runs_model.apply_progress(updates)
        for rid, p in updates.items():
            if rid in self._running:
                self._running[rid]["progress"] = p
        self._update_tray(tooltip_only=True)

    # -- tray state -------------------------------------------------------------------

    def jobs_snapshot(self) -> list[dict[str, Any]]:
        return self._jobs

    def running_snapshot(self) -> list[dict[str, Any]]:
        out = []
        for r in self._running.values():
            p = r.get("progress")
            pct = f"{100 * p.done / p.total:.0f} %" if p and p.total and p.done is not None else ""
            out.append({"id": r["id"], "job": r["job"], "text": pct})
        return out

    def recent_failures(self) -> list[dict[str, Any]]:
        return self._failures

    def _update_tray(self, tooltip_only: bool = False) -> None:
        parts = []
        if self._running:
            running = self.running_snapshot()
            parts.append(f"{len(running)} running" + (
                f" ({running[0]['job']} {running[0]['text']})".replace(" )", ")") if len(running) == 1 else ""))
        nxt = min((j for j in self._jobs if j.get("next_run_at")), key=lambda j: j["next_run_at"],
                  default=None)
        if nxt and not self.paused:
            parts.append(f"next: {nxt['name']} {when(nxt['next_run_at'])}")
        if self.paused:
            parts.append("paused")
        if self._unseen_failures:
            parts.append(f"{self._unseen_failures} failed")
        tip = "trayjobs · " + " · ".join(parts) if parts else "trayjobs · idle"
        state = ("failed" if self._unseen_failures else "running" if self._running
                 else "paused" if self.paused else "idle")
        self.tray.set_state(state, tip)


def _setup_logging(home: Home) -> None:
    home.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(home.log_dir / "trayjobs.log",
                                                   maxBytes=2_000_000, backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("huey").setLevel(logging.WARNING)


def _install_signal_wakeup(app: QApplication, on_signal) -> None:
    """SIGINT/SIGTERM reach the Qt loop through a wake-up fd, then quit gracefully."""
    r, w = socket.socketpair()
    r.setblocking(False)
    w.setblocking(False)
    signal.set_wakeup_fd(w.fileno())
    notifier = QSocketNotifier(r.fileno(), QSocketNotifier.Read, app)

    def readable() -> None:
        try:
            r.recv(64)
        except OSError:
            pass
        on_signal()

    notifier.activated.connect(readable)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)  # handled via the fd above
    app._signal_sockets = (r, w, notifier)  # keep them alive


def run_app(home: Home, *, minimized: bool = False) -> int:
    lock = InstanceLock(home)
    if lock.is_locked():
        pid, mode = lock.owner()
        if mode == "app" and Queue(home).notify({"op": "show"}):
            print(f"trayjobs is already running (pid {pid}); showing its window.", file=sys.stderr)
            return 0
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("trayjobs")
    app.setApplicationDisplayName("trayjobs")
    app.setDesktopFileName("io.github.trayjobs.TrayJobs")
    app.setWindowIcon(icon("trayjobs"))
    app.setQuitOnLastWindowClosed(False)
    _setup_logging(home)
    ensure_first_run(home)  # no jobs file yet: the example set-up (Inbox, Scratch, reports)
    tray_app = TrayApp(home, minimized=minimized)
    _install_signal_wakeup(app, tray_app.quit)
    tray_app.start()
    return app.exec()
