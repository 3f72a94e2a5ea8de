"""The run details dialog: fields, attempts, live log, traceback and actions."""

from __future__ import annotations

import json
from typing import Any, Callable

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel,
                               QPlainTextEdit, QPushButton, QTabWidget, QVBoxLayout, QWidget)

from ..textfmt import run_duration, state_text, when

__all__ = ["RunDetails"]


class RunDetails(QDialog):
    def __init__(self, app, run_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.run_id = run_id
        self.run: dict[str, Any] | None = None
        self.setWindowTitle(f"Run {run_id}")
        self.resize(720, 520)
        self.title = QLabel()
        self.title.setObjectName("runTitle")
        self.form = QFormLayout()
        self.fields: dict[str, QLabel] = {}
        for key, label in (("state", "State"), ("trigger", "Trigger"), ("attempt", "Attempt"),
                           ("started", "Started"), ("took", "Took"), ("summary", "Result"),
                           ("error", "Error"), ("note", "Note"), ("inputs", "Inputs")):
            lab = QLabel()
            lab.setWordWrap(True)
            lab.setTextInteractionFlags(lab.textInteractionFlags() | lab.textInteractionFlags().TextSelectableByMouse)
            self.fields[key] = lab
            self.form.addRow(label + ":", lab)
        mono = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        self.attempts = QPlainTextEdit(readOnly=True)
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setFont(mono)
        self.traceback = QPlainTextEdit(readOnly=True)
        self.traceback.setFont(mono)
        self.traceback.setAccessibleName("Traceback")
        tabs = QTabWidget()
        tabs.addTab(self.log, "Log")
        tabs.addTab(self.attempts, "Attempts")
        tb = QWidget()
        tbl = QVBoxLayout(tb)
        tbl.addWidget(self.traceback)
        self.copy_btn = QPushButton("Copy traceback")
        self.copy_btn.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.traceback.toPlainText()))
        tbl.addWidget(self.copy_btn)
        tabs.addTab(tb, "Traceback")
        self.tabs = tabs

        buttons = QHBoxLayout()
        self.retry_btn = QPushButton("Retry")
        self.cancel_btn = QPushButton("Cancel run")
        self.undo_btn = QPushButton("Undo")
        for b, fn in ((self.retry_btn, self._retry), (self.cancel_btn, self._cancel),
                      (self.undo_btn, self._undo)):
            b.clicked.connect(fn)
            buttons.addWidget(b)
        buttons.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.Close)
        close.rejected.connect(self.close)
        buttons.addWidget(close)

        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addLayout(self.form)
        lay.addWidget(tabs, 1)
        lay.addLayout(buttons)
        self._last_log_id = 0
        app.bridge.runChanged.connect(self._on_run_changed)
        app.bridge.logLine.connect(self._on_log)
        self.refresh()

    # -- data -----------------------------------------------------------------------

    def refresh(self) -> None:
        rid = self.run_id

        def load():
            store = self.app.engine.store
            return store.get_run(rid), store.attempts(rid), store.logs(rid)

        self.app.service.call(load, self._show)

    def _show(self, data) -> None:
        run, attempts, logs = data
        if run is None:
            self.title.setText(f"Run {self.run_id} no longer exists")
            return
        self.run = run
        result = run.get("result") if isinstance(run.get("result"), dict) else {}
        self.title.setText(f"<b>{run['job']}</b> ({run['kind']}) · run {run['id']}")
        f = self.fields
        f["state"].setText(state_text(run))
        trig = run["trigger"]
        if run.get("retry_of"):
            trig += f" (retry of run {run['retry_of']})"
        if run.get("parent_run"):
            trig += f" (after run {run['parent_run']})"
        f["trigger"].setText(trig)
        f["attempt"].setText(f"{run['attempt']} of {run['max_attempts']}")
        f["started"].setText(when(run.get("started_at"), seconds=True))
        f["took"].setText(run_duration(run))
        f["summary"].setText(result.get("summary", ""))
        f["error"].setText(run.get("error") or "")
        f["note"].setText(run.get("note") or "")
        f["inputs"].setText(json.dumps(run["inputs"]) if run.get("inputs") else "")
        self.attempts.setPlainText("\n".join(
            f"{a['attempt']}. {when(a['started_at'], seconds=True)} → {a['state']}"
            + (f": {a['error']}" if a.get("error") else "") for a in attempts))
        self.log.setPlainText("\n".join(
            f"{when(l['ts'], seconds=True)} {l['level']:<7} {l['message']}" for l in logs))
        self._last_log_id = logs[-1]["id"] if logs else 0
        self.traceback.setPlainText(run.get("traceback") or "")
        self.copy_btn.setEnabled(bool(run.get("traceback")))
        active = run["state"] in ("queued", "running", "retrying")
        self.retry_btn.setEnabled(not active or run["state"] == "retrying")
        self.retry_btn.setText("Retry now" if run["state"] == "retrying" else "Retry")
        self.cancel_btn.setEnabled(active)
        from ..kinds.registry import get_kind
        try:
            can_undo = get_kind(run["kind"]).supports_undo and not result.get("undo")
        except KeyError:
            can_undo = False
        self.undo_btn.setVisible(can_undo)
        self.undo_btn.setEnabled(can_undo and not active)

    def _on_run_changed(self, run: dict[str, Any], final: bool) -> None:
        if run["id"] == self.run_id:
            self.refresh()

    def _on_log(self, line) -> None:
        if line.run_id == self.run_id:
            self.log.appendPlainText(f"{when(line.ts, seconds=True)} {line.level:<7} {line.message}")

    # -- actions --------------------------------------------------------------------

    def _act(self, fn: Callable[[], Any], done: str) -> None:
        self.app.service.call(fn, lambda _r: self.app.status(done))

    def _retry(self) -> None:
        rid = self.run_id
        self.app.service.call(lambda: self.app.engine.retry(rid),
                              lambda new: self.app.status(f"run {rid} retried as run {new}"))

    def _cancel(self) -> None:
        rid = self.run_id
        self._act(lambda: self.app.engine.cancel(rid), f"asked run {rid} to stop")

    def _undo(self) -> None:
        from ..engine.undo import undo_run
        rid = self.run_id
        self.undo_btn.setEnabled(False)
        self.app.service.call(lambda: undo_run(self.app.engine, rid),
                              lambda r: self.app.status(r.get("summary", "undone")),
                              lambda e: (self.app.status(str(e)), self.refresh()))
