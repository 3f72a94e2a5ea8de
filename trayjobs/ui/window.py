"""The main window: jobs and the run history with live progress."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QRect, QSettings, Qt
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QHBoxLayout, QHeaderView, QLabel,
                               QMainWindow, QPushButton, QStyle, QStyledItemDelegate,
                               QStyleOptionProgressBar, QTableView, QTabWidget, QVBoxLayout,
                               QWidget)

from .models import PROGRESS_ROLE, RUN_ROLE, JobsModel, RunsModel

__all__ = ["MainWindow"]


class ProgressDelegate(QStyledItemDelegate):
    def paint(self, painter, option, index) -> None:
        frac, text = index.data(PROGRESS_ROLE) or (None, "")
        run = index.data(RUN_ROLE)
        if run is None or run["state"] != "running":
            return super().paint(painter, option, index)
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect.adjusted(2, 3, -2, -3))
        bar.minimum, bar.maximum = 0, 1000 if frac is not None else 0
        bar.progress = int((frac or 0) * 1000)
        bar.text = text
        bar.textVisible = True
        bar.state = option.state
        QApplication.style().drawControl(QStyle.CE_ProgressBar, bar, painter)


class MainWindow(QMainWindow):
    def __init__(self, app) -> None:
        super().__init__()
        self.app = app
        self.setWindowTitle("trayjobs")
        self.setObjectName("mainWindow")
        self.resize(1000, 620)

        self.banner = QLabel()
        self.banner.setObjectName("configErrors")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #fee2e2; color: #7f1d1d; padding: 8px;"
                                  " border: 1px solid #fca5a5; border-radius: 4px; }")
        self.banner.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.banner.hide()

        self.jobs_model = JobsModel(self)
        self.jobs_view = self._table(self.jobs_model, "Jobs")
        self.jobs_view.doubleClicked.connect(lambda i: self.run_selected_job())
        jh = self.jobs_view.horizontalHeader()
        jh.setSectionResizeMode(QHeaderView.ResizeToContents)
        jh.setSectionResizeMode(JobsModel.LAST, QHeaderView.Stretch)
        self.run_btn = QPushButton("Run now")
        self.run_btn.setToolTip("Run the selected job now (Ctrl+R)")
        self.run_btn.clicked.connect(self.run_selected_job)
        self.pause_btn = QPushButton("Pause all")
        self.pause_btn.clicked.connect(self.app.toggle_pause)
        jobs_page = QWidget()
        jl = QVBoxLayout(jobs_page)
        bar = QHBoxLayout()
        bar.addWidget(self.run_btn)
        bar.addWidget(self.pause_btn)
        bar.addStretch(1)
        self.config_label = QLabel()
        self.config_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        bar.addWidget(self.config_label)
        jl.addLayout(bar)
        jl.addWidget(self.jobs_view)

        self.runs_model = RunsModel(self)
        self.runs_view = self._table(self.runs_model, "Activity")
        self.runs_view.setItemDelegateForColumn(RunsModel.PROGRESS, ProgressDelegate(self))
        self.runs_view.doubleClicked.connect(self._open_run_at)
        hdr = self.runs_view.horizontalHeader()
        hdr.setSectionResizeMode(RunsModel.SUMMARY, QHeaderView.Stretch)
        for col, width in ((RunsModel.ID, 48), (RunsModel.STATE, 150), (RunsModel.JOB, 130),
                           (RunsModel.TRIGGER, 80), (RunsModel.PROGRESS, 240),
                           (RunsModel.ATTEMPT, 40), (RunsModel.STARTED, 80),
                           (RunsModel.DURATION, 70)):
            hdr.resizeSection(col, width)

        self.tabs = QTabWidget()
        self.tabs.addTab(jobs_page, "Jobs")
        self.tabs.addTab(self.runs_view, "Activity")

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.addWidget(self.banner)
        lay.addWidget(self.tabs)
        self.setCentralWidget(central)
        self.statusBar().showMessage("Starting…")
        QShortcut(QKeySequence("Ctrl+R"), self, activated=self.run_selected_job)
        QShortcut(QKeySequence.Close, self, activated=self.close)
        self._restore_geometry()

    def _table(self, model, name: str) -> QTableView:
        view = QTableView()
        view.setObjectName(name.lower() + "View")
        view.setAccessibleName(name)
        view.setModel(model)
        view.setSelectionBehavior(QAbstractItemView.SelectRows)
        view.setSelectionMode(QAbstractItemView.SingleSelection)
        view.setEditTriggers(QAbstractItemView.NoEditTriggers)
        view.verticalHeader().hide()
        view.setAlternatingRowColors(True)
        view.horizontalHeader().setStretchLastSection(True)
        view.setWordWrap(False)
        return view

    # -- state from the app -----------------------------------------------------------

    def show_config_errors(self, errors: list[str], path: str) -> None:
        if errors:
            items = "".join(f"<li>{_esc(e)}</li>" for e in errors[:10])
            more = f"<li>… and {len(errors) - 10} more</li>" if len(errors) > 10 else ""
            self.banner.setText(f"<b>Some jobs could not be loaded.</b> Fix the config file "
                                f"and save it; the other jobs run as usual.<ul>{items}{more}</ul>")
            self.banner.show()
        else:
            self.banner.hide()
        self.config_label.setText(f"Config: {path}")

    def set_paused(self, paused: bool) -> None:
        self.pause_btn.setText("Resume" if paused else "Pause all")

    def selected_job(self) -> str | None:
        idx = self.jobs_view.currentIndex()
        if not idx.isValid():
            return None
        return self.jobs_model.data(idx, RUN_ROLE)["name"]

    def run_selected_job(self) -> None:
        name = self.selected_job()
        if name:
            self.app.run_job(name)
            self.tabs.setCurrentIndex(1)

    def _open_run_at(self, index: QModelIndex) -> None:
        run = self.runs_model.data(index, RUN_ROLE)
        if run:
            self.app.open_run(run["id"])

    # -- geometry ---------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        geo = self.app.qsettings.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.app.qsettings.setValue("window/geometry", self.saveGeometry())
        if self.app.close_window_requested():
            event.ignore()
            self.hide()
        else:
            event.accept()


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
