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

__all__ = ["KeyValueEditor", "ModelEditor", "as_text"]


def as_text(value: Any) -> str:
    """A table entry's value as its row shows it: text as it is, anything else spelt as in
    the file (``true``, not Python's ``True``)."""
    from ...config_edit import toml_value
    return value if isinstance(value, str) else toml_value(value).as_string()


class KeyValueEditor(FieldEditor):
    """Names and values, one row each; empty rows are left out.

    Subclasses add columns (``HEADERS``), buttons (:meth:`more_buttons`) and say what a
    row's value is (:meth:`row_value`); adding, removing and checking rows stay here."""

    NAME, VALUE = 0, 1
    HEADERS: tuple[str, ...] = ("Name", "Value")
    MAX_HEIGHT = 130

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec.key, parent)
        self.spec = spec
        self.table = QTableWidget(0, len(self.HEADERS))
        self.table.setHorizontalHeaderLabels(list(self.HEADERS))
        self.table.setAccessibleName(spec.label)
        self.table.setToolTip(spec.help)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setMaximumHeight(self.MAX_HEIGHT)
        self.table.itemChanged.connect(self._item_changed)
        add = QPushButton("Add")
        add.setAccessibleName(f"Add to {spec.label.lower()}")
        add.clicked.connect(self._add)
        remove = QPushButton("Remove")
        remove.setAccessibleName(f"Remove from {spec.label.lower()}")
        remove.clicked.connect(self._remove)
        buttons = QVBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        self.more_buttons(buttons)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.table, 1)
        row.addLayout(buttons)
        self.box = QVBoxLayout(self)
        self.box.setContentsMargins(0, 0, 0, 0)
        self.box.addLayout(row)
        self.setFocusProxy(self.table)

    def more_buttons(self, buttons: QVBoxLayout) -> None:
        """Room for a subclass's own buttons, below Add and Remove."""

    def _item_changed(self, _item: QTableWidgetItem) -> None:
        self.changed.emit()

    def add_row(self, name: str = "", value: str = "") -> None:
        self.table.blockSignals(True)
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, self.NAME, QTableWidgetItem(name))
        self.table.setItem(row, self.VALUE, QTableWidgetItem(value))
        self.table.blockSignals(False)

    def _add(self) -> None:
        self.add_row()
        self.table.setCurrentCell(self.table.rowCount() - 1, self.NAME)
        self.table.editItem(self.table.item(self.table.rowCount() - 1, self.NAME))

    def _remove(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for r in rows:
            self.table.removeRow(r)
        if rows:
            self.changed.emit()

    def cell_text(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""

    def row_value(self, row: int) -> Any:
        """The row's value for the config; ``None`` for one that is not complete yet."""
        return self.cell_text(row, self.VALUE)

    def incomplete(self, name: str) -> str:
        """What to do about a row whose :meth:`row_value` is ``None``."""
        return f"{name}: give it a value"

    def value(self) -> tuple[bool, Any]:
        out: dict[str, Any] = {}
        for r in range(self.table.rowCount()):
            name = self.cell_text(r, self.NAME).strip()
            value = self.row_value(r)
            if not name and not value:
                continue
            if not name:
                shown = f"the value {value!r}" if isinstance(value, str) else "the value"
                raise ValueError(f"{shown} in row {r + 1} has no name")
            if name in out:
                raise ValueError(f"{name!r} is given twice")
            if value is None:
                raise ValueError(self.incomplete(name))
            out[name] = value
        if not out and not self.present:
            return False, {}
        return True, out

    def set_value(self, present: bool, value: Any) -> None:
        self.present = present
        self.table.setRowCount(0)
        for k, v in (value or {}).items() if isinstance(value, dict) else ():
            self.set_row(str(k), v)

    def set_row(self, name: str, value: Any) -> None:
        """One entry of the config's table as a row."""
        self.add_row(name, as_text(value))


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
        for sub in describe_fields(spec.model, within=spec.within):
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
