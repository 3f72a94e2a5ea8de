"""Preview before saving: the job's dry run with the settings being edited.

A cleanup lists what it would do to which file; an import shows, per sample
file, the detected format, the columns with their types, the first rows as
they would be stored, and the rows that would be rejected; any other kind's
result is shown as it is. The dry run happens
in a job process of its own (as real runs do), on a thread, so neither a big
folder nor a stuck network drive can freeze the window; it can be stopped.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QHeaderView, QLabel, QPlainTextEdit, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from ...durations import format_size
from ...paths import Home
from .fields import browse_from

__all__ = ["EditorPreview", "PreviewRunner", "PreviewView", "sample_files"]

PREVIEW_TIMEOUT = 120.0


def sample_files(watch: dict[str, Any] | None, limit: int = 3) -> list[str]:
    """Files in the job's watched folder that it would take (newest first)."""
    if not watch or not watch.get("folder"):
        return []
    folder = Path(str(watch["folder"])).expanduser()
    patterns = watch.get("patterns") or ["*"]
    try:
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                 and any(fnmatch.fnmatch(p.name, pat) for pat in patterns)]
    except OSError:
        return []
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [str(p) for p in files[:limit]]


class PreviewRunner(QObject):
    """Runs one dry run at a time; ``finished(result)`` or ``failed(message)``."""

    finished = Signal(object)
    failed = Signal(str)
    progress = Signal(str)
    _done = Signal(object, object)

    def __init__(self, home: Home, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self._handle = None
        self._done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self.running = False

    def start(self, *, job: str, kind: str, params: dict[str, Any], files: list[str]) -> None:
        from ...engine.executor import Executor, RunHandle
        self.stop()
        handle = RunHandle()
        self._handle = handle
        self.running = True
        request = {"op": "run", "run_id": 0, "job": job, "kind": kind, "params": params,
                   "attempt": 1, "max_attempts": 1, "trigger": "preview", "files": files,
                   "dry_run": True, "home": self.home.to_dict()}
        last = [0.0]

        def on_message(msg: dict[str, Any]) -> None:
            if msg.get("t") == "progress" and time.monotonic() - last[0] > 0.2:
                last[0] = time.monotonic()
                self.progress.emit(msg.get("message") or "")

        def work() -> None:
            executor = Executor(self.home, grace=1.0)
            try:
                outcome = executor.run(request, handle=handle, on_message=on_message,
                                       on_tick=lambda: None, timeout=PREVIEW_TIMEOUT)
                self._done.emit(handle, outcome)
            except Exception as exc:
                self._done.emit(handle, exc)
            finally:
                executor.close()
                handle.close()

        threading.Thread(target=work, name="trayjobs-preview", daemon=True).start()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.request_cancel()
            self._handle = None
        self.running = False

    def _deliver(self, handle, outcome) -> None:
        if handle is not self._handle:
            return  # stopped, or replaced by a newer preview
        self._handle = None
        self.running = False
        if isinstance(outcome, Exception):
            self.failed.emit(f"the preview could not run: {outcome}")
        elif outcome.state == "succeeded":
            self.finished.emit(outcome.result or {})
        else:
            self.failed.emit(outcome.message or outcome.state)


def _table(headers: list[str], rows: list[list[Any]], name: str) -> QTableWidget:
    t = QTableWidget(len(rows), len(headers))
    t.setAccessibleName(name)
    t.setObjectName(name.replace(" ", "_"))
    t.setHorizontalHeaderLabels(headers)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    t.verticalHeader().hide()
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            t.setItem(i, j, QTableWidgetItem("" if v is None else str(v)))
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


class PreviewView(QWidget):
    """Shows a dry run's result (or a message) in place of the previous one."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.summary = QLabel("Press Preview to see what the job would do, before anything "
                              "is touched.")
        self.summary.setObjectName("previewSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body = QTabWidget()
        self.body.setAccessibleName("Preview details")
        self.body.hide()
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(self.body, 1)

    def message(self, text: str) -> None:
        self.summary.setText(text)
        self.body.hide()

    def show_result(self, kind: str, result: dict[str, Any]) -> None:
        self.summary.setText(result.get("summary") or "done")
        while self.body.count():
            w = self.body.widget(0)
            self.body.removeTab(0)
            w.deleteLater()
        # What to show is read from the result's shape, not the kind's name: a plug-in
        # that plans actions or previews files the same way is shown the same way.
        if "planned" in result:
            self._cleanup(result)
        elif any(isinstance(f, dict) and "columns" in f for f in result.get("files") or []):
            self._import(result)
        else:
            self._plain(result)
        self.body.setVisible(self.body.count() > 0)

    def _plain(self, r: dict[str, Any]) -> None:
        rest = {k: v for k, v in r.items() if k != "summary"}
        if rest:
            text = QPlainTextEdit(json.dumps(rest, indent=2, ensure_ascii=False, default=str))
            text.setReadOnly(True)
            text.setAccessibleName("Preview result")
            self.body.addTab(text, "Result")

    def _cleanup(self, r: dict[str, Any]) -> None:
        planned = r.get("planned") or []
        rows = [[e.get("action"), e.get("path"), format_size(e.get("size")),
                 time.strftime("%Y-%m-%d %H:%M", time.localtime(e["mtime"])) if e.get("mtime") else "",
                 e.get("dest") or ""] for e in planned]
        self.body.addTab(_table(["Action", "Item", "Size", "Modified", "To"], rows,
                                "Planned actions"), f"Would do ({len(planned):,}"
                         + (f" of {len(planned) + r.get('listed_more', 0):,})" if r.get("listed_more") else ")"))
        problems = r.get("problems") or []
        if problems:
            self.body.addTab(_table(["Item", "What", "Why"],
                                    [[p.get("path"), p.get("kind"), p.get("reason")] for p in problems],
                                    "Skipped items"), f"Skipped ({len(problems)})")

    def _import(self, r: dict[str, Any]) -> None:
        for f in r.get("files") or []:
            name = Path(f.get("file", "")).name
            if f.get("error"):
                label = QLabel(f.get("error"))
                label.setWordWrap(True)
                self.body.addTab(label, f"{name}: cannot import")
                continue
            page = QWidget()
            lay = QVBoxLayout(page)
            facts = (f"Format {f.get('format')}, encoding {f.get('encoding')}"
                     + (f", {f['dialect']}" if f.get("dialect") else "")
                     + f"; into table {f.get('table')}"
                     + (" (exists)" if f.get("table_exists") else " (new)")
                     + f"; {f.get('rows_read', 0):,} rows read")
            info = QLabel(facts + ("\n" + "\n".join(f.get("notes") or []) if f.get("notes") else ""))
            info.setWordWrap(True)
            lay.addWidget(info)
            types = f.get("types") or {}
            cols = f.get("columns") or []
            lay.addWidget(QLabel("Columns and detected types:"))
            t = _table(cols, [[types.get(c, "") for c in cols]], "Detected types")
            t.setMaximumHeight(t.horizontalHeader().height() + t.rowHeight(0) + 6)
            lay.addWidget(t)
            lay.addWidget(QLabel("First rows as they would be stored:"))
            lay.addWidget(_table(cols, [[row.get(c) for c in cols] for row in f.get("sample") or []],
                                 "First rows"), 1)
            rejects = f.get("rejects") or []
            if rejects:
                lay.addWidget(QLabel(f"{len(rejects)} row{'s' * (len(rejects) != 1)} would be "
                                     "rejected (set aside with the reason):"))
                lay.addWidget(_table(["Line", "Reason", "Row as read"],
                                     [[x.get("line"), x.get("reason"), x.get("raw")] for x in rejects],
                                     "Rejected rows"), 1)
            self.body.addTab(page, name)


class EditorPreview:
    """The job editor's Preview tab: whether the kind can dry-run, the sample files, and the
    steps of a preview (the form checked first, samples looked for off the GUI thread). A
    part of :class:`~.dialog.JobEditor` (a mixin): it uses the editor's form and widgets."""

    def can_preview(self) -> bool:
        """The kind can dry-run with the settings as they are (a python job says so with
        its own ``dry_run`` key): read from the kind's flags, never from its name."""
        cls = self._kind_class()
        if cls is None:
            return False
        job = self.cfg.jobs.get(self.job_name()) if self.cfg is not None else None
        if job is not None and job.kind == cls.name:
            return cls.can_dry_run(job.params)
        return cls.supports_dry_run

    def _show_preview_button(self) -> None:
        can = self.can_preview()
        self.preview_btn.setEnabled(can)
        self.preview_btn.setToolTip("" if can else
                                    f"{self.kind.currentData()} jobs have no dry run to preview")

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Sample files to preview", browse_from(),
                                                filter="Data files (*.csv *.tsv *.txt *.json "
                                                       "*.jsonl *.ndjson *.gz);;All files (*)")
        if files:
            self.preview_files = files
            self._show_files()

    def _show_files(self) -> None:
        cls = self._kind_class()
        if cls is None or not cls.accepts_files:
            self.files_label.setText("")
            return
        from pathlib import Path
        self.files_label.setText(", ".join(Path(f).name for f in self.preview_files)
                                 or "No sample file yet: choose one or more files to preview.")

    def run_preview(self) -> None:
        self.tabs.setCurrentIndex(3)
        self.preview.message("Checking the form…")
        self.check(then=self._preview_checked)

    def _preview_checked(self, ok: bool) -> None:
        if not ok:
            self.preview.message("Fix the problems shown in the form first.")
            return
        kind = self.kind.currentData()
        if not self.can_preview():
            self.preview.message(f"{kind} jobs have no dry run to preview.")
            return
        if self._kind_class().accepts_files and not self.preview_files:
            # The newest files waiting in its watched folder, if it has one: looked for off
            # the GUI thread, as the folder may be slow to list.
            watch = self.trigger.values().get("watch")
            self.preview.message("Looking for sample files in the watched folder…")
            self.app.service.call_slow(lambda: sample_files(watch), self._preview_on,
                                       lambda _e: self._preview_on([]))
            return
        self._preview_on(self.preview_files)

    def _preview_on(self, files: list[str]) -> None:
        if self._gone():
            return
        if files and not self.preview_files:
            self.preview_files = list(files)
            self._show_files()
        if self._kind_class().accepts_files and not self.preview_files:
            self.preview.message("Choose one or more sample files to preview the job on.")
            return
        job = self.cfg.jobs.get(self.job_name()) if self.cfg is not None else None
        if job is None or self.checking:  # the form changed while the folder was looked at
            self.preview.message("The form changed: preview again.")
            return
        self.preview.message("Previewing… nothing is touched.")
        self.preview_runner.start(job=job.name, kind=self.kind.currentData(),
                                  params=job.params_json(), files=list(self.preview_files))

    def _preview_done(self, result: dict[str, Any]) -> None:
        self.preview.show_result(self.kind.currentData(), result)

    def _preview_failed(self, message: str) -> None:
        self.preview.message(f"The preview failed: {message}")
