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
from PySide6.QtWidgets import (QHeaderView, QLabel, QPlainTextEdit, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from ...durations import format_size
from ...paths import Home

__all__ = ["PreviewRunner", "PreviewView", "sample_files"]

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
