"""Field editors for structured values of a kind's ``Params``: a table of names to
texts (``dict[str, str]``, e.g. environment variables) and a nested model, shown
as a group of the model's own fields. :func:`~.fields.make_editor` picks them, so
any kind gets them without naming them."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from .fields import FieldEditor, FieldSpec

__all__ = ["KeyValueEditor", "ModelEditor"]


class KeyValueEditor(FieldEditor):
    """Names and values, one row each; empty rows are left out."""

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec.key, parent)
        self.spec = spec
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Name", "Value"])
        self.table.setAccessibleName(spec.label)
        self.table.setToolTip(spec.help)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setMaximumHeight(130)
        self.table.itemChanged.connect(lambda _i: self.changed.emit())
        add = QPushButton("Add")
        add.setAccessibleName(f"Add to {spec.label.lower()}")
        add.clicked.connect(self._add)
        remove = QPushButton("Remove")
        remove.setAccessibleName(f"Remove from {spec.label.lower()}")
        remove.clicked.connect(self._remove)
        buttons = QVBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        self.setFocusProxy(self.table)

    def add_row(self, name: str = "", value: str = "") -> None:
        self.table.blockSignals(True)
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(name))
        self.table.setItem(row, 1, QTableWidgetItem(value))
        self.table.blockSignals(False)

    def _add(self) -> None:
        self.add_row()
        self.table.setCurrentCell(self.table.rowCount() - 1, 0)
        self.table.editItem(self.table.item(self.table.rowCount() - 1, 0))

    def _remove(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for r in rows:
            self.table.removeRow(r)
        if rows:
            self.changed.emit()

    def value(self) -> tuple[bool, Any]:
        out: dict[str, str] = {}
        for r in range(self.table.rowCount()):
            name = (self.table.item(r, 0).text() if self.table.item(r, 0) else "").strip()
            value = self.table.item(r, 1).text() if self.table.item(r, 1) else ""
            if not name and not value:
                continue
            if not name:
                raise ValueError(f"the value {value!r} in row {r + 1} has no name")
            if name in out:
                raise ValueError(f"{name!r} is given twice")
            out[name] = value
        if not out and not self.present:
            return False, {}
        return True, out

    def set_value(self, present: bool, value: Any) -> None:
        self.present = present
        self.table.setRowCount(0)
        for k, v in (value or {}).items() if isinstance(value, dict) else ():
            self.add_row(str(k), str(v))


class ModelEditor(FieldEditor):
    """A nested model's fields in a group box; only the fields that are set are kept."""

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        from .fields import describe_fields, make_editor
        super().__init__(spec.key, parent)
        self.spec = spec
        box = QGroupBox()
        box.setAccessibleName(spec.label)
        box.setToolTip(spec.help)
        form = QFormLayout(box)
        self.editors: dict[str, FieldEditor] = {}
        for sub in describe_fields(spec.model):
            editor = make_editor(sub)
            editor.setObjectName(f"param:{spec.key}.{sub.key}")
            editor.changed.connect(self.changed)
            self.editors[sub.key] = editor
            label = QLabel(f"{sub.label}:")
            label.setBuddy(editor)
            label.setToolTip(sub.help)
            form.addRow(label, editor)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(box)

    def value(self) -> tuple[bool, Any]:
        out: dict[str, Any] = {}
        problems = []
        for key, editor in self.editors.items():
            try:
                present, v = editor.value()
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
                continue
            if present:
                out[key] = v
        if problems:
            raise ValueError("; ".join(problems))
        return bool(out) or self.present, out

    def set_value(self, present: bool, value: Any) -> None:
        self.present = present
        value = value if isinstance(value, dict) else {}
        for key, editor in self.editors.items():
            sub = editor.spec
            # Absent from the job: the model's defaults show, and none of them is written.
            editor.set_value(present and key in value, value.get(key, sub.default))
            if sub.required:
                editor.present = True
