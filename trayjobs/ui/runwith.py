""""Run with…": one run of a job with some of its parameters set otherwise, now or later.

The dialog offers the job's declared ``params`` (typed like their values in the
config file) and the keys its kind lets a run set (a report's ``period``),
each showing the job's own value. Only what the person changes is sent; the
engine checks it as ``trayjobs run JOB --param KEY=VALUE`` does, and a refusal
is shown in the dialog, which stays open to be corrected. "When" makes it a
one-off run at a time or after a while (``trayjobs run JOB --at/--in``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QVBoxLayout, QWidget)

from ..schedule import one_off_time
from ..textfmt import when
from .editor.fields import FieldEditor, FieldSpec, describe_fields, make_editor, plain_error
from .theme import muted_colour, state_colour

__all__ = ["RunWithDialog", "param_specs", "submit_checked"]

_SCALAR_FIELD = {bool: "bool", int: "int", float: "float", str: "text"}


def param_specs(job) -> list[FieldSpec]:
    """What a run of ``job`` may set, each with the job's own value as its default
    (service thread: reads the job's config and its kind)."""
    from ..kinds.registry import get_kind
    kind = get_kind(job.kind)
    own = {s.key: s for s in describe_fields(kind.Params) if s.key in kind.run_params}
    specs = []
    for key in job.param_keys():
        if key in own:
            value = job.params_json().get(key, own[key].default)
            specs.append(replace(own[key], default=value, required=False))
            continue
        value = job.common.params[key]
        specs.append(FieldSpec(key=key, label=key.replace("_", " ").capitalize(),
                               help=f"The job's own value: {_shown(value)}",
                               kind=_SCALAR_FIELD.get(type(value), "toml"), default=value))
    return specs


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"“{value}”" if isinstance(value, str) else str(value)


def submit_checked(eng, job_name: str, labels: dict[str, str], **kwargs: Any) -> int:
    """Submit with each parameter checked on its own first, so that a refusal names the
    field it is about (service thread)."""
    from ..errors import UserError
    job = eng.config.job(job_name)
    for key, value in (kwargs.get("params") or {}).items():
        try:
            job.run_params({key: value})
        except UserError as exc:
            # The field names the parameter already.
            text = str(exc).removeprefix(f"job {job_name!r}: ").removeprefix(
                f"parameter {key!r}: ")
            raise UserError(f"{labels.get(key, key)}: {plain_error(text)}") from None
    return eng.submit(job_name, **kwargs)


class RunWithDialog(QDialog):
    """Set parameters for one run of ``job`` and start it."""

    def __init__(self, app, job: str, specs: list[FieldSpec], parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.app = app
        self.job = job
        self.run_id: int | None = None
        self.setObjectName("runWith")
        self.setWindowTitle(f"Run {job} with… – trayjobs")
        intro = QLabel(f"Run <b>{_esc(job)}</b> once with these values. The job itself "
                       "keeps its own; this run's values are shown in its details.")
        intro.setWordWrap(True)
        intro.setMinimumWidth(440)  # wrapped at the dialog's width, not at a narrow guess
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.editors: dict[str, FieldEditor] = {}
        for spec in specs:
            editor = make_editor(spec)
            editor.setObjectName(f"param:{spec.key}")
            editor.set_value(False, spec.default)
            self.editors[spec.key] = editor
            label = QLabel(f"{spec.label}:")
            label.setBuddy(editor)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            help_text = QLabel(spec.help)
            help_text.setWordWrap(True)
            pal = help_text.palette()
            pal.setColor(help_text.foregroundRole(), muted_colour())
            help_text.setPalette(pal)
            cell = QVBoxLayout()
            cell.setSpacing(2)
            cell.addWidget(editor)
            cell.addWidget(help_text)
            form.addRow(label, cell)
        if not specs:
            form.addRow(QLabel("This job has no parameters (declare them in its config with "
                               "params = { name = value })."))
        # when: now, or once later (a one-off run, kept across restarts)
        self.when = QComboBox()
        self.when.setObjectName("when")
        self.when.setAccessibleName("When")
        self.when.addItems(["Now", "At a time", "After a while"])
        self.when_text = QLineEdit()
        self.when_text.setObjectName("whenText")
        self.when_text.setAccessibleName("Time or duration")
        self.when_text.setEnabled(False)
        self.when.currentIndexChanged.connect(self._when_changed)
        when_row = QHBoxLayout()
        when_row.addWidget(self.when)
        when_row.addWidget(self.when_text, 1)
        when_label = QLabel("&When:")
        when_label.setBuddy(self.when)
        form.addRow(when_label, when_row)
        self.error = QLabel()
        self.error.setObjectName("runWithError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {state_colour('failed').name()}")
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.run_btn = self.buttons.addButton("&Run", QDialogButtonBox.ButtonRole.AcceptRole)
        self.run_btn.setAccessibleName("Run")
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addSpacing(8)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addSpacing(8)
        lay.addWidget(self.buttons)
        # Made default only now that it is inside the dialog: set before, the dialog ignores
        # it and makes Cancel (first in the focus chain) the default, so Enter in a field
        # would drop the run.
        self.run_btn.setDefault(True)
        if self.editors:
            next(iter(self.editors.values())).setFocus()
        self.resize(max(self.sizeHint().width(), 480), self.sizeHint().height())

    def overrides(self) -> dict[str, Any]:
        """The values changed from the job's own (ValueError naming the field if one
        cannot be read)."""
        out = {}
        for key, editor in self.editors.items():
            try:
                present, value = editor.value()
            except ValueError as exc:
                raise ValueError(f"{editor.spec.label}: {exc}") from None
            if present and value != editor.spec.default:
                out[key] = value
        return out

    def _when_changed(self, index: int) -> None:
        self.when_text.setEnabled(index > 0)
        self.when_text.setPlaceholderText(["", "18:00, or 2026-12-24 18:00", "2h, 30m, 1h30m"][index])
        self.run_btn.setText("&Run" if index == 0 else "&Schedule")
        if index:
            self.when_text.setFocus()

    def due_at(self) -> float | None:
        """The time a one-off run should start, or ``None`` for now (ValueError in words)."""
        index, text = self.when.currentIndex(), self.when_text.text().strip()
        if index == 0:
            return None
        if not text:
            raise ValueError("When: write " + ("a time, such as 18:00" if index == 1
                                                else "how long to wait, such as 2h"))
        try:
            due = one_off_time(at=text) if index == 1 else one_off_time(within=text)
        except ValueError as exc:
            # The command line's words name its option and the value ("--at 25:99: ...");
            # the value has colons of its own, so the prefix is cut whole.
            flag = "--at" if index == 1 else "--in"
            raise ValueError("When: " + str(exc).removeprefix(f"{flag} {text}: ")) from None
        return due.timestamp()

    def submit_arguments(self) -> dict[str, Any]:
        """Keywords for :meth:`~trayjobs.engine.control.Control.submit`."""
        return {"trigger": "manual", "params": self.overrides(), "due_at": self.due_at()}

    def start(self) -> None:
        try:
            kwargs = self.submit_arguments()
        except ValueError as exc:
            self._refused(exc)
            return
        eng = self.app.engine
        if eng is None:
            self._refused(ValueError("trayjobs is still starting; try again in a moment"))
            return
        self.run_btn.setEnabled(False)
        name = self.job
        labels = {k: e.spec.label for k, e in self.editors.items()}
        self.app.service.call(lambda: submit_checked(eng, name, labels, **kwargs),
                              self._started, self._refused)

    def _started(self, run_id: int) -> None:
        self.run_id = run_id
        changed = ", ".join(f"{k} = {_shown(v)}" for k, v in self.overrides().items())
        try:
            due = self.due_at()
        except ValueError:
            due = None
        # "for 18:00" today, "for Thu 10:00" this week, the date beyond
        at = "" if due is None else f" for {when(due)}"
        self.app.status(f"{'Started' if due is None else 'Scheduled'} run {run_id} of {self.job}"
                        f"{at}" + (f" with {changed}" if changed else ""))
        self.accept()

    def _refused(self, exc: Exception) -> None:
        self.error.setText(plain_error(str(exc).removeprefix(f"job {self.job!r}: ")))
        self.error.show()
        # Grow to hold the message rather than squash the fields above it.
        self.resize(self.width(), max(self.height(), self.sizeHint().height()))
        self.run_btn.setEnabled(True)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
