"""The desktop app: engine + tray + window, wired through the bridge and the service.

The engine starts on a thread of its own; every read of the run store and every
command goes through :class:`~.service.Service`, so the GUI thread never waits
on SQLite or the queue. Engine events reach the window through the
:class:`~.bridge.EngineBridge`. What the person can do (run, cancel, retry,
undo, pause, edit the jobs file) is in :mod:`.commands`.
"""

from __future__ import annotations

import gc
import logging
import logging.handlers
import signal
import socket
import sys
import threading
from typing import Any

from PySide6.QtCore import QObject, QSettings, QSocketNotifier, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QCheckBox, QMessageBox, QStyle

from ..engine.engine import Engine, Halted
from ..engine.events import Notice
from ..firstrun import ensure_first_run
from ..instance import AlreadyRunning
from ..paths import Home
from ..queue import Queue
from .bridge import EngineBridge
from .commands import Commands
from .compat import guard_singletons
from .confwatch import ConfigWatcher
from .icons import icon
from .jobs_model import JobsModel
from .notify import NotificationRouter, Notifier
from .service import Service
from .single import SingleInstance
from .theme import apply_theme
from .tray import Tray, tray_status
from .wheel import guard_wheel
from .window import MainWindow

__all__ = ["TrayApp", "run_app"]

log = logging.getLogger(__name__)


class TrayApp(QObject, Commands):
    ready = Signal()                 # the engine is running
    startFailed = Signal(str)
    jobsLoaded = Signal()
    stopped = Signal()
    _engineStarted = Signal(object)
    _control = Signal(object)
    _desktopAlert = Signal(str, str, bool)  # a desktop:// alert channel's message
    _problem = Signal(object)               # a Notice of a lasting problem, or its end

    def __init__(self, home: Home, *, minimized: bool = False, workers: int | None = None,
                 grace: float = 3.0) -> None:
        QObject.__init__(self)
        self.home = home.ensure()
        self.minimized = minimized
        self._workers, self._grace = workers, grace
        self.qsettings = QSettings(str(home.config_dir / "window.ini"), QSettings.Format.IniFormat)
        self.engine: Engine | None = None
        self.bridge = EngineBridge(self)
        self.service = Service(self)
        self.service.failed.connect(self.status)
        self.paused = False
        self.settings = None             # the config's Settings, once loaded
        self._jobs: list[dict[str, Any]] = []
        self._running: dict[int, dict[str, Any]] = {}
        self._waiting: dict[int, dict[str, Any]] = {}  # runs waiting for their conditions
        self._retrying: dict[int, dict[str, Any]] = {}  # failed attempts, the next one to come
        self._progress: dict[int, Any] = {}
        self._failures: list[dict[str, Any]] = []
        self._latest_report: str | None = None
        #: Lasting problems (a server away, other versions): name -> (message, few words)
        self.problems: dict[str, tuple[str, str]] = {}
        self.unseen_failures = 0
        self.unseen_warnings = 0         # runs that succeeded with warnings, not seen yet
        self.jobs_loads = 0              # how often the jobs list was loaded (tests wait on it)
        self._quitting = False
        self._settled = False            # start-up objects frozen for the collector
        apply_theme(str(self.qsettings.value("window/theme", "system")))
        self.window = MainWindow(self)
        bar = self.window.statusBar()  # status(): a cut message's whole text, while shown
        bar.messageChanged.connect(lambda shown: shown or bar.setToolTip(""))
        self.tray = Tray(self)
        self.notifier = Notifier(self.tray.icon, self.status, self)
        self.notifier.clicked.connect(self.open_target)
        self.router = NotificationRouter(self.notifier, settings=lambda: self.settings,
                                         job_notify=self._job_notify, parent=self)
        self.config_watch = ConfigWatcher(home.config_file, self)
        self.config_watch.changed.connect(self.config_edited)
        self._reload_jobs = QTimer(self, singleShot=True, interval=250)
        self._reload_jobs.timeout.connect(self.refresh_jobs)
        self._tip_timer = QTimer(self, singleShot=True, interval=1000)
        self._tip_timer.timeout.connect(self._update_tray)
        self._engineStarted.connect(self._on_engine_started, Qt.ConnectionType.QueuedConnection)
        self._control.connect(self._on_control, Qt.ConnectionType.QueuedConnection)
        self.bridge.runChanged.connect(self._on_run_changed)
        self.bridge.progress.connect(self._on_progress)
        self.bridge.jobsChanged.connect(lambda _r: self._reload_jobs.start())
        self.bridge.watchChanged.connect(lambda _e: self._reload_jobs.start())
        self.bridge.notice.connect(self._notice)
        self._problem.connect(self._on_problem, Qt.ConnectionType.QueuedConnection)
        self._desktopAlert.connect(
            lambda title, body, failure: self.notifier.notify(title, body, critical=failure),
            Qt.ConnectionType.QueuedConnection)

    # -- start and stop ---------------------------------------------------------------

    def start(self) -> None:
        self.tray.show()  # now, or once the desktop has a tray
        if not self.minimized or not Tray.available():
            self.show_window()

        def boot() -> None:
            try:
                eng = Engine(self.home, workers=self._workers, grace=self._grace, mode="app")
                # Heard from the start on (the bridge is attached once it started): a
                # server away makes the start wait, and the window says why meanwhile.
                eng.bus.subscribe(self._engine_problem)
                self._booting = eng
                if self._quitting:
                    eng.halt()
                eng.start()
                self._booted = eng
                result = eng
            except Halted as exc:  # quit while it waited for the history's server
                result = exc
            except Exception as exc:  # shown in the window; the app stays up
                log.exception("engine did not start")
                result = exc
            if not self._quitting:  # quit() stops what we started; no one to tell
                self._engineStarted.emit(result)

        self._boot_thread = threading.Thread(target=boot, name="trayjobs-boot", daemon=True)
        self._boot_thread.start()

    def _on_engine_started(self, result) -> None:
        if isinstance(result, Exception):
            msg = str(result)
            if isinstance(result, AlreadyRunning):
                msg += ". Stop it first (or use it: trayjobs runs, trayjobs run JOB)."
            self.window.statusBar().showMessage(f"Jobs are not running: {msg}")
            # A problem of its own: the config banner said "everything else runs as usual".
            self.problems["engine"] = (f"Jobs are not running: trayjobs could not start its "
                                       f"engine: {msg}", "jobs are not running")
            self.window.show_problems({k: m for k, (m, _) in self.problems.items()})
            self._update_tray()
            self.startFailed.emit(msg)
            return
        self.engine = result
        self.engine.on_control = self._control.emit  # from the control thread: queue it
        from ..alerts.channels import desktop
        desktop.show = self._desktopAlert.emit  # desktop:// alerts: our own notifier shows them
        self.bridge.attach(self.engine.bus)
        self.window.runs_model.attach(self.engine.store, self.service)
        self.status("Ready")
        self.refresh_jobs()
        self.ready.emit()

    def settle(self) -> None:
        """Set the objects start-up made aside from the garbage collector (once, when started).

        Modules, classes, widgets and the first pages of runs live as long as the app. A
        full collection walked all of them (tens of ms, holding the interpreter lock, so
        the window froze that long while a job was logging); frozen, they are no longer
        walked, and a full collection looks only at what was made since.
        """
        if self._quitting or self._settled:
            return
        gc.collect()
        gc.freeze()
        self._settled = True

    def quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        if self._settled:  # what the app leaves behind may be collected again
            gc.unfreeze()
            self._settled = False
        self.status("Stopping: running jobs get a few seconds to finish…")
        self.window.save_geometry()
        booting = getattr(self, "_booting", None)
        if booting is not None:
            booting.halt()  # a start waiting for the history's server gives up

        def stop() -> None:
            boot = getattr(self, "_boot_thread", None)
            if boot is not None:
                boot.join(60)  # quitting while starting: stop the engine it brings up
            eng = self.engine or getattr(self, "_booted", None)
            if eng is not None:
                try:
                    eng.stop()
                except Exception:
                    log.exception("engine did not stop cleanly")
            self.service.stop()
            QTimer.singleShot(0, QApplication.instance(), self._finish_quit)

        self.bridge.detach()
        self.config_watch.close()
        from ..alerts.channels import desktop
        desktop.show = None
        self.notifier.close()
        threading.Thread(target=stop, name="trayjobs-stop", daemon=True).start()

    def _finish_quit(self) -> None:
        self.tray.hide()
        app = QApplication.instance()
        # Every window goes, not only the main one: Qt's quit() asks the visible windows to
        # close, and one that refuses (a dialog waiting for an answer) kept the app up
        # with its engine stopped, running no job. (Not exit(): outside exec(), as in
        # tests, it would end every event loop started after it.)
        for widget in app.topLevelWidgets():
            widget.hide()
        self.stopped.emit()
        app.quit()

    def _on_control(self, msg: dict[str, Any]) -> None:
        if msg.get("op") == "show":
            self.show_window()
            if msg.get("run") is not None:
                self.open_target(("run", int(msg["run"])))

    # -- window -----------------------------------------------------------------------

    def show_window(self) -> None:
        w = self.window
        w.show()
        w.setWindowState(w.windowState() & ~Qt.WindowState.WindowMinimized)
        w.raise_()
        w.activateWindow()

    def toggle_window(self) -> None:
        if self.window.isVisible() and not self.window.isMinimized():
            self.window.hide()
        else:
            self.show_window()

    def close_window_requested(self) -> bool:
        """True: the window only hides (the app keeps running); False: the app quits."""
        if self._quitting:
            return False
        if Tray.available():
            self.window.hide()
            return True
        choice = str(self.qsettings.value("window/close_action", ""))
        if choice not in ("quit", "background"):
            choice, remember = self.ask_close()
            if remember:
                self.qsettings.setValue("window/close_action", choice)
        if choice == "quit":
            self.quit()
            return True  # the window closes when the engine has stopped
        self.window.showMinimized()
        return True

    def ask_close(self) -> tuple[str, bool]:
        """Without a tray, closing the window asks: quit, or keep running in the background."""
        box = QMessageBox(QMessageBox.Icon.Question, "Quit trayjobs?",
                          "There is no system tray on this desktop, so the window is the only "
                          "way to reach trayjobs.\n\nQuit (scheduled and watched jobs stop), or "
                          "keep running in the background? Starting trayjobs again brings the "
                          "window back.", parent=self.window)
        box.setObjectName("closeQuestion")
        quit_btn = box.addButton("&Quit", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("&Keep running", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(keep)
        remember = QCheckBox("Do not ask again")
        box.setCheckBox(remember)
        box.exec()
        return ("quit" if box.clickedButton() is quit_btn else "background"), remember.isChecked()

    def status(self, text: str) -> None:
        bar = self.window.statusBar()
        shown = text
        if bar.isVisible():
            # Clipped at the window's edge, a long message (an import's failure names the
            # file, the line and the fix) just stopped mid-word: cut with "…", whole in the
            # tooltip.
            room = bar.contentsRect().width() - 2 * bar.style().pixelMetric(
                QStyle.PixelMetric.PM_LayoutHorizontalSpacing, None, bar) - 8
            shown = bar.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, room)
        bar.setToolTip(text if shown != text else "")
        bar.showMessage(shown, 15_000)

    def set_theme(self, key: str) -> None:
        self.qsettings.setValue("window/theme", key)
        apply_theme(key)

    # -- data -------------------------------------------------------------------------

    def refresh(self) -> None:
        self.refresh_jobs()
        self.window.runs_model.reload()

    def refresh_jobs(self) -> None:
        if self.engine is None:
            return
        eng = self.engine
        self.service.call(lambda: load_jobs(eng), self._jobs_loaded)

    def refresh_channels(self) -> None:
        """The alert channels and their latest delivery, read off the GUI thread (once the
        Settings page that shows them is built: it asks when it is)."""
        page = self.window.built("settings_page")
        if self.engine is None or page is None:
            return
        cfg, store = self.engine.config, self.engine.store
        self.service.call(store.channel_health,
                          lambda health: page.alerts.show_channels(cfg, health))

    def _engine_problem(self, ev) -> None:
        """On the engine's threads: a lasting problem's notice, to the GUI thread."""
        if isinstance(ev, Notice) and "problem" in ev.details:
            self._problem.emit(ev)

    def _on_problem(self, notice) -> None:
        name = notice.details["problem"]
        if notice.details.get("clear"):
            self.problems.pop(name, None)
        else:
            self.problems[name] = (notice.message, notice.details.get("short") or notice.message)
            self.status(notice.message)
        self.window.show_problems({k: m for k, (m, _) in self.problems.items()})
        self._update_tray()

    def _notice(self, notice) -> None:
        if "problem" in notice.details:
            return  # _on_problem has it
        self.status(notice.message)
        if "alert_channel" in notice.details:  # a delivery failed, or works again
            self.refresh_channels()

    def _jobs_loaded(self, data: dict[str, Any]) -> None:
        self._jobs = data["rows"]
        self.settings = data["settings"]
        self.window.jobs_model.set_rows(data["rows"])
        self.window.jobs_page.view.setColumnHidden(  # no watched folders: no watch column
            JobsModel.WATCH, not any(r.get("watch") for r in data["rows"]))
        tags = {t: [r["name"] for r in data["rows"] if t in r["tags"]]
                for t in sorted({t for r in data["rows"] for t in r["tags"]})}
        self.window.activity.set_jobs([r["name"] for r in data["rows"]], tags, data["removed"])
        self.window.jobs_page.set_tags(list(tags))
        self.window.show_config_errors(data["errors"], data["path"])
        self.window.show_settings(data["settings"].model_dump(), data["autostart"])
        self.refresh_channels()
        self.paused = data["paused"]
        self.window.set_paused(self.paused)
        self._failures = data["failures"]
        self._latest_report = data["latest_report"]
        self._running = {r["id"]: r for r in data["running"]}
        self._waiting = {r["id"]: r for r in data["waiting"]}
        self._retrying = {r["id"]: r for r in data["retrying"]}
        self.unseen_failures = data["attention"]["failed"]
        self.unseen_warnings = data["attention"]["warning"]
        self._update_tray()
        self.jobs_loads += 1
        self.jobsLoaded.emit()
        if self.jobs_loads == 1:  # started: the window, the engine, the first page of runs
            QTimer.singleShot(0, self, self.settle)

    def _job_notify(self, name: str) -> str | None:
        eng = self.engine
        job = eng.config.jobs.get(name) if eng else None
        return job.common.notify if job else None

    def _on_run_changed(self, run: dict[str, Any], final: bool) -> None:
        self.window.runs_model.upsert(run)
        if not final:
            self.window.jobs_model.show_run(run)  # final ones reload the whole list below
        one_off = run["state"] == "scheduled" or (run.get("due_at") is not None
                                                   and run["state"] in ("queued", "running"))
        if one_off and not self._reload_jobs.isActive():
            # a one-off made, or started: the job's Next run is its time, or no longer
            self._reload_jobs.start()
        if run["state"] == "running":
            self._running[run["id"]] = run
        else:
            self._running.pop(run["id"], None)
            self._progress.pop(run["id"], None)
        if run["state"] == "waiting":
            self._waiting[run["id"]] = run
        else:
            self._waiting.pop(run["id"], None)
        if run["state"] == "retrying":
            self._retrying[run["id"]] = run
        else:
            self._retrying.pop(run["id"], None)
        if final:
            if run["state"] == "failed":
                self._failures = [run] + [f for f in self._failures if f["id"] != run["id"]][:4]
            # what needs attention is counted in the store, reloaded with the jobs below
            result = run.get("result") if isinstance(run.get("result"), dict) else {}
            if run["state"] == "succeeded" and result.get("latest"):
                # A result's "latest" is a file that always holds its newest report.
                self._latest_report = result.get("open") or result["latest"]
            self.router.run_finished(run)
            self._reload_jobs.start()
        self._update_tray()

    def _on_progress(self, updates) -> None:
        self.window.runs_model.apply_progress(updates)
        self._progress.update(updates)
        if not self._tip_timer.isActive():
            self._tip_timer.start()  # the tooltip follows progress at most once a second

    # -- tray state -------------------------------------------------------------------

    def jobs_snapshot(self) -> list[dict[str, Any]]:
        return self._jobs

    def running_snapshot(self) -> list[dict[str, Any]]:
        out = []
        for r in sorted(self._running.values(), key=lambda r: r["id"]):
            p = self._progress.get(r["id"])
            done, total = (p.done, p.total) if p else (r.get("progress_done"),
                                                       r.get("progress_total"))
            pct = f"{100 * (done or 0) / total:.0f} %" if total else ""
            out.append({"id": r["id"], "job": r["job"], "text": pct})
        return out

    def waiting_snapshot(self) -> list[dict[str, Any]]:
        """The runs waiting for their conditions, oldest first."""
        return [self._waiting[i] for i in sorted(self._waiting)]

    def recent_failures(self) -> list[dict[str, Any]]:
        return self._failures

    def latest_report(self) -> str | None:
        return self._latest_report

    def _update_tray(self) -> None:
        nxt = min((j for j in self._jobs if j.get("next_run_at") and j["enabled"]
                   and not j.get("paused")), key=lambda j: j["next_run_at"], default=None)
        state, tip = tray_status(running=self.running_snapshot(), next_job=nxt,
                                 paused=self.paused, failed=self.unseen_failures,
                                 warned=self.unseen_warnings, waiting=self.waiting_snapshot(),
                                 problems=[short for _, short in self.problems.values()],
                                 retrying=list(self._retrying.values()))
        self.tray.set_state(state, tip, badge=self.unseen_failures + self.unseen_warnings)


def load_jobs(eng: Engine) -> dict[str, Any]:
    """Everything the jobs list, the tray and the settings page show (service thread)."""
    from ..overview import job_overview
    from .commands import autostart_enabled
    cfg, store = eng.config, eng.store
    paused_all = eng.paused()
    rows = job_overview(cfg, store, paused_all=paused_all, watches=_watch_status(eng))
    latest_report = None
    for job in cfg.jobs.values():
        for run in store.list_runs(job=job.name, state="succeeded", limit=1):
            result = run.get("result") if isinstance(run.get("result"), dict) else {}
            if result.get("latest") and (latest_report is None or run["id"] > latest_report[0]):
                latest_report = (run["id"], result.get("open") or result["latest"])
    kept = [cfg.kept_note()] if cfg.kept_from is not None else []
    # Jobs since removed from the file whose runs the history keeps, to filter by.
    removed = sorted(set(store.last_runs()) - set(cfg.jobs), key=str.casefold)
    return {"rows": rows, "paused": paused_all, "errors": [str(e) for e in cfg.errors] + kept,
            "path": str(cfg.path or ""), "settings": cfg.settings, "removed": removed,
            "failures": store.list_runs(state="failed", limit=5),
            "attention": store.attention_counts(),
            "running": store.list_runs(state="running", limit=100),
            "waiting": store.list_runs(state="waiting", limit=100),
            "retrying": store.list_runs(state="retrying", limit=100),
            "latest_report": latest_report[1] if latest_report else None,
            "autostart": autostart_enabled()}


def _watch_status(eng: Engine) -> dict[str, dict[str, Any]]:
    """The watched folders' states, from the engine's watch manager where there is one."""
    for getter in (getattr(getattr(eng, "watches", None), "status", None),
                   getattr(eng, "watch_status", None)):
        if callable(getter):
            try:
                return getter() or {}
            except Exception:
                log.exception("watch status unavailable")
    return {}


def _setup_logging(home: Home) -> None:
    home.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(home.log_dir / "trayjobs.log",
                                                   maxBytes=2_000_000, backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("huey").setLevel(logging.WARNING)
    # A line per failed try while a server is away: the engine says it once, and again
    # when it answers.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


def _install_signal_wakeup(app: QApplication, on_signal) -> None:
    """SIGINT/SIGTERM reach the Qt loop through a wake-up fd, then quit gracefully."""
    r, w = socket.socketpair()
    r.setblocking(False)
    w.setblocking(False)
    signal.set_wakeup_fd(w.fileno())
    notifier = QSocketNotifier(r.fileno(), QSocketNotifier.Type.Read, app)

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


def run_app(home: Home, *, minimized: bool = False, open_run: int | None = None) -> int:
    """Start the app; ``open_run``: show that run's details (a ``trayjobs://run/ID`` link),
    in the app already running for this home if there is one."""
    guard_singletons()  # PySide6 6.12 on Python < 3.12: see compat.py
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("trayjobs")
    app.setApplicationDisplayName("trayjobs")
    app.setDesktopFileName("io.github.trayjobs.TrayJobs")
    home.ensure()
    single = SingleInstance(home)
    if not single.claim():
        # Another trayjobs window is running for this home: bring it forward instead of
        # starting a second consumer.
        ask = f"run:{open_run}" if open_run is not None else "show"
        if single.ask(ask) or Queue(home).notify({"op": "show", "run": open_run}):
            print("trayjobs is already running; showing its window.", file=sys.stderr)
            return 0
        print("trayjobs is already starting for this home.", file=sys.stderr)
        return 1
    app.setWindowIcon(icon("trayjobs"))
    app.setQuitOnLastWindowClosed(False)
    guard_wheel(app)  # scrolling a form must not change the lists it passes
    _setup_logging(home)
    ensure_first_run(home)  # no jobs file yet: the example set-up (Inbox, Scratch, reports)
    tray_app = TrayApp(home, minimized=minimized)
    single.message.connect(lambda m: tray_app.show_window() if m == "show" else
                           tray_app.open_target(("run", int(m[4:]))) if m.startswith("run:")
                           else None)
    if open_run is not None:
        tray_app.ready.connect(lambda: tray_app.open_target(("run", open_run)))
    _install_signal_wakeup(app, tray_app.quit)
    tray_app.start()
    try:
        return app.exec()
    finally:
        single.release()
