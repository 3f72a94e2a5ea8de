"""The run details: parameters, attempts timeline, live log, traceback, result and actions."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QFontDatabase, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QMessageBox, QPlainTextEdit, QProgressBar, QPushButton,
                               QTabWidget, QTableWidget,
                               QTableWidgetItem, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)
from shiboken6 import isValid

from ..durations import format_duration
from ..errors import UserError
from ..kinds.base import JobKind
from ..store import outcome, run_warnings
from ..textfmt import attempt_of, plain, run_started, run_took, state_text, when
from .icons import icon
from .runinfo import (REJECTED_SCHEME, attempt_lines, linked_run, main_output, params_text,
                      result_links, run_params_line, started_runs_html, trigger_html)
from .runs_model import progress_text
from .sizing import first_size
from .theme import state_colour

__all__ = ["RunDetails", "RejectedRows"]

ACTIVE = ("scheduled", "waiting", "queued", "running", "retrying")
#: Lines a details log keeps (the oldest go first); the whole log is in the store.
#: The states whose ``error`` is one (the others' is why the run ended: cancelled...).
ERROR_STATES = ("failed", "retrying")
LOG_LINES = 50_000
#: Log entries read at a time; all of them are read, the last ones being what the view shows.
LOG_PAGE = 10_000


def _mono() -> Any:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def _text_view(name: str) -> QPlainTextEdit:
    t = QPlainTextEdit(readOnly=True)
    t.setFont(_mono())
    t.setAccessibleName(name)
    t.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    return t


class RunDetails(QDialog):
    def __init__(self, app, run_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.run_id = run_id
        self.run: dict[str, Any] | None = None
        self._attempts: list[dict[str, Any]] = []
        self.setObjectName("runDetails")
        self.setWindowTitle(f"Run {run_id} – trayjobs")
        first_size(self, 780, 580)
        self.title = QLabel()
        self.title.setObjectName("runTitle")
        self.state_icon = QLabel()
        head = QHBoxLayout()
        head.addWidget(self.state_icon)
        head.addWidget(self.title, 1)

        self.form = QFormLayout()
        self.fields: dict[str, QLabel] = {}
        for key, label in (("state", "State"), ("trigger", "Trigger"), ("run_params", "Run with"),
                           ("attempt", "Attempt"),
                           ("started", "Started"), ("took", "Took"), ("summary", "Result"),
                           ("error", "Error"), ("links", "Output"),
                           ("started_runs", "Hooks started")):
            lab = QLabel()
            lab.setWordWrap(True)
            lab.setAccessibleName(label)
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
            self.fields[key] = lab
            self.form.addRow(f"{label}:", lab)
        for key in ("links", "trigger", "started_runs"):
            self.fields[key].setOpenExternalLinks(False)
            self.fields[key].linkActivated.connect(self.open_link)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Progress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.form.insertRow(self.form.getWidgetPosition(self.fields["took"])[0] + 1,
                            "Progress:", self.progress)
        self.form.setRowVisible(self.progress, False)

        self.log = _text_view("Log")
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.log.setMaximumBlockCount(LOG_LINES)
        # Past LOG_LINES the view keeps the newest: it says so, and the whole log can be saved.
        self.log_note = QLabel()
        self.log_note.setObjectName("logNote")
        self.log_note.setWordWrap(True)
        self.log_note.hide()
        self.save_log_btn = QPushButton("Sa&ve log…")
        self.save_log_btn.setAccessibleName("Save log")
        self.save_log_btn.setToolTip("Write the run's whole log, as stored, to a text file")
        self.save_log_btn.clicked.connect(self.save_log)
        log_tab = QWidget()
        log_lay = QVBoxLayout(log_tab)
        log_lay.setContentsMargins(0, 0, 0, 0)
        log_lay.addWidget(self.log_note)
        log_lay.addWidget(self.log, 1)
        log_lay.addWidget(self.save_log_btn, 0, Qt.AlignmentFlag.AlignRight)
        self.timeline = QTreeWidget()
        self.timeline.setAccessibleName("Attempts")
        self.timeline.setHeaderLabels(["Attempt", "Started", "Took", "Ended", "Error"])
        self.timeline.setRootIsDecorated(False)
        self.timeline.setWordWrap(True)
        self.params = _text_view("Parameters")
        self.result_text = _text_view("Result data")
        self.traceback = _text_view("Traceback")
        self.copy_btn = QPushButton("&Copy traceback")
        self.copy_btn.setAccessibleName("Copy traceback")
        self.copy_btn.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.traceback.toPlainText()))
        tb = QWidget()
        tbl = QVBoxLayout(tb)
        tbl.setContentsMargins(0, 0, 0, 0)
        tbl.addWidget(self.traceback)
        tbl.addWidget(self.copy_btn, 0, Qt.AlignmentFlag.AlignRight)
        self.tabs = QTabWidget()
        self.tabs.addTab(log_tab, "&Log")
        self.tabs.addTab(self.timeline, "&Timeline")
        self.tabs.addTab(self.params, "&Parameters")
        self.tabs.addTab(self.result_text, "Result &data")
        self.tabs.addTab(tb, "Trace&back")
        # The run's alerts and heartbeat pings: where each went, or why not yet.
        self.deliveries = QTreeWidget()
        self.deliveries.setAccessibleName("Alerts")
        self.deliveries.setHeaderLabels(["Channel", "Event", "State", "Details"])
        self.deliveries.setRootIsDecorated(False)
        self.deliveries.setWordWrap(True)
        self.tabs.addTab(self.deliveries, "Alert&s")

        self.retry_btn = QPushButton(icon("state-retrying"), "&Retry")
        self.cancel_btn = QPushButton("Ca&ncel run")
        self.undo_btn = QPushButton("&Undo…")
        self.apply_btn = QPushButton("&Apply this preview")
        self.open_btn = QPushButton("&Open output")
        buttons = QHBoxLayout()
        for b, fn, name in ((self.retry_btn, self.retry, "Retry"),
                            (self.cancel_btn, self.cancel, "Cancel run"),
                            (self.undo_btn, self.undo, "Undo"),
                            (self.apply_btn, self.apply_preview, "Apply this preview"),
                            (self.open_btn, self.open_output, "Open output")):
            b.setAccessibleName(name)
            b.clicked.connect(fn)
            buttons.addWidget(b)
        buttons.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        buttons.addWidget(close)

        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addLayout(self.form)
        lay.addWidget(self.tabs, 1)
        lay.addLayout(buttons)
        QShortcut(QKeySequence.StandardKey.Refresh, self, activated=self.refresh)
        # Enter closes, as Esc does, and the log has the focus (its keys scroll it). Left to
        # Qt, the focus and Enter went to the first button: Enter opened "Save log…". (Made
        # the default once in the dialog: before, Qt does not take it as the dialog's.)
        close.button(QDialogButtonBox.StandardButton.Close).setDefault(True)
        for b in (self.save_log_btn, self.copy_btn):
            b.setAutoDefault(False)
        self._focused = False  # the log is given the focus as the window is first shown
        # Until the run is read (a big log takes a moment): no action to press on a run
        # not known yet, no empty rows of what it may not have.
        for b in (self.retry_btn, self.cancel_btn, self.open_btn):
            b.setEnabled(False)
        for b in (self.undo_btn, self.apply_btn):
            b.setVisible(False)
        for key in ("error", "links", "summary", "run_params", "started_runs"):
            self.form.setRowVisible(self.fields[key], False)
        self._reset_log()
        # While the run goes on, "Took" and the running attempt's time count each second.
        self._ticker = QTimer(self, interval=1000)
        self._ticker.timeout.connect(self._tick)
        # Live lines are written to the log together, a few times a second.
        self._log_flush = QTimer(self, singleShot=True, interval=100)
        self._log_flush.timeout.connect(self._flush_log)
        # Deliveries change on the alerts' threads: read again together, off this thread.
        self._alerts_again = QTimer(self, singleShot=True, interval=100)
        self._alerts_again.timeout.connect(self.refresh_alerts)
        app.bridge.runChanged.connect(self._on_run_changed)
        app.bridge.alertChanged.connect(self._on_alert_changed)
        app.bridge.logLines.connect(self._on_logs)
        app.bridge.progress.connect(self._on_progress)
        self.refresh()

    def _reset_log(self) -> None:
        self._last_log_ts = 0.0
        self._log_id = 0          # the last stored line shown
        self._log_loaded = False  # read from the store once
        self._log_whole = False   # shown from the store in full since the run ended
        self._pending_lines: list[Any] | None = []  # live lines that came before the load
        self._live: list[str] = []                  # live lines waiting to be written
        self._log_lines = 0       # lines written to the view, the ones it let go included
        self.log_note.hide()

    # -- data -----------------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._focused:
            self._focused = True
            self.log.setFocus()

    def refresh(self) -> None:
        rid, eng = self.run_id, self.app.engine
        if eng is None:
            return
        after, whole, loaded, line = self._log_id, self._log_whole, self._log_loaded, self._line

        def load():
            store = eng.store
            run = store.get_run(rid)
            job = eng.config.jobs.get(run["job"]) if run else None
            # Only the lines not shown yet; once the run has ended, its whole log once more
            # (lines written before this window opened, and not yet stored then, included).
            full = not loaded or (run is not None and run["state"] not in ACTIVE and not whole)
            text = None
            if full:  # only what the view keeps: a whole 100 MB log took 10 s and 900 MB
                logs, lines = store.log_tail(rid, limit=LOG_LINES)
                # Written out here too: 50,000 lines took the GUI thread 0.5 s.
                text = _last_lines("\n".join(line(l["ts"], l["level"], l["message"])
                                             for l in logs), LOG_LINES)
            else:
                logs = page = store.logs(rid, after_id=after, limit=LOG_PAGE)
                while len(page) >= LOG_PAGE:  # a program that wrote line by line
                    page = store.logs(rid, after_id=page[-1]["id"], limit=LOG_PAGE)
                    logs = logs + page
                lines = None
            return (run, store.attempts(rid), (logs, lines, text), full,
                    dict(job.raw) if job else None,
                    store.outbox_log(run_id=rid, limit=100), store.runs_started_by(rid))

        def show(data) -> None:
            # The window may have been closed, or moved on to a retry, meanwhile.
            if isValid(self) and rid == self.run_id:
                self._show(data)

        self.app.service.call(load, show)

    def refresh_alerts(self) -> None:
        """Read the run's deliveries again (off the GUI thread) and show them."""
        rid, eng = self.run_id, self.app.engine
        if eng is None:
            return

        def show(rows) -> None:
            if isValid(self) and rid == self.run_id:
                self._show_deliveries(rows)

        self.app.service.call(lambda: eng.store.outbox_log(run_id=rid, limit=100), show)

    def _on_alert_changed(self, ev) -> None:
        if ev.run_id == self.run_id and not self._alerts_again.isActive():
            self._alerts_again.start()

    def _show_deliveries(self, rows: list[dict[str, Any]]) -> None:
        from ..alerts.cli import delivery_state
        self.deliveries.clear()
        colours = {"sent": "succeeded", "waiting": "queued", "retrying": "retrying",
                   "failed": "failed"}
        for r in reversed(rows):  # oldest first
            state, detail = delivery_state(r)
            detail = plain(detail or "", one_line=True)  # a server's answer, quoted
            event = f"ping {r['event']}" if r["channel"] == "ping" else r["event"]
            item = QTreeWidgetItem([r["channel"], event, state, detail])
            item.setIcon(2, icon(f"state-{colours[state]}"))
            item.setToolTip(3, detail)
            self.deliveries.addTopLevelItem(item)
        if not rows:  # headers over nothing read as a list that did not load
            none = QTreeWidgetItem(["No alert or ping for this run: the channels are in "
                                    "Settings, under Alert channels."])
            none.setFlags(Qt.ItemFlag.NoItemFlags)
            self.deliveries.addTopLevelItem(none)
            none.setFirstColumnSpanned(True)
        self.tabs.setTabText(self.tabs.indexOf(self.deliveries),
                             f"Alert&s ({len(rows)})" if rows else "Alert&s")

    def _show(self, data) -> None:
        run, attempts, (logs, lines, text), full, job_raw, deliveries, started = data
        self._show_deliveries(deliveries)
        if run is None:
            self.title.setText(f"Run {self.run_id} is no longer in the history")
            for b in (self.retry_btn, self.cancel_btn, self.undo_btn, self.open_btn):
                b.setEnabled(False)
            return
        self.run = run
        result = run.get("result") if isinstance(run.get("result"), dict) else {}
        # A left-to-right mark first: a name in Arabic or Hebrew made the whole line
        # right-to-left, "run 5 · (demo) <name>" at the far end from the state's icon.
        self.title.setText(f"\u200e<b>{_esc(run['job'])}</b> ({run['kind']}) · run {run['id']}")
        self.state_icon.setPixmap(icon(f"state-{outcome(run)}").pixmap(22, 22))
        f = self.fields
        # A one-off says its time, a run held back what it waits for, as in the list.
        state = (state_text(run) if outcome(run) == "warning"
                 or run["state"] in ("scheduled", "waiting") else run["state"])
        if state == "retrying" and run.get("next_attempt_at"):
            state += f" (attempt {run['attempt'] + 1} of {run['max_attempts']} at " \
                     f"{when(run['next_attempt_at'], seconds=True)})"
        f["state"].setText(f"<span style='color:{state_colour(outcome(run)).name()}'>"
                           f"{_esc(state)}</span>")
        f["trigger"].setText(trigger_html(run))
        f["started_runs"].setText(started_runs_html(started))
        f["run_params"].setText(_esc(run_params_line(run.get("inputs"))))
        f["attempt"].setText(attempt_of(run))
        asked = f"(asked for at {when(run.get('created_at'), seconds=True)})"
        f["started"].setText(run_started(run, attempts) if run.get("started_at") else
                             f"not yet {asked}" if run["state"] in ACTIVE else f"never {asked}")
        f["took"].setText(run_took(run, attempts))
        running = run["state"] == "running"
        # "Took" of a run still going read as if it had ended
        took_label = self.form.labelForField(f["took"])
        took_label.setText("Running for:" if running else "Took:")
        self.form.setRowVisible(self.progress, running)
        if running:
            self._show_progress(self.app.window.runs_model.progress.get(run["id"]))
        summary = plain(result.get("summary") or "", one_line=True)
        f["summary"].setText("<br>".join([_esc(summary)] + [
            f"⚠ {_esc(plain(w))}"
            for w in (run_warnings(result) if outcome(run) == "warning" else [])]))
        f["error"].setText(_esc(plain(run.get("error") or "")))
        # A run cancelled, stopped by a quit or skipped did not go wrong: why it ended is
        # no error (a person's cancel read "Error: cancelled").
        self.form.labelForField(f["error"]).setText(
            "Error:" if run["state"] in ERROR_STATES else "Why:")
        links = result_links(run)
        f["links"].setText(" · ".join(f"<a href='{_esc(u)}'>{_esc(l)}</a>" for l, u in links))
        for key in ("error", "links", "summary", "run_params", "started_runs"):
            self.form.setRowVisible(f[key], bool(f[key].text()))
        self.timeline.clear()
        self._attempts = attempt_lines(attempts)
        now = time.time()
        for a in self._attempts:
            going = run["state"] == "running" and a.get("started_at") and not a.get("finished_at")
            took = (format_duration(a["took"]) if a["took"] is not None else
                    format_duration(now - a["started_at"]) if going else "")  # as _tick has it
            item = QTreeWidgetItem([str(a["attempt"]), when(a.get("started_at"), seconds=True),
                                    took,
                                    a.get("state") or "", a.get("error") or ""])
            item.setIcon(3, icon(f"state-{a['state']}") if a.get("state") else icon("state-queued"))
            item.setToolTip(4, a.get("error") or "")
            self.timeline.addTopLevelItem(item)
        self.params.setPlainText(params_text(job_raw, run.get("inputs")))
        self.result_text.setPlainText(json.dumps(result, indent=2, ensure_ascii=False)
                                      if result else "")
        self._show_log(logs, full=full, ended=run["state"] not in ACTIVE, lines=lines,
                       text=text)
        self.traceback.setPlainText(run.get("traceback") or "")
        self.copy_btn.setEnabled(bool(run.get("traceback")))
        self.tabs.setTabEnabled(4, bool(run.get("traceback")))
        active = run["state"] in ACTIVE
        if running and not self._ticker.isActive():
            self._ticker.start()
        elif not running:
            self._ticker.stop()
        self.retry_btn.setEnabled(not active or run["state"] == "retrying")
        # "Retry" a run that succeeded reads as if something went wrong: it runs it again.
        again = run["state"] in ("succeeded", "skipped")
        self.retry_btn.setText("&Retry now" if run["state"] == "retrying"
                               else "Run a&gain" if again else "&Retry")
        self.retry_btn.setAccessibleName("Run again" if again else "Retry")
        self.cancel_btn.setEnabled(active)
        from ..kinds.registry import get_kind
        try:
            kind = get_kind(run["kind"])
        except KeyError:
            kind = None
        self.undo_btn.setVisible(bool(kind and kind.supports_undo))
        self.undo_btn.setEnabled(bool(kind and kind.can_undo_run(run)))
        if result.get("undo"):
            self.undo_btn.setToolTip(f"Already undone: {result['undo'].get('summary', '')}")
        elif result.get("dry_run"):
            self.undo_btn.setToolTip("A preview changes nothing: there is nothing to undo")
        elif not active and not self.undo_btn.isEnabled():
            self.undo_btn.setToolTip("This run changed nothing: there is nothing to undo")
        else:
            self.undo_btn.setToolTip("")
        self._show_apply(kind, run, result)
        # Only where the run made something to open (a report, a folder it filled): for a
        # command, say, it would be a button that never works.
        self.open_btn.setEnabled(main_output(run) is not None)
        self.open_btn.setVisible(self.open_btn.isEnabled())

    @staticmethod
    def _line(ts: float, level: str, message: str) -> str:
        return f"{when(ts, seconds=True)} {level:<7} {plain(message)}"

    def _on_run_changed(self, run: dict[str, Any], final: bool) -> None:
        # Its own changes, and those of the runs its hooks start (they come after its end).
        if self.run_id in (run["id"], run.get("parent_run")):
            self.refresh()

    def _show_log(self, logs: list[dict[str, Any]], *, full: bool, ended: bool,
                  lines: int | None = None, text: str | None = None) -> None:
        """``logs``: the stored lines not shown yet, or (``full``) the newest of the log,
        which has ``lines`` lines in all, written out as ``text`` (its last lines)."""
        if logs:
            self._log_id = logs[-1]["id"]
        first = not self._log_loaded
        self._log_loaded = True
        if full:
            self._live.clear()
            if text is None:
                text = "\n".join(self._line(l["ts"], l["level"], l["message"]) for l in logs)
            bar = self.log.verticalScrollBar()
            # The newest lines, as a log is read: at first, and when the whole log comes
            # again at the run's end while one followed it; else the place one scrolled to.
            follow, kept = first or bar.value() >= bar.maximum(), bar.value()
            self.log.setPlainText(_last_lines(text, LOG_LINES))
            bar.setValue(bar.maximum() if follow else kept)
            self._log_lines = lines if lines is not None else text.count("\n") + 1 if logs else 0
            self._note_cut()
            self._last_log_ts = logs[-1]["ts"] if logs else 0.0
            self._log_whole = ended
        else:  # stored since: the lines not seen live
            for l in logs:
                self._add_line(l["ts"], l["level"], l["message"])
        pending, self._pending_lines = self._pending_lines or [], None
        self._on_logs(pending)
        self._flush_log()
        if first and not ended:
            # A line told live before this window listened, and stored only after its
            # first read, would show only at the run's end: read what came since once more.
            rid = self.run_id
            QTimer.singleShot(1000, lambda: isValid(self) and rid == self.run_id
                              and self.refresh())

    def _on_logs(self, lines: list[Any]) -> None:
        mine = [line for line in lines if line.run_id == self.run_id]
        if self._pending_lines is not None:
            self._pending_lines.extend(mine)
            return
        for line in mine:
            self._add_line(line.ts, line.level, line.message)

    def _add_line(self, ts: float, level: str, message: str) -> None:
        if ts <= self._last_log_ts:
            return  # shown already (live, or read from the store)
        self._last_log_ts = ts
        self._live.append(self._line(ts, level, message))
        if not self._log_flush.isActive():
            self._log_flush.start()

    def _flush_log(self) -> None:
        self._log_flush.stop()
        if self._live:
            live, self._live = self._live, []
            self._log_lines += sum(entry.count("\n") + 1 for entry in live)
            bar = self.log.verticalScrollBar()
            follow = bar.value() >= bar.maximum()  # at the newest line: stay there
            self.log.appendPlainText(_last_lines("\n".join(live[-LOG_LINES:]), LOG_LINES))
            if follow:
                bar.setValue(bar.maximum())
            self._note_cut()

    def _note_cut(self) -> None:
        if self._log_lines > LOG_LINES:
            self.log_note.setText(
                f"Showing the last {LOG_LINES:,} of {self._log_lines:,} lines. "
                f"<b>Save log…</b> writes all of it, as does "
                f"<code>trayjobs show {self.run_id}</code>.")
            self.log_note.show()

    def save_log(self) -> None:
        """Ask where, then write the run's whole stored log there (off this thread)."""
        rid, eng = self.run_id, self.app.engine
        if eng is None:
            return
        start = Path.home() / f"trayjobs-run-{rid}.log"
        path, _ = QFileDialog.getSaveFileName(self, "Save the run's log", str(start),
                                              "Log files (*.log *.txt);;All files (*)")
        if not path:
            return
        self.write_log(Path(path))

    def write_log(self, path: Path) -> None:
        rid, eng, line = self.run_id, self.app.engine, self._line

        def write() -> str | None:
            try:
                with open(path, "w", encoding="utf-8", errors="backslashreplace") as f:
                    # A page at a time: one read stopped at the store's first page (the
                    # first 10,000 entries), and all of them at once held the whole log.
                    page = eng.store.logs(rid, after_id=0, limit=LOG_PAGE)
                    while page:
                        f.writelines(line(e["ts"], e["level"], e["message"]) + "\n"
                                     for e in page)
                        page = eng.store.logs(rid, after_id=page[-1]["id"], limit=LOG_PAGE)
            except OSError as exc:
                return f"The log could not be written to {path}: {exc.strerror or exc}"
            return None

        def done(problem: str | None) -> None:
            if not isValid(self):
                return
            if problem:
                QMessageBox.warning(self, "Save log", problem)
            else:
                self.log_note.setText(f"The whole log was saved to {path}.")
                self.log_note.show()

        self.app.service.call(write, done)

    def _on_progress(self, updates: dict[int, Any]) -> None:
        p = updates.get(self.run_id)
        if p is not None and self.run and self.run["state"] == "running":
            self._show_progress(p)

    def _show_progress(self, p: Any) -> None:
        frac, text = progress_text(self.run, p)
        # How much is left not known: an empty bar with what is known ("running", "3,000
        # rows"), not Qt's busy animation, which repaints the bar ~50 times a second (a
        # twentieth of a core on the GUI thread, as long as the run lasts).
        self.progress.setRange(0, 1000)
        self.progress.setValue(0 if frac is None else round(min(frac, 1.0) * 1000))
        self.progress.setFormat(text or "running")

    def _tick(self) -> None:
        run = self.run
        if not run or run["state"] != "running":
            self._ticker.stop()
            return
        now = time.time()
        self.fields["took"].setText(run_took(run, self._attempts, now))
        for i, a in enumerate(self._attempts):
            if a.get("started_at") and not a.get("finished_at"):
                item = self.timeline.topLevelItem(i)
                if item is not None:
                    item.setText(2, format_duration(now - a["started_at"]))

    # -- actions --------------------------------------------------------------------

    def retry(self) -> None:
        self.app.retry_run(self.run_id, on_done=self.follow)

    def follow(self, run_id: int) -> None:
        """Show another run here (the retry just started, so it can be watched)."""
        if run_id == self.run_id:
            return
        self.run_id = run_id
        self.run = None
        self.setWindowTitle(f"Run {run_id} – trayjobs")
        self.log.clear()
        self._reset_log()
        self.refresh()

    def cancel(self) -> None:
        self.app.cancel_run(self.run_id)

    def undo(self, *, confirm: bool = True) -> None:
        run = self.run or {}
        from ..kinds.registry import get_kind
        try:
            what = get_kind(run.get("kind", "")).undo_note
        except KeyError:
            what = ""
        if confirm and QMessageBox.question(
                self, "Undo this run?", f"Undo run {self.run_id} of {run.get('job', '')}?\n\n{what}"
        ) != QMessageBox.StandardButton.Yes:
            return
        self.undo_btn.setEnabled(False)
        self.app.undo_run(self.run_id, on_done=lambda _r: self.refresh(),
                          on_error=lambda _e: self.refresh())

    def _show_apply(self, kind, run: dict[str, Any], result: dict[str, Any]) -> None:
        """"Apply this preview" on a finished preview whose kind can carry out its plan."""
        why = ""
        try:
            kind.plan_of(run) if kind is not None else None
        except UserError as exc:
            why = str(exc)
        self.apply_btn.setVisible(bool(kind and result.get("dry_run")
                                       and kind.plan_of.__func__ is not JobKind.plan_of.__func__))
        self.apply_btn.setEnabled(not why)
        self.apply_btn.setToolTip(why or "Do exactly what this preview listed; an item changed "
                                         "since is left alone")

    def apply_preview(self) -> None:
        self.apply_btn.setEnabled(False)
        self.app.apply_preview(self.run_id)

    def open_output(self) -> None:
        target = main_output(self.run or {})
        if target:
            QDesktopServices.openUrl(QUrl.fromLocalFile(target))

    def open_link(self, url: str) -> None:
        if (rid := linked_run(url)) is not None:
            self.app.open_run(rid)
        elif url.startswith(REJECTED_SCHEME + ":"):
            dlg = RejectedRows(self.app, self.run or {}, self)
            dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dlg.show()
        else:
            QDesktopServices.openUrl(QUrl(url))


class RejectedRows(QDialog):
    """The rows an import run set aside (its quarantine), with line and reason."""

    def __init__(self, app, run: dict[str, Any], parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("rejectedRows")
        self.setWindowTitle(f"Rejected rows of run {run.get('id')}")
        first_size(self, 760, 420)
        self.table = QTableWidget(0, 4)
        self.table.setAccessibleName("Rejected rows")
        self.table.setHorizontalHeaderLabels(["File", "Line", "Reason", "Row as read"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.note = QLabel()
        result = run.get("result") if isinstance(run.get("result"), dict) else {}
        db, rid = result.get("database"), run.get("id")
        # All of them, paged, filterable, with "Fix and re-import…": the Data page.
        self.data_btn = QPushButton("Show in the &Data page")
        self.data_btn.setAccessibleName("Show in the Data page")
        self.data_btn.setEnabled(bool(db))
        self.data_btn.clicked.connect(lambda: (app.show_window(),
                                               app.window.show_rejected(db, rid), self.close()))
        lay = QVBoxLayout(self)
        lay.addWidget(self.note)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.data_btn, 0, Qt.AlignmentFlag.AlignRight)

        def load():
            if not db or not Path(db).exists():
                return []
            conn = sqlite3.connect(f"{Path(db).as_uri()}?mode=ro", uri=True)
            try:
                return conn.execute("SELECT file, line, reason, raw FROM _rejected WHERE"
                                    " run_id = ? ORDER BY id LIMIT 5000", (rid,)).fetchall()
            finally:
                conn.close()

        app.service.call(load, self._show, lambda e: self.note.setText(str(e)))

    def _show(self, rows) -> None:
        self.note.setText(f"{len(rows):,} row{'s' * (len(rows) != 1)} set aside in the "
                          f"_rejected table" + (" (first 5,000)" if len(rows) == 5000 else ""))
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                self.table.setItem(i, j, QTableWidgetItem("" if v is None else str(v)))
        self.table.resizeColumnsToContents()


def _last_lines(text: str, n: int) -> str:
    """The last ``n`` lines of ``text``: all the view keeps. Cut here, not by the view:
    laid out first, a megabyte of short lines held the window still for seconds."""
    end = len(text)
    for _ in range(n):
        end = text.rfind("\n", 0, end)
        if end < 0:
            return text
    return text[end + 1:]


def _esc(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        "'", "&#39;")
