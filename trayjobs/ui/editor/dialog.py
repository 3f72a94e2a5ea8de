"""The job editor: a form per kind, a trigger editor, options, and a preview.

Every change is checked at once against the real config rules: the job is put
into a copy of the config text and :func:`~trayjobs.config.parse_config` reads
it, then the kind's own check looks at its folders and files; its errors appear
under the field they are about. That check runs off the GUI thread
(:mod:`.checking`): the window never waits on a slow disk or a dead mount.
Saving goes through the app (the service thread), which writes the file with
the person's comments kept and reloads the engine.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable

import shiboken6
from pydantic_core import to_jsonable_python
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton,
                               QScrollArea, QTabWidget, QToolButton, QVBoxLayout, QWidget)

from ...config import JobCommon, RetryPolicy
from ...config_edit import ConfigDocument
from ...kinds.registry import get_kind, kind_names
from ..sizing import first_size
from ..theme import muted_colour, state_colour
from .env import SecretNames
from .fields import FieldEditor, describe_fields, make_editor, plain_error, where_in
from .checking import Checked, check_job
from .conditions import KEYS as CONDITION_KEYS, ConditionsEditor
from .preview import EditorPreview, PreviewRunner, PreviewView
from .rows import FieldRow, reserve_lines
from .trigger import TriggerEditor
from .widgets import ActionEditor, FilterListEditor, FolderListEditor, SectionsEditor, ThenEditor

log = logging.getLogger(__name__)

__all__ = ["JobEditor", "BASIC_KEYS", "NEW_JOB_KIND"]

#: What "New job" starts as: most often someone wants to run a script or program of their
#: own (an import has its own watched folder from the first start already).
NEW_JOB_KIND = "command"

#: The settings shown first for each kind; the others are under "More options".
BASIC_KEYS = {
    "command": ["command", "cwd", "env"],
    "cleanup": ["locations", "filters", "match", "action", "conflict", "targets", "preview"],
    "import": ["database", "table", "format", "mode", "pk", "on_bad_rows", "processed_dir",
               "failed_dir"],
    "report": ["builtin", "title", "database", "period", "formats", "sections"],
}
CUSTOM = {("cleanup", "locations"): FolderListEditor, ("cleanup", "filters"): FilterListEditor,
          ("cleanup", "action"): ActionEditor, ("report", "sections"): SectionsEditor}
#: Explanations for the hand-made editors (the models' own speak of TOML).
CUSTOM_HELP = {
    ("cleanup", "locations"): "",
    ("cleanup", "filters"): "Each rule tests an item: age 'older than 30d', size '>100 MB', "
                            "extension 'zip, dmg', name '*.tmp', a regular expression, or "
                            "emptiness; 'not' turns a rule around. Match (below) combines them.",
    ("cleanup", "action"): "What happens to matching items. The trash (the default) and Undo "
                           "can bring them back; a permanent delete cannot be undone.",
    ("command", "command"): "What to run, as you would type it in a terminal, e.g. "
                            "~/bin/backup.sh --all (run by /bin/sh), or a list of the program "
                            "and its arguments. {files} stands for the files the run was given "
                            "(by a watched folder, or dropped on the job).",
    ("command", "env"): "Extra environment variables for the program. Tick Secret to keep a "
                        "value (a password, a token) in the system keyring, not in the jobs file.",
    ("report", "sections"): "Each section is a title and one SELECT query (with :start and :end "
                            "for the period), shown as a table, a bar or line chart, or a figure.",
}
OPTION_KEYS = ["timeout", "priority", "overlap", "notify", "params"]


class JobEditor(EditorPreview, QDialog):
    saved = Signal(str)

    def __init__(self, app, *, name: str | None, values: dict[str, Any], config_text: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.old_name = name
        self.original = dict(values)
        self.config_text = config_text
        self.other_jobs = [n for n in ConfigDocument(config_text).job_names() if n != name]
        self.setObjectName("jobEditor")
        self.setWindowTitle(f"Edit {name} – trayjobs" if name else "New job – trayjobs")
        first_size(self, 760, 640)
        self.rows: dict[str, FieldRow] = {}
        self._secret_names: SecretNames | None = None
        self.more_toggle = None
        self.cfg = None
        self.valid = False
        # The checks asked and the one whose answer is shown (see check()).
        self._asked = self._shown = 0
        self._waiting: tuple[int, str, dict[str, Any]] | None = None
        self._out: dict[int, bool] = {}  # the checks under way: overdue or not
        self._closed = False
        self._then: Callable[[bool], None] | None = None
        self._patience = QTimer(self, singleShot=True, interval=1500)
        self._patience.timeout.connect(self._impatient)

        self.name = QLineEdit(name or "")
        # An empty name is a hint, not an error, until someone has typed in the field.
        self._name_touched = bool(name)
        self.name.textEdited.connect(lambda _t: setattr(self, "_name_touched", True))
        # Spaces around a name are trimmed where the person sees it: when they leave the
        # field, or save. Trimmed only on the way to the file, "count " became "count", a
        # rename or another job's name, with no word of it.
        self._name_typing = False
        self.name.textEdited.connect(lambda _t: setattr(self, "_name_typing", True))
        self.name.editingFinished.connect(self._trim_name)
        self.name.setAccessibleName("Job name")
        self.name.setPlaceholderText("e.g. Nightly backup")
        self.kind = QComboBox()
        self.kind.setAccessibleName("Kind")
        for k in kind_names():
            self.kind.addItem(k, k)
        kind = values.get("kind", NEW_JOB_KIND)
        if self.kind.findData(kind) < 0:
            # A kind no installed one is (a slip, "demoo"): shown as the job has it, and said
            # to be wrong, until one is chosen; the first of the list took its place, and a
            # save made the job a cleanup.
            self.kind.addItem(str(kind), kind)
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))
        self.kind_summary = QLabel()
        self.kind_summary.setWordWrap(True)
        self.description = QLineEdit(values.get("description", ""))
        self.description.setAccessibleName("Description")
        self.description.setPlaceholderText("optional: a line of your own about the job")
        self.enabled = QCheckBox("&Enabled (runs on its own when its triggers fire)")
        self.enabled.setAccessibleName("Enabled")
        self.enabled.setChecked(bool(values.get("enabled", True)))
        self.name_error = QLabel()
        self.name_error.setObjectName("error:name")
        reserve_lines(self.name_error, 1)
        head = QFormLayout()
        head.addRow("&Name:", self.name)
        head.addRow("", self.name_error)
        head.addRow("&Kind:", self.kind)
        head.addRow("", self.kind_summary)
        head.addRow("&Description:", self.description)
        head.addRow("", self.enabled)

        self.params_area = QScrollArea()
        self.params_area.setWidgetResizable(True)
        self.trigger = TriggerEditor()
        self.trigger.set_values(values)
        self.conditions = ConditionsEditor()
        self.conditions.set_values(values)
        when_page = QWidget()
        wl = QVBoxLayout(when_page)
        # One margin for both, the page's: "Only when…" sat against the tab's left edge,
        # left of "Schedule" above it, which had the trigger editor's own margin.
        self.trigger.layout().setContentsMargins(0, 0, 0, 0)
        wl.addWidget(self.trigger)
        wl.addWidget(self.conditions)
        wl.addStretch(1)
        when_area = QScrollArea()
        when_area.setWidgetResizable(True)
        when_area.setWidget(when_page)
        self.options = QWidget()
        self.preview = PreviewView()
        self.preview_runner = PreviewRunner(app.home, self)
        self.preview_files: list[str] = []
        self.files_btn = QPushButton("Choose sample &files…")
        self.files_btn.setAccessibleName("Choose sample files")
        self.files_btn.clicked.connect(self._choose_files)
        self.files_label = QLabel()
        self.files_label.setWordWrap(True)
        preview_page = QWidget()
        pl = QVBoxLayout(preview_page)
        fl = QHBoxLayout()
        fl.addWidget(self.files_btn)
        fl.addWidget(self.files_label, 1)
        pl.addLayout(fl)
        pl.addWidget(self.preview, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.params_area, "&What it does")
        self.tabs.addTab(when_area, "W&hen")
        # Each tab scrolls: however many options a job has, the editor fits a small screen.
        options_area = QScrollArea()
        options_area.setWidgetResizable(True)
        options_area.setWidget(self._options_page(values))
        self.tabs.addTab(options_area, "O&ptions")
        self.tabs.addTab(preview_page, "P&review")
        # Tab goes from the tab bar straight to the first field: a scroll area that takes
        # the focus itself is a stop where nothing shows it.
        for area in (self.params_area, when_area, options_area):
            area.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        self.errors = QLabel()
        self.errors.setObjectName("editorErrors")
        self.errors.setWordWrap(True)
        self.errors.setStyleSheet(f"color: {state_colour('failed').name()}")
        reserve_lines(self.errors, 2)  # the tabs above keep their place as messages come and go
        self.preview_btn = QPushButton("Pre&view")
        self.preview_btn.setAccessibleName("Preview")
        self.preview_btn.clicked.connect(self.run_preview)
        self.save_btn = QPushButton("&Save")
        self.save_btn.setAccessibleName("Save job")
        self.save_btn.setDefault(True)
        self.save_btn.clicked.connect(self.save)
        cancel = QPushButton("Cancel")
        cancel.setAccessibleName("Cancel")
        cancel.clicked.connect(self.cancel)
        self.cancel_btn = cancel
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_btn)
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.save_btn)

        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(self.errors)
        lay.addLayout(buttons)

        self._check_timer = QTimer(self, singleShot=True, interval=200)
        self._check_timer.timeout.connect(self.check)
        self._build_params(values)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        for sig in (self.name.textChanged, self.description.textChanged, self.enabled.toggled,
                    self.trigger.changed, self.conditions.changed):
            sig.connect(self._changed)
        self.preview_runner.finished.connect(self._preview_done)
        self.preview_runner.failed.connect(self._preview_failed)
        self.preview_runner.progress.connect(lambda m: self.preview.message(f"Previewing… {m}"))
        # What each field reads as it was filled in: one left as it is gives back the job's
        # own value, as written (see values()).
        self._as_loaded = {key: _read(row.editor) for key, row in self.rows.items()}
        self.check()
        self.first_look = self._as_is()

    # -- building ---------------------------------------------------------------------

    def _add_row(self, form: QFormLayout, editor: FieldEditor, label: str, help_text: str,
                 *, more: bool = False) -> None:
        row = FieldRow(editor, help_text, label)
        row.in_more = more
        editor.changed.connect(self._changed)
        self.rows[editor.key] = row
        lab = QLabel(f"{label}:")
        lab.setBuddy(editor)
        lab.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.addRow(lab, row)

    def _build_params(self, values: dict[str, Any]) -> None:
        for key in getattr(self, "param_keys", []):
            self.rows.pop(key, None)
        kind = self.kind.currentData()
        try:
            cls = get_kind(kind)
        except KeyError:
            return
        self.kind_summary.setText(cls.summary)
        page = QWidget()
        lay = QVBoxLayout(page)
        basic, more = QFormLayout(), QFormLayout()
        specs = describe_fields(cls.Params)
        wanted = BASIC_KEYS.get(kind, [s.key for s in specs])
        self.param_keys = [s.key for s in specs]
        for spec in sorted(specs, key=lambda s: wanted.index(s.key) if s.key in wanted else 99):
            editor = self._param_editor(kind, spec, values)
            if spec.required:
                editor.present = True
            self._add_row(basic if spec.key in wanted else more, editor, spec.label,
                          CUSTOM_HELP.get((kind, spec.key), spec.help), more=spec.key not in wanted)
        lay.addLayout(basic)
        self.more_toggle = None
        if more.rowCount():
            toggle = QToolButton()
            toggle.setText("More options")
            toggle.setCheckable(True)
            toggle.setAccessibleName("More options")
            toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            toggle.setArrowType(Qt.ArrowType.RightArrow)
            box = QGroupBox()
            box.setLayout(more)
            box.setVisible(any(spec.key in values for spec in specs if spec.key not in wanted))
            toggle.setChecked(box.isVisible())

            def flip(on: bool, box=box, toggle=toggle) -> None:
                box.setVisible(on)
                toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

            toggle.toggled.connect(flip)
            flip(box.isVisible())
            self.more_toggle = toggle
            lay.addWidget(toggle)
            lay.addWidget(box)
        lay.addStretch(1)
        self.params_area.setWidget(page)
        self._buttons_last()
        self.files_btn.setVisible(cls.accepts_files)
        self._show_files()
        self._show_preview_button()

    def _buttons_last(self) -> None:
        """Put Preview, Cancel and Save last as Tab goes. A kind's fields are made after
        the buttons, so Qt put them after Cancel: Tab reached Cancel before Command."""
        chain, w = [], self.name
        while (w := w.nextInFocusChain()) is not self.name:
            if w.focusPolicy() & Qt.FocusPolicy.TabFocus:
                chain.append(w)
        last = next((w for w in reversed(chain)
                     if w not in (self.preview_btn, self.cancel_btn, self.save_btn)), None)
        if last is None:
            return
        for a, b in ((last, self.preview_btn), (self.preview_btn, self.cancel_btn),
                     (self.cancel_btn, self.save_btn)):
            QWidget.setTabOrder(a, b)

    def _param_editor(self, kind: str, spec, values: dict[str, Any]):
        """The editor of one of the kind's params, holding the job's value. Where a plug-in's
        field defeats its own input (a default of another type than the field's), it is
        typed as TOML instead, its help saying why, rather than the form not opening."""
        def make(spec):
            custom = CUSTOM.get((kind, spec.key), None)
            editor = custom(spec.key) if custom else make_editor(spec)
            editor.setObjectName(f"param:{spec.key}")
            if hasattr(editor, "bind_secrets"):
                editor.bind_secrets(self.secret_names())
            editor.set_value(spec.key in values, values.get(spec.key, spec.default))
            return editor

        try:
            return make(spec)
        except Exception as exc:
            log.warning("the %s form's field %r: %s", kind, spec.key, exc)
            why = f"(typed as TOML: this field's own input could not be made: {exc})"
            return make(dataclasses.replace(
                spec, kind="toml", number="", choices=[], model=None, text_ok=False,
                default=to_jsonable_python(spec.default, fallback=str),
                help=f"{spec.help}\n{why}".strip()))

    def secret_names(self) -> SecretNames:
        """The stored secrets' names, asked of the keyring once, when a field needs them."""
        if self._secret_names is None:
            self._secret_names = SecretNames(self.app, self)
            self._secret_names.load()
        return self._secret_names

    def _options_page(self, values: dict[str, Any]) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        retry = values.get("retry") if isinstance(values.get("retry"), dict) else {}
        self.retry_keys = []
        for spec in describe_fields(RetryPolicy):
            editor = make_editor(spec)
            editor.key = f"retry.{spec.key}"
            editor.set_value(spec.key in retry, retry.get(spec.key, spec.default))
            self.retry_keys.append(spec.key)
            self._add_row(form, editor, f"Retry: {spec.label.lower()}", spec.help)
        for spec in describe_fields(JobCommon):
            if spec.key not in OPTION_KEYS:
                continue
            editor = make_editor(spec)
            editor.set_value(spec.key in values, values.get(spec.key, spec.default))
            self._add_row(form, editor, spec.label, spec.help)
        self.then = ThenEditor()
        self.then.set_jobs(self.other_jobs)
        self.then.set_value("then" in values, values.get("then") or [])
        self._add_row(form, self.then, "Then run",
                      JobCommon.model_fields["then"].description or "")
        return page

    def _kind_class(self):
        try:
            return get_kind(self.kind.currentData())
        except KeyError:
            return None

    def _kind_changed(self) -> None:
        keep = {k: v for k, v in self.values(strict=False).items()
                if k not in getattr(self, "param_keys", [])}
        # The job's own values fill the fields of the kind chosen that have its keys (a
        # job whose kind was misspelt keeps its steps once "demo" is chosen).
        self._build_params({**self.original, **keep})
        self._changed()

    # -- values -----------------------------------------------------------------------

    def values(self, *, strict: bool = True) -> dict[str, Any]:
        """The job's table as the editor has it; ``strict`` raises ValueError when a field
        cannot even be read (e.g. unparsable TOML), else such fields are left out."""
        out: dict[str, Any] = {"kind": self.kind.currentData()}
        same_kind = out["kind"] == self.original.get("kind")
        if self.description.text() == self.original.get("description") is not None:
            out["description"] = self.original["description"]  # its spaces, its "" kept
        elif self.description.text().strip():
            out["description"] = self.description.text().strip()
        if not self.enabled.isChecked():
            out["enabled"] = False
        elif self.original.get("enabled") is True:
            out["enabled"] = True  # written though it is the default: it stays
        out.update(self.trigger.values())
        retry: dict[str, Any] = {}
        problems = []
        try:
            out.update(self.conditions.values())
        except ValueError as exc:
            problems.append(("when", str(exc)))
        for key, row in self.rows.items():
            try:
                present, value = row.editor.value()
            except ValueError as exc:
                problems.append((key, str(exc)))
                continue
            written = self._written(key)
            if same_kind and written is not _UNSET and (
                    getattr(self, "_as_loaded", {}).get(key, _UNSET) == (present, value)) and (
                    not present or isinstance(written, str) and isinstance(value, str)):
                # Left as it was: the job's own value, which the field does not give back
                # (a tab or a space as the delimiter, quotechar = "", a title's spaces, a
                # default written out). A value the field puts right (an environment
                # value of true, written without quotes) is saved as the field has it.
                present, value = True, written
            if not present:
                continue
            if _one_as_written(row.editor, value, self.original.get(key)):
                value = self.original[key]  # `pk = "id"` stays so, not ["id"]
            if key.startswith("retry."):
                retry[key[6:]] = value
            else:
                out[key] = value
        if retry or (same_kind and self.original.get("retry") == {}):
            out["retry"] = retry  # retry = {} written stays written
        # A default written out (when_unknown = "run", at_login = false) stays written.
        for key in (*self.trigger.KEYS, *CONDITION_KEYS):
            if key in self.original and key not in out and self.original[key] == _default(key):
                out[key] = self.original[key]
        # Keys the form has no field for (tags, host, ping, stale_after, alerts, deliver, the
        # hooks on_failure and always) stay as the job has them: saving dropped them. Of
        # another kind's job, only those every job has: its own would be unknown keys here.
        shown = {"kind", "description", "enabled", *self.trigger.KEYS, *CONDITION_KEYS,
                 *(key.split(".")[0] for key in self.rows)}
        for key, value in self.original.items():
            if key not in shown and (same_kind or key in JobCommon.model_fields):
                out[key] = value
        if strict and problems:
            raise _FieldProblems(problems)
        return self._ordered(out)

    def _written(self, key: str) -> Any:
        """The job's own value of a field's key (``retry.attempts`` is in ``retry``)."""
        top, _, sub = key.partition(".")
        value = self.original.get(top, _UNSET)
        if sub:
            value = value.get(sub, _UNSET) if isinstance(value, dict) else _UNSET
        return value

    def _ordered(self, out: dict[str, Any]) -> dict[str, Any]:
        # Keys the job already had keep their place in the file; new ones follow a readable
        # order: what, when, options.
        order = ["kind", "description", "enabled", "every", "cron", "missed", "at_login",
                 "watch", "when", "when_unknown", "max_wait", "inhibit_sleep",
                 *getattr(self, "param_keys", []), "retry", "timeout", "priority",
                 "overlap", "notify", "then", "params"]
        return {k: out[k] for k in sorted(out, key=lambda k: order.index(k) if k in order else 99)}

    def job_name(self) -> str:
        """The name as the field shows it: what is saved (spaces are trimmed in the field)."""
        return self.name.text()

    def _trim_name(self) -> None:
        self._name_typing = False
        text = self.name.text()
        if text != text.strip():
            self.name.setText(text.strip())  # checked again, as any change is

    def _name_to_check(self) -> str:
        name = self.job_name()
        if self._name_typing and name == name.rstrip() + " ":
            return name.rstrip()  # one space at the end while typing: the gap before a word
        return name

    def _name_problem(self, name: str) -> str:
        if not name.strip():
            return "Give the job a name."
        if name != name.strip():
            return (f"A job name cannot begin or end with a space: write “{name.strip()}” "
                    f"(leaving the field trims it).")
        if name in self.other_jobs:
            return f"There is already a job called “{name}”."
        return ""

    # -- checking -----------------------------------------------------------------------

    def _changed(self, *_a) -> None:
        self._check_timer.start()

    @property
    def checking(self) -> bool:
        """A check of the form as it is now is due or under way: its answer is not shown yet."""
        return self._check_timer.isActive() or self._shown < self._asked

    def check(self, then: Callable[[bool], None] | None = None) -> None:
        """Check the form; each problem is shown under its field when the answer comes.

        The form's own fields are read here; the job's check (the config rules, and the
        kind's own look at its folders, files, databases) runs off the GUI thread. Only the
        answer to the latest check is shown: one asked before the last change is dropped.
        ``then`` is called with the answer (True: the job can be saved) once it is shown."""
        self._check_timer.stop()
        self._asked += 1
        self._then = then
        asked = self._read_form()
        if asked is None:
            self._waiting = None
            self._shown = self._asked
            return
        name, values = asked
        self._waiting = (self._asked, name, values)
        self._ask()

    def _read_form(self) -> tuple[str, dict[str, Any]] | None:
        """Show what the form itself can tell (no name, a value that cannot be read); the
        name and values to check, or None when there is nothing more to ask.

        The messages of the last answer stay until the next one comes: cleared here, they
        blinked at every pause in typing, the time a check takes."""
        # The schedule's own error stays: the checks below stop at a missing name.
        self.trigger.update_next()
        name = self._name_to_check()
        name_error = self._name_problem(name)
        self.name_error.setText(name_error)
        hint = not name and not self._name_touched
        colour = muted_colour() if hint else state_colour("failed")
        self.name_error.setStyleSheet(f"color: {colour.name()}")
        try:
            values = self.values()
        except _FieldProblems as exc:
            self._clear_errors()
            for key, msg in exc.items:
                if key == "when":
                    self.conditions.set_error(msg)
                else:
                    self.rows[key].set_error(msg)
            self._finish(False, [])
            return None
        if name_error:
            self._clear_errors()
            self._finish(False, [])
            return None
        return name, values

    def _clear_errors(self) -> None:
        for row in self.rows.values():
            row.set_error(None)
        self.trigger.set_error("watch", None)
        self.conditions.set_error(None)

    def _ask(self) -> None:
        """Start the waiting check, unless one under way is not overdue yet: then it starts
        when that one answers or becomes overdue. A folder on a mount that does not answer
        may hold a check for ever; the newest form is checked anyway, and the checks after
        it do not wait behind the one that hangs."""
        if self._waiting is None or not all(self._out.values()):
            return
        asked, name, values = self._waiting
        self._waiting = None
        self._out[asked] = False
        self._patience.start()
        text, old = self.config_text, self.old_name
        self.app.service.call_slow(lambda: check_job(text, name, values, old_name=old),
                                   lambda r: self._answered(asked, r),
                                   lambda e: self._answered(asked, e))

    def _impatient(self) -> None:
        self._out = dict.fromkeys(self._out, True)
        if self._shown < self._asked:
            self.errors.setText("Still checking… (a folder, file or database this job names "
                                "is slow to answer)")
        self._ask()

    def _answered(self, asked: int, result: Checked | Exception) -> None:
        if self._gone():
            return  # so is any interest in the answer
        self._out.pop(asked, None)
        if not self._out:
            self._patience.stop()
        if asked == self._asked:
            self._shown = asked
            self._clear_errors()
            if isinstance(result, Exception):
                self._finish(False, [f"The job could not be checked: {result}"])
            else:
                self._show_check(result)
        self._ask()

    def _show_check(self, checked: Checked) -> None:
        general: list[str] = []
        if checked.refused:
            self._finish(False, [checked.refused])
            return
        self.cfg = checked.cfg
        for key, message in checked.errors:
            top = key.split(".")[0]
            if top in ("every", "cron", "missed", "at_login"):
                self.trigger.set_error("schedule", message)
            elif top == "watch":
                self.trigger.set_error("watch", f"{key}: {message}")
            elif top in ("when", "when_unknown", "max_wait", "inhibit_sleep"):
                self.conditions.set_error(f"{key}: {plain_error(message)}")
            elif top == "retry" and key in self.rows:
                self.rows[key].set_error(message, add=True)
            elif top in self.rows:
                detail = where_in(top, key[len(top) + 1:], message) if key != top else ""
                self.rows[top].set_error(message, where=detail, add=True)
            else:
                message = plain_error(message)
                general.append(f"{key}: {message}" if key else message)
        for key, message in checked.problems:
            top = (key or "").split(".")[0]
            if top in self.rows:
                self.rows[top].set_error(message, add=True)
            else:
                general.append(plain_error(message))
        for key, message in checked.cautions:
            top = (key or "").split(".")[0]
            if top in self.rows:
                self.rows[top].set_caution(
                    message, where=where_in(top, key[len(top) + 1:], message))
        self._finish(checked.ok, general)

    def _finish(self, ok: bool, general: list[str]) -> None:
        self.valid = ok
        if self.more_toggle is not None and any(
                getattr(r, "in_more", False) and r.editor.error_text for r in self.rows.values()):
            self.more_toggle.setChecked(True)  # a problem among "More options": show them
        self.errors.setText("\n".join(general))
        self.save_btn.setEnabled(ok)
        self._show_preview_button()
        then, self._then = self._then, None
        if then is not None:
            then(ok)

    # -- save -----------------------------------------------------------------------------

    def save(self) -> None:
        """Check the form as it is now, and save it if it can be."""
        self._name_typing = False
        if self.name.text() != self.name.text().strip():
            self.name.setText(self.name.text().strip())  # seen before it is saved
        self.check(then=lambda ok: ok and self._save_checked())

    def _save_checked(self) -> None:
        self.save_btn.setEnabled(False)
        name = self.job_name()
        self.app.save_job(name, self.values(), old_name=self.old_name,
                          opened_with=self.original if self.old_name is not None else None,
                          on_saved=lambda _r: self._saved(name), on_error=self._save_failed)

    def _saved(self, name: str) -> None:
        self.saved.emit(name)
        self.accept()

    def _save_failed(self, exc: Exception) -> None:
        errors = getattr(exc, "errors", None)
        self.errors.setText("Not saved: " + ("\n".join(e.describe() for e in errors)
                                             if errors else str(exc)))
        self.errors.show()
        self.save_btn.setEnabled(True)

    def _as_is(self) -> tuple:
        return self.job_name(), self.values(strict=False)

    def changed_since_opened(self) -> bool:
        return self._as_is() != self.first_look

    def may_leave(self) -> bool:
        """True when the form may close: unchanged, or the person chose to discard."""
        if not self.changed_since_opened():
            return True
        box = QMessageBox(QMessageBox.Icon.Question, "Discard changes? – trayjobs",
                          f"Discard your changes to {self.job_name() or 'this new job'}?",
                          parent=self)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep editing", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.exec()
        return box.clickedButton() is discard

    def cancel(self) -> None:
        if self.may_leave():
            self.reject()

    # Escape, Cancel and the window's close button ask before a changed form is thrown
    # away; closing it from code (the app quitting) does not.
    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and not event.modifiers():
            event.accept()
            self.cancel()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if event.spontaneous() and not self.may_leave():
            event.ignore()
            return
        super().closeEvent(event)

    def _gone(self) -> bool:
        """The editor was closed (or deleted) while something it asked for was under way."""
        return self._closed or not shiboken6.isValid(self)

    def done(self, result: int) -> None:
        self._closed = True
        self.preview_runner.stop()
        super().done(result)


_UNSET = object()


def _read(editor: FieldEditor) -> Any:
    try:
        return editor.value()
    except ValueError:
        return _UNSET


def _default(key: str) -> Any:
    """The value a key every job has takes when it is not written (a table's: {})."""
    value = JobCommon.model_fields[key].get_default(call_default_factory=True)
    return value.model_dump(exclude_defaults=True) if hasattr(value, "model_dump") else value


def _one_as_written(editor: FieldEditor, value: Any, written: Any) -> bool:
    """True when a list field holds the one item the file wrote without brackets (a list of
    names, where text is read as a list of one; a command's text and list differ)."""
    listed = isinstance(editor, ThenEditor) or getattr(
        getattr(editor, "spec", None), "kind", None) == "list"
    return listed and isinstance(written, str) and value == [written]


class _FieldProblems(ValueError):
    def __init__(self, items: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(m for _k, m in items))
        self.items = items
