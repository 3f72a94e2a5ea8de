"""The welcome view: what the first-run example set-up does, and where its folders are.

It explains the four example jobs in plain words and offers a button for each
thing a new user wants to do next: open Inbox or Scratch, drop a sample file
into Inbox, make a report now, open the jobs file. It is self-contained: give it
the example set-up (:func:`welcome_for` finds it for a home) and connect
:attr:`WelcomeView.runJobRequested` to whatever runs a job.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton,
                               QScrollArea, QVBoxLayout, QWidget)

from ..samples import write_sample
from ..firstrun import (ACTIVITY_REPORT, CLEANUP_JOB, COMMAND_JOB, DATA_REPORT, ExampleSetup,
                        dismiss_welcome, example_setup)
from ..paths import Home

__all__ = ["WelcomeView", "welcome_for"]


def welcome_for(home: Home, *, run_job: Callable[[str], None] | None = None,
                parent: QWidget | None = None) -> "WelcomeView | None":
    """The welcome view for ``home``, or ``None`` when it has no example set-up or the user
    has hidden the view."""
    setup = example_setup(home)
    if setup is None or not setup.welcome:
        return None
    view = WelcomeView(setup, parent)
    if run_job is not None:
        view.runJobRequested.connect(run_job)
    return view


def _open_with_desktop(path: Path) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def _shown(path: Path) -> str:
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


class WelcomeView(QWidget):
    """Explains the example jobs; buttons open their folders and run them."""

    runJobRequested = Signal(str)   # a job's name: run it now
    dismissed = Signal()            # "Hide this page": the view deletes itself afterwards

    def __init__(self, setup: ExampleSetup, parent: QWidget | None = None, *,
                 open_path: Callable[[Path], None] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeView")
        self.setup = setup
        self.open_path = open_path or _open_with_desktop
        self.buttons: dict[str, QPushButton] = {}

        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(24, 20, 24, 20)
        lay.setSpacing(14)
        title = QLabel("Welcome to trayjobs")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        lay.addWidget(title)
        lay.addWidget(self._text(
            "trayjobs has set up an example to start from. It works by itself while trayjobs "
            "runs (in the tray, or in this window); change or remove any of it in the jobs file."))

        inbox, scratch = setup.inbox, setup.scratch
        lay.addWidget(self._card(
            "Inbox: imports",
            f"Drop CSV, TSV or JSON files, or spreadsheets (.xlsx, .xls, .ods), into "
            f"<b>{_e(_shown(inbox))}</b>. The rows of each "
            f"file go into a table of <i>data.db</i> named after the file (bank-2024.csv fills "
            f"the table bank_2024), and the file moves on to Inbox/processed. Each import shows "
            f"up under Activity with the number of rows.",
            [("open:inbox", "Open Inbox", lambda: self._open(inbox)),
             ("sample", "Add a sample file", self.add_sample)]))
        lay.addWidget(self._card(
            "Scratch: cleanup",
            f"Keep short-lived files in <b>{_e(_shown(scratch))}</b>. Once a day, files not "
            f"changed for 30 days go to the trash. For now this is only a <b>preview</b>: a run "
            f"lists what it would trash and touches nothing. Open a preview run's details "
            f"and choose <b>Apply this preview</b> to do exactly what it listed; to let it act "
            f"on its own, untick <b>Preview</b> in the job's editor.",
            [("open:scratch", "Open Scratch", lambda: self._open(scratch)),
             (f"run:{CLEANUP_JOB}", "Preview now", lambda: self.runJobRequested.emit(CLEANUP_JOB))]))
        lay.addWidget(self._card(
            "Reports",
            f"Every Monday at 09:00, <i>Imported data</i> (tables, rows and rejected rows of "
            f"data.db) and <i>Job activity</i> (runs, failures and retries of every job) are "
            f"written as HTML, CSV and PDF to <b>{_e(_shown(setup.reports))}</b>. Make one now "
            f"whenever you like; the tray menu's Run now does the same.",
            [(f"run:{DATA_REPORT}", "Make “Imported data” now",
              lambda: self.runJobRequested.emit(DATA_REPORT)),
             (f"run:{ACTIVITY_REPORT}", "Make “Job activity” now",
              lambda: self.runJobRequested.emit(ACTIVITY_REPORT)),
             ("open:reports", "Open reports", lambda: self._open(setup.reports))]))
        lay.addWidget(self._card(
            "Your own command",
            f"<i>{COMMAND_JOB}</i> runs a program of yours, here <code>du -sh</code> on Scratch, "
            f"when you ask: its output goes to the run's log, its exit code decides success, "
            f"and retries, a timeout, a schedule or a watched folder work as for any job. Put "
            f"your backup or sync script in its place in the jobs file.",
            [(f"run:{COMMAND_JOB}", "Run it now",
              lambda: self.runJobRequested.emit(COMMAND_JOB))]))
        lay.addWidget(self._card(
            "Your jobs",
            f"They are in <b>{_e(_shown(setup.config_file))}</b>, a text file with a comment "
            f"for every job. trayjobs reloads it when you save it.",
            [("open:config", "Edit jobs file", lambda: self.open_path(setup.config_file)),
             ("open:data", "Open data folder", lambda: self._open(setup.home.data_dir))]))

        self.status = QLabel()
        self.status.setObjectName("welcomeStatus")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        hide = QPushButton("Hide this page")
        hide.setObjectName("dismiss")
        hide.setToolTip("Do not show the welcome page again")
        hide.clicked.connect(self.ask_dismiss)
        self.buttons["dismiss"] = hide
        bottom.addWidget(hide)
        lay.addLayout(bottom)
        lay.addStretch(1)

        self.scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(page)
        # Tab goes from the tab bar to the first control: the scroll area itself was a stop
        # where nothing showed the focus (it scrolls to each control that takes it).
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    # -- building blocks ------------------------------------------------------------------

    @staticmethod
    def _text(rich: str) -> QLabel:
        label = QLabel(rich)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def _card(self, heading: str, rich: str, buttons) -> QFrame:
        card = QFrame()
        card.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QVBoxLayout(card)
        head = QLabel(f"<b>{_e(heading)}</b>")
        lay.addWidget(head)
        lay.addWidget(self._text(rich))
        row = QHBoxLayout()
        for name, text, slot in buttons:
            btn = QPushButton(text)
            btn.setObjectName(name)
            btn.clicked.connect(slot)
            self.buttons[name] = btn
            row.addWidget(btn)
        row.addStretch(1)
        lay.addLayout(row)
        return card

    # -- actions --------------------------------------------------------------------------

    def _open(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)  # it may have been deleted meanwhile
        self.open_path(folder)

    def add_sample(self) -> Path | None:
        """Drop a small sample CSV into Inbox; the import job takes it from there."""
        try:
            self.setup.inbox.mkdir(parents=True, exist_ok=True)
            path = write_sample(self.setup.inbox, "orders.csv", rows=12)
        except OSError as exc:
            self._say(f"Could not add a sample file: {exc}")
            return None
        if path is None:
            self._say("orders.csv is still waiting in Inbox: it is imported as soon as "
                      "trayjobs is running.")
        else:
            self._say(f"Added {path.name} to Inbox: its rows show up under Activity in a "
                      f"moment, and in the “Imported data” report.")
        return path

    def _say(self, text: str) -> None:
        self.status.setText(text)
        # The line sits below the cards, out of sight in a window of the usual height:
        # scrolled to, or the button would seem to do nothing.
        self.scroll.widget().layout().activate()  # its height, now that it holds text
        self.scroll.ensureWidgetVisible(self.status)

    def ask_dismiss(self) -> None:
        """Hide the page once the person says so: it does not come back."""
        box = QMessageBox(QMessageBox.Icon.Question, "Hide the welcome page?",
                          "The welcome page will not be shown again. The example jobs and "
                          "folders stay as they are.", parent=self)
        hide = box.addButton("Hide it", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(box.addButton("Keep it", QMessageBox.ButtonRole.RejectRole))
        box.exec()
        if box.clickedButton() is hide:
            self.dismiss()

    def dismiss(self) -> None:
        dismiss_welcome(self.setup.home)
        self.dismissed.emit()
        self.deleteLater()  # in a QTabWidget, its tab goes with it


def _e(text: str) -> str:
    return html.escape(text, quote=False)
