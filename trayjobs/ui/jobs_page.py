"""The Jobs page: every job with its trigger, watch, next run and last result."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QMenu, QMessageBox, QPushButton, QSizePolicy, QVBoxLayout,
                               QWidget)

from .tables import row_table
from .charts import SparkDelegate
from .jobs_model import JOB_ROLE, RECENT_ROLE, JobsModel

__all__ = ["JobsPage", "tag_box", "set_tags"]


def tag_box() -> QComboBox:
    """A "filter by tag" box: "All tags", then one entry per tag (its data the tag)."""
    box = QComboBox()
    box.setObjectName("tagFilter")
    box.setAccessibleName("Filter by tag")
    box.setToolTip("Show only the jobs with a tag (tags = [...] in a job)")
    box.addItem("All tags", None)
    return box


def set_tags(box: QComboBox, tags: list[str]) -> None:
    """Fill a tag box, keeping its choice while that tag exists; hidden without tags."""
    current = box.currentData()
    box.blockSignals(True)
    box.clear()
    box.addItem("All tags", None)
    for t in tags:
        box.addItem(f"#{t}", t)
    box.setCurrentIndex(max(0, box.findData(current)))
    box.blockSignals(False)
    box.setVisible(bool(tags))
    if current is not None and box.currentData() is None:
        box.currentIndexChanged.emit(0)  # the chosen tag is gone: show everything again


class JobsPage(QWidget):
    showRuns = Signal(str)   # the person asked to see a job's runs

    def __init__(self, app, model: JobsModel, parent=None) -> None:
        super().__init__(parent)
        self.app = app
        self.model = model
        self.view = row_table(model, name="jobsView", accessible="Jobs")
        self.view.verticalHeader().hide()
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.activated.connect(lambda _i: self.edit_selected())  # double-click or Enter
        hdr = self.view.horizontalHeader()
        hdr.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hdr.setStretchLastSection(False)
        hdr.setSectionResizeMode(JobsModel.LAST, QHeaderView.ResizeMode.Stretch)
        em = self.fontMetrics().averageCharWidth()
        # Last result stretches: the others start narrow (tooltips hold what is cut) so that
        # it has room for "succeeded, 1 warning · 3 min ago" in a window of ordinary size.
        for col, chars in ((JobsModel.NAME, 16), (JobsModel.KIND, 9), (JobsModel.TRIGGER, 17),
                           (JobsModel.WATCH, 11), (JobsModel.NEXT, 10), (JobsModel.SUCCESS, 7),
                           (JobsModel.DURATION, 16), (JobsModel.LAST_OK, 15),
                           (JobsModel.WAITING, 7), (JobsModel.ENABLED, 7)):
            hdr.resizeSection(col, em * chars + 16)
        self.view.setItemDelegateForColumn(JobsModel.RECENT, SparkDelegate(RECENT_ROLE, self.view))
        hdr.resizeSection(JobsModel.RECENT, 30 * 4 + 12)
        # These widen to what they show while the window has room, in this order ("paused ·
        # missed 4 since 09:00: runs once on resume" was cut to "paused · ..." beside room);
        # the job's name first, as it is what the row is ("Sicherung der …" was cut too).
        self._base = {JobsModel.NAME: em * 16 + 16,
                      JobsModel.TRIGGER: em * 17 + 16, JobsModel.NEXT: em * 10 + 16,
                      JobsModel.WATCH: em * 11 + 16}
        self._fitting = False
        self._sized_by_hand: set[int] = set()
        hdr.sectionResized.connect(self._section_resized)
        # Fitted as the table's own viewport takes its size, not the page's: a page first
        # shown after another tab gets its resize before the table does, and fitted then
        # to a stale width it left "When files arriv…" and a gap at the right.
        self.view.viewport().installEventFilter(self)
        model.modelReset.connect(self.fit_text_columns)
        model.dataChanged.connect(lambda tl, *_: tl.column() == 0 and self.fit_text_columns())
        self.tag_box = tag_box()
        self.tag_box.hide()  # until a job has tags
        self.tag_box.currentIndexChanged.connect(lambda _i: self.apply_tag())
        model.modelReset.connect(self.apply_tag)
        model.dataChanged.connect(lambda *_: self.apply_tag())
        self._to_select: str | None = None
        model.modelReset.connect(lambda: self._to_select and self.select(self._to_select))

        def button(text: str, name: str, tip: str, slot) -> QPushButton:
            b = QPushButton(text)
            b.setObjectName(name)
            b.setToolTip(tip)
            b.setAccessibleName(text.replace("&", "").rstrip("…"))
            b.clicked.connect(slot)
            return b

        self.new_btn = button("&New job…", "newJob", "Create a job (Ctrl+N)", lambda: app.edit_job(None))
        self.run_btn = button("&Run now", "runJob", "Run the selected job now (Ctrl+R)",
                              self.run_selected)
        self.edit_btn = button("&Edit…", "editJob", "Change the selected job (Enter)",
                               self.edit_selected)
        self.dup_btn = button("D&uplicate", "duplicateJob", "Copy the selected job (Ctrl+D)",
                              self.duplicate_selected)
        self.delete_btn = button("Dele&te…", "deleteJob", "Remove the selected job (Delete)",
                                 self.delete_selected)
        self.pause_btn = button("&Pause all", "pauseAll", "Pause or resume every job",
                                app.toggle_pause)
        self.config_label = QLabel()
        self.config_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.config_label.setAccessibleName("Config file")
        # A long path is cut at the window's edge (whole in the tooltip): its width must not
        # become the window's least width.
        self.config_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar = QHBoxLayout()
        for b in (self.new_btn, self.run_btn, self.edit_btn, self.dup_btn, self.delete_btn):
            bar.addWidget(b)
        bar.addStretch(1)
        bar.addWidget(self.tag_box)
        bar.addWidget(self.pause_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.config_label)

        QShortcut(QKeySequence("Ctrl+R"), self, activated=self.run_selected)
        QShortcut(QKeySequence("Ctrl+D"), self, activated=self.duplicate_selected)
        QShortcut(QKeySequence(Qt.Key.Key_Delete), self.view, activated=self.delete_selected)
        self.view.selectionModel().currentRowChanged.connect(lambda *_: self._update_buttons())
        model.modelReset.connect(self._update_buttons)
        model.modelReset.connect(self._select_first)
        self._update_buttons()

    # -- column widths ------------------------------------------------------------------

    #: Job, Trigger and Watch start narrow (tooltips hold what is cut); where the window has
    #: room beyond what Last result needs, they widen to show their text, up to this.
    WIDE_CHARS = 44
    #: What Last result keeps room for, beside its state icon.
    LAST_ROOM = "succeeded, 1 warning · 59 min ago"

    def last_room(self) -> int:
        return self.view.fontMetrics().horizontalAdvance(self.LAST_ROOM) + 40  # icon, margins

    def _section_resized(self, col: int, _old: int, _new: int) -> None:
        if not self._fitting and col in self._base:
            self._sized_by_hand.add(col)  # the person's width stays theirs

    def fit_text_columns(self) -> None:
        hdr, model = self.view.horizontalHeader(), self.model
        em = self.fontMetrics().averageCharWidth()
        fm = self.view.fontMetrics()
        shown = [c for c in range(model.columnCount()) if not self.view.isColumnHidden(c)]
        spare = (self.view.viewport().width() - self.last_room()
                 - sum(hdr.sectionSize(c) for c in shown if c != JobsModel.LAST))
        self._fitting = True
        try:
            for col, base in self._base.items():
                if col not in shown or col in self._sized_by_hand:
                    continue
                texts = [str(model.index(r, col).data() or "") for r in range(model.rowCount())]
                want = min(max((fm.horizontalAdvance(t) for t in texts), default=0) + 16,
                           em * self.WIDE_CHARS + 16)
                now = hdr.sectionSize(col)
                new = max(base, min(want, now + spare))
                if new != now:
                    hdr.resizeSection(col, new)
                    spare -= new - now
            # Last result stretches into what is left, but never below its own room: in a
            # narrow window Qt would squeeze it to a sliver ("t res"); it keeps its width
            # and the table scrolls sideways instead.
            least = self.last_room()
            others = sum(hdr.sectionSize(c) for c in shown if c != JobsModel.LAST)
            if self.view.viewport().width() - others < least:
                hdr.setSectionResizeMode(JobsModel.LAST, QHeaderView.ResizeMode.Interactive)
                hdr.resizeSection(JobsModel.LAST, least)
            else:
                hdr.setSectionResizeMode(JobsModel.LAST, QHeaderView.ResizeMode.Stretch)
        finally:
            self._fitting = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.Resize and watched is self.view.viewport()
                and not self._fitting):  # a scroll bar that fitting brought: done already
            self.fit_text_columns()
        return super().eventFilter(watched, event)

    def set_tags(self, tags: list[str]) -> None:
        set_tags(self.tag_box, tags)
        self.apply_tag()

    def apply_tag(self) -> None:
        """Hide the jobs without the chosen tag (and the Waiting column while no job has
        runs waiting: its room goes to the last results)."""
        waiting = any((j.get("health") is not None and j["health"].waiting)
                      for j in self.model.rows)
        if self.view.isColumnHidden(JobsModel.WAITING) == waiting:
            self.view.setColumnHidden(JobsModel.WAITING, not waiting)
        tag = self.tag_box.currentData()
        for row, job in enumerate(self.model.rows):
            hide = tag is not None and tag not in (job.get("tags") or ())
            if self.view.isRowHidden(row) != hide:
                self.view.setRowHidden(row, hide)

    def visible_jobs(self) -> list[str]:
        return [j["name"] for row, j in enumerate(self.model.rows) if not self.view.isRowHidden(row)]

    # -- selection ----------------------------------------------------------------------

    def selected(self) -> dict[str, Any] | None:
        idx = self.view.currentIndex()
        return self.model.data(idx, JOB_ROLE) if idx.isValid() else None

    def select(self, name: str) -> None:
        """Make ``name`` the current job; a job just saved or copied is selected once the
        reloaded list has it (Run now then runs it, not the row that was current)."""
        row = self.model.row_of(name)
        self._to_select = None if row is not None else name
        if row is not None:
            self.view.setCurrentIndex(self.model.index(row, 0))

    def _select_first(self) -> None:
        if self.model.rowCount() and not self.view.currentIndex().isValid():
            self.view.setCurrentIndex(self.model.index(0, 0))

    def _update_buttons(self) -> None:
        has = self.selected() is not None
        for b in (self.run_btn, self.edit_btn, self.dup_btn, self.delete_btn):
            b.setEnabled(has)

    def set_paused(self, paused: bool) -> None:
        self.pause_btn.setText("Resume a&ll" if paused else "&Pause all")
        self.pause_btn.setAccessibleName("Resume all" if paused else "Pause all")

    # -- actions --------------------------------------------------------------------

    def run_selected(self) -> None:
        job = self.selected()
        if job:
            self.app.run_job(job["name"])

    def edit_selected(self) -> None:
        job = self.selected()
        if job:
            self.app.edit_job(job["name"])

    def duplicate_selected(self) -> None:
        job = self.selected()
        if job:
            self.app.duplicate_job(job["name"])

    def delete_selected(self) -> None:
        job = self.selected()
        if job and self.confirm_delete(job["name"]):
            self.app.delete_job(job["name"])

    def confirm_delete(self, name: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete job?",
                          f"Delete the job “{name}” from the config file?\n\n"
                          "Its past runs stay in the history.",
                          QMessageBox.StandardButton.Cancel, self)
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName("confirmDelete")
        box.exec()
        return box.clickedButton() is delete

    def run_with_files(self, name: str, *, dry_run: bool = False) -> None:
        self.app.ask_files(name, dry_run=dry_run)

    def context_menu_for(self, job: dict[str, Any]) -> QMenu:
        m = QMenu(self)
        m.setObjectName("jobMenu")
        name = job["name"]
        m.addAction("Run now", lambda: self.app.run_job(name)).setObjectName("run")
        # parameters for one run, and/or a later time: every job may be run once later
        m.addAction("Run with…" if job.get("run_params") else "Run later…",
                    lambda: self.app.run_job_with(name)).setObjectName("runWith")
        if job.get("accepts_files"):
            m.addAction("Run with files…", lambda: self.run_with_files(name)).setObjectName("runFiles")
        if job.get("supports_dry_run"):
            if job.get("accepts_files"):
                m.addAction("Preview with files (touch nothing)…",
                            lambda: self.run_with_files(name, dry_run=True)).setObjectName("dryRun")
            else:
                m.addAction("Run a preview (touch nothing)",
                            lambda: self.app.run_job(name, dry_run=True)).setObjectName("dryRun")
        m.addSeparator()
        m.addAction("Edit…", lambda: self.app.edit_job(name)).setObjectName("edit")
        m.addAction("Duplicate", lambda: self.app.duplicate_job(name)).setObjectName("duplicate")
        paused = bool(job.get("paused"))
        m.addAction("Resume this job" if paused else "Pause this job",
                    lambda: self.app.set_job_paused(name, not paused)).setObjectName("pause")
        m.addAction("Show its runs", lambda: self.showRuns.emit(name)).setObjectName("runs")
        m.addSeparator()
        m.addAction("Delete…", lambda: self.confirm_delete(name) and self.app.delete_job(name)
                    ).setObjectName("delete")
        return m

    def _context_menu(self, pos) -> None:
        idx = self.view.indexAt(pos)
        if idx.isValid():
            job = self.model.data(idx, JOB_ROLE)
            self.context_menu_for(job).popup(self.view.viewport().mapToGlobal(pos))
