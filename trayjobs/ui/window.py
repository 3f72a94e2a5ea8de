"""The main window: Jobs, Activity, Data, Metrics and Settings pages under a config-problems banner.

The Data, Metrics and Settings pages are built (and their modules imported) the first
time they are shown or asked for: until then their tab holds an empty placeholder.
Most people open the window on Jobs or Activity, and an app that sits in the tray
all day should not carry pages nobody looked at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QEvent, QPoint, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QTabWidget, QVBoxLayout, QWidget

from .activity_page import ActivityPage
from .jobs_model import JobsModel
from .jobs_page import JobsPage
from .runs_model import RunsModel
from .theme import banner_style
from .welcome import welcome_for

__all__ = ["MainWindow", "local_files"]


def local_files(mime) -> list[str]:
    """The local file paths a drag carries (URLs of other kinds are ignored)."""
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


def default_size(avail_width: int | None = None, avail_height: int | None = None
                 ) -> tuple[int, int]:
    """The window's first size: wide enough for the Jobs page to show each job's last
    result whole (its twelve columns need about 1,250 pixels), within 90 % of the screen's
    width and 85 % of its height."""
    w, h = 1280, 680
    if avail_width:
        w, h = min(w, int(avail_width * 0.9)), min(h, int((avail_height or h) * 0.85))
    return w, h


class MainWindow(QMainWindow):
    def __init__(self, app) -> None:
        super().__init__()
        self.app = app
        self.setWindowTitle("trayjobs")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self._default_size()

        self.banner = QLabel()
        self.banner.setObjectName("configErrors")
        self.banner.setAccessibleName("Config problems")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setStyleSheet(banner_style())
        self.banner.hide()
        # Lasting problems with the servers (the run history's, the queue's) and the other
        # workers (another version): shown until the engine says they are over.
        self.problems = QLabel()
        self.problems.setObjectName("serverProblems")
        self.problems.setAccessibleName("Server problems")
        self.problems.setWordWrap(True)
        # Rich text always: a message is escaped (its "<", ">" and "&"), and one line of it
        # without a tag was shown as plain text, "&gt;" and all.
        self.problems.setTextFormat(Qt.TextFormat.RichText)
        self.problems.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems.setStyleSheet(banner_style())
        self.problems.hide()
        # Paused from the tray, the CLI or the Jobs page: said on every page, with the way
        # back, so that a quiet app is never mistaken for one with nothing due.
        self.paused_banner = QLabel(
            "<b>All jobs are paused:</b> schedules and watched folders start nothing until "
            "you resume (Run now still runs a job). <a href='resume'>Resume all</a>")
        self.paused_banner.setObjectName("pausedBanner")
        self.paused_banner.setAccessibleName("All jobs are paused")
        self.paused_banner.setWordWrap(True)
        self.paused_banner.setStyleSheet(banner_style(level="info"))  # a choice, not an error
        self.paused_banner.linkActivated.connect(lambda _l: app.toggle_pause())
        self.paused_banner.hide()

        self.jobs_model = JobsModel(self)
        self.runs_model = RunsModel(self, service=app.service)
        self.jobs_page = JobsPage(app, self.jobs_model)
        self.activity = ActivityPage(app, self.runs_model)
        self.jobs_page.showRuns.connect(self.show_runs_of)
        self.activity.openRun.connect(app.open_run)
        self.jobs_model.enabledToggled.connect(app.set_job_enabled)
        self._settings_values: tuple[dict[str, Any], bool] | None = None  # the last loaded

        self.tabs = QTabWidget()
        self.tabs.setObjectName("pages")
        self.tabs.addTab(self.jobs_page, "&Jobs")
        self.tabs.addTab(self.activity, "&Activity")
        #: attribute -> (builder, placeholder, tab label) of the pages not built yet
        self._lazy: dict[str, tuple[Callable[[], QWidget], QWidget, str]] = {}
        self._built: dict[str, QWidget] = {}
        self._lazy_page("data_page", "&Data", self._build_data_page)
        self._lazy_page("metrics", "&Metrics", self._build_metrics)
        self._lazy_page("settings_page", "&Settings", self._build_settings_page)
        self.tabs.currentChanged.connect(self._build_shown)
        self.tabs.setAccessibleName("Pages")
        self.welcome = welcome_for(app.home, run_job=lambda name: app.run_job(name, show=True))
        if self.welcome is not None:  # the first-run example set-up, until dismissed
            self.tabs.addTab(self.welcome, "&Welcome")

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.addWidget(self.problems)
        lay.addWidget(self.paused_banner)
        lay.addWidget(self.banner)
        lay.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage("Starting…")
        self.drop_menu: QMenu | None = None

        for i, key in enumerate(("Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+4", "Ctrl+5")):
            QShortcut(QKeySequence(key), self, activated=lambda i=i: self.tabs.setCurrentIndex(i))
        QShortcut(QKeySequence.StandardKey.New, self, activated=lambda: app.edit_job(None))
        QShortcut(QKeySequence.StandardKey.Find, self, activated=self.find_runs)
        QShortcut(QKeySequence.StandardKey.Close, self, activated=self.close)
        QShortcut(QKeySequence.StandardKey.Quit, self, activated=app.quit)
        QShortcut(QKeySequence.StandardKey.Refresh, self, activated=app.refresh)
        self._restore_geometry()

    def _default_size(self) -> None:
        screen = QGuiApplication.primaryScreen()
        avail = screen.availableGeometry() if screen else None
        if avail is not None and avail.width() > 0:
            self.resize(*default_size(avail.width(), avail.height()))
        else:
            self.resize(*default_size())

    # -- pages built on first use ------------------------------------------------------

    data_page = property(lambda self: self.page("data_page"))
    metrics = property(lambda self: self.page("metrics"))
    settings_page = property(lambda self: self.page("settings_page"))

    def _lazy_page(self, attr: str, label: str, build: Callable[[], QWidget]) -> None:
        placeholder = QWidget()
        placeholder.setObjectName(f"{attr}Placeholder")
        self._lazy[attr] = (build, placeholder, label)
        self.tabs.addTab(placeholder, label)

    def built(self, attr: str) -> QWidget | None:
        """The page if it has been built (without building it)."""
        return self._built.get(attr)

    def page(self, attr: str) -> QWidget:
        """The page, built now and put in its tab's place if this is its first use."""
        if attr in self._built:
            return self._built[attr]
        build, placeholder, label = self._lazy.pop(attr)
        page = build()
        self._built[attr] = page
        i = self.tabs.indexOf(placeholder)
        current = self.tabs.currentIndex() == i
        self.tabs.blockSignals(True)  # the swap is not a change of page
        try:
            self.tabs.insertTab(i, page, label)
            self.tabs.removeTab(i + 1)
            if current:
                self.tabs.setCurrentIndex(i)
        finally:
            self.tabs.blockSignals(False)
        placeholder.deleteLater()
        return page

    def _build_shown(self, index: int) -> None:
        shown = self.tabs.widget(index)
        for attr, (_build, placeholder, _label) in list(self._lazy.items()):
            if placeholder is shown:
                self.page(attr)

    def _build_data_page(self) -> QWidget:
        from .data_page import DataPage
        return DataPage(self.app)

    def _build_metrics(self) -> QWidget:
        from .metrics_page import MetricsPage
        return MetricsPage(self.app)

    def _build_settings_page(self) -> QWidget:
        from .settings_page import SettingsPage
        page = SettingsPage(self.app)
        page.set_theme(str(self.app.qsettings.value("window/theme", "system")))
        page.themeChosen.connect(self.app.set_theme)
        if self._settings_values is not None:
            page.load(*self._settings_values)
        refresh = getattr(self.app, "refresh_channels", None)
        if refresh is not None:  # once the page is in its tab, the channels are read
            QTimer.singleShot(0, refresh)
        return page

    # -- state from the app -----------------------------------------------------------

    def show_settings(self, values: dict[str, Any], autostart: bool) -> None:
        """The settings as saved; the Settings page shows them unless it is being edited."""
        self._settings_values = (values, autostart)
        page = self.built("settings_page")
        if page is not None and not page.dirty:
            page.load(values, autostart)

    def show_config_errors(self, errors: list[str], path: str) -> None:
        if errors:
            items = "".join(f"<li>{_esc(e)}</li>" for e in errors[:10])
            more = f"<li>… and {len(errors) - 10} more</li>" if len(errors) > 10 else ""
            self.banner.setText(f"<b>Some of the config could not be used.</b> Fix the file "
                                f"(or the job in the editor) and save; everything else runs as "
                                f"usual.<ul>{items}{more}</ul>")
            self.banner.show()
        else:
            self.banner.hide()
        self.jobs_page.config_label.setText(f"Config file: {path}" if path else "")
        self.jobs_page.config_label.setToolTip(path or "")

    def show_problems(self, problems: dict[str, str]) -> None:
        """The lasting problems (name: message), one a line; hidden when there is none."""
        if problems:
            self.problems.setText("<br>".join(_esc(m) for m in problems.values()))
            self.problems.show()
        else:
            self.problems.hide()

    def set_paused(self, paused: bool) -> None:
        self.jobs_page.set_paused(paused)
        self.paused_banner.setVisible(paused)

    def show_runs_of(self, job: str | None = None, states: tuple[str, ...] = (),
                     since: float | None = None) -> None:
        self.tabs.setCurrentWidget(self.activity)
        self.activity.show_filtered(job=job, states=states, since=since)

    def show_rejected(self, db: str, run_id: int | None = None) -> None:
        """The Data page on the rows ``run_id`` set aside in ``db``."""
        self.tabs.setCurrentWidget(self.data_page)
        self.data_page.show_rejected(db, run_id=run_id)

    def find_runs(self) -> None:
        self.tabs.setCurrentWidget(self.activity)
        self.activity.focus_search()

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.banner.setStyleSheet(banner_style(self.palette()))  # dark mode and back
            self.problems.setStyleSheet(banner_style(self.palette()))
            self.paused_banner.setStyleSheet(banner_style(self.palette(), level="info"))
        super().changeEvent(event)

    # -- drops ----------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if local_files(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if local_files(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        files = local_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.app.offer_files(files, self.mapToGlobal(event.position().toPoint()))

    def show_drop_choices(self, files: list[str], jobs: list[str], pos: QPoint | None) -> QMenu:
        """A menu of the jobs that take these files; choosing one runs it on them."""
        n = len(files)
        what = Path(files[0]).name if n == 1 else f"{n} files"
        m = QMenu(self)
        m.setObjectName("dropMenu")
        head = m.addAction(f"Run a job on {what}:")
        head.setEnabled(False)
        for name in jobs:
            act = m.addAction(name, lambda name=name: self.app.run_job(name, files=files,
                                                                       trigger="drop"))
            act.setObjectName(f"drop:{name}")
        m.addSeparator()
        m.addAction("Cancel").setObjectName("dropCancel")
        self.drop_menu = m
        m.popup(pos or self.mapToGlobal(self.rect().center()))
        return m

    # -- geometry ---------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        geo = self.app.qsettings.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        tab = self.app.qsettings.value("window/tab")
        if self.welcome is not None and self.app.qsettings.value("window/welcomed") is None:
            self.tabs.setCurrentWidget(self.welcome)  # shown first, once
            self.app.qsettings.setValue("window/welcomed", 1)
        elif tab is not None and 0 <= int(tab) < self.tabs.count():
            self.tabs.setCurrentIndex(int(tab))

    def save_geometry(self) -> None:
        self.app.qsettings.setValue("window/geometry", self.saveGeometry())
        self.app.qsettings.setValue("window/tab", self.tabs.currentIndex())
        self.app.qsettings.sync()

    def hideEvent(self, event) -> None:
        self.save_geometry()
        super().hideEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_geometry()
        if self.app.close_window_requested():
            event.ignore()
        else:
            event.accept()


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
