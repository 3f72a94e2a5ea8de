"""Hand-made editors for the settings a generic field cannot show well: a cleanup's
folders, rules and action, and a report's sections."""

from __future__ import annotations

import tomllib
from typing import Any

import tomlkit
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QPlainTextEdit,
                               QPushButton, QToolButton, QVBoxLayout, QWidget)

from ...config_edit import text_item
from .fields import FieldEditor, browse_from, plain_help

__all__ = ["FolderListEditor", "FilterListEditor", "ActionEditor", "SectionsEditor", "ThenEditor",
           "FILTER_HINTS", "ACTION_CHOICES"]


class FolderListEditor(FieldEditor):
    """Folders to tidy; each may include its sub-folders. Extra options a location has in
    the file (depth, exclusions) are kept as they are."""

    def __init__(self, key: str = "locations", parent=None) -> None:
        super().__init__(key, parent)
        self.list = QListWidget()
        self.list.setAccessibleName("Folders")
        self.list.setMaximumHeight(110)
        self.list.itemChanged.connect(lambda _i: self.changed.emit())
        add = QPushButton("Add folder…")
        add.setAccessibleName("Add folder")
        add.clicked.connect(self._add)
        remove = QPushButton("Remove")
        remove.setAccessibleName("Remove folder")
        remove.clicked.connect(self._remove)
        buttons = QVBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        note = QLabel("Tick a folder to include the folders inside it.")
        note.setWordWrap(True)
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.list, 0, 0)
        lay.addLayout(buttons, 0, 1)
        lay.addWidget(note, 1, 0, 1, 2)
        self.setFocusProxy(self.list)

    def add_folder(self, path: str, extra: dict[str, Any] | None = None) -> None:
        extra = dict(extra or {})
        item = QListWidgetItem(path + ("  (+ options)" if set(extra) - {"recursive"} else ""))
        item.setData(Qt.ItemDataRole.UserRole, (path, extra))
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if extra.get("recursive") else
                           Qt.CheckState.Unchecked)
        item.setToolTip("Checked: also look into the folders inside it")
        self.list.addItem(item)

    def _add(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder to tidy", browse_from())
        if path:
            self.add_folder(path)
            self.changed.emit()

    def _remove(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self.changed.emit()

    def value(self) -> tuple[bool, Any]:
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            path, extra = item.data(Qt.ItemDataRole.UserRole)
            extra = {k: v for k, v in extra.items() if k != "recursive"}
            if item.checkState() == Qt.CheckState.Checked:
                extra["recursive"] = True
            out.append({"path": path, **extra} if extra else path)
        return True, out

    def set_value(self, present: bool, value: Any) -> None:
        self.present = present
        self.list.blockSignals(True)
        self.list.clear()
        for loc in _one_or_many(value):
            if isinstance(loc, str):
                self.add_folder(loc)
            elif isinstance(loc, dict) and "path" in loc:
                self.add_folder(loc["path"], {k: v for k, v in loc.items() if k != "path"})
        self.list.blockSignals(False)


def _one_or_many(value: Any) -> list[Any]:
    """A list's items; one item written without the brackets (a folder's path, a rule's
    table) is that one item, not its letters or its keys."""
    return [value] if isinstance(value, (str, dict)) else list(value or [])


#: filter key -> (label, placeholder, kind of value)
FILTER_HINTS = {
    "age": ("Age", "older than 30d", "text"),
    "size": ("Size", ">100 MB", "text"),
    "extension": ("Extension", "zip, dmg, iso", "list"),
    "name": ("Name", "*.tmp, Screenshot *", "list"),
    "regex": ("Name pattern (regex)", r"^IMG_\d+", "text"),
    "empty": ("Is empty", "", "bool"),
}


class _FilterRow(QWidget):
    def __init__(self, owner: "FilterListEditor", spec: dict[str, Any]) -> None:
        super().__init__()
        self.owner = owner
        self.kind = QComboBox()
        self.kind.setAccessibleName("Rule")
        for key, (label, _ph, _k) in FILTER_HINTS.items():
            self.kind.addItem(label, key)
        self.text = QLineEdit()
        self.text.setAccessibleName("Rule value")
        self.flag = QCheckBox("empty")
        self.flag.setAccessibleName("Empty")
        self.negate = QCheckBox("not")
        self.negate.setAccessibleName("Negate rule")
        self.negate.setToolTip("Match what this rule does not match")
        remove = QToolButton()
        remove.setText("✕")
        remove.setAccessibleName("Remove rule")
        remove.clicked.connect(lambda: owner.remove_row(self))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.kind, self.text, self.flag, self.negate, remove):
            lay.addWidget(w)
        lay.setStretch(1, 1)
        self.extra: dict[str, Any] = {}
        self.load(spec)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        for sig in (self.text.textChanged, self.flag.toggled, self.negate.toggled):
            sig.connect(lambda *_: owner.changed.emit())

    def load(self, spec: dict[str, Any]) -> None:
        key = next((k for k in spec if k in FILTER_HINTS), "age")
        self.kind.setCurrentIndex(max(0, self.kind.findData(key)))
        value = spec.get(key)
        if FILTER_HINTS[key][2] == "list" and isinstance(value, list):
            self.text.setText(", ".join(map(str, value)))
        elif FILTER_HINTS[key][2] == "bool":
            self.flag.setChecked(bool(value) if value is not None else True)
        else:
            self.text.setText("" if value is None else str(value))
        self.negate.setChecked(bool(spec.get("not")))
        self.extra = {k: v for k, v in spec.items() if k != key and k != "not"}
        self._show()

    def _kind_changed(self) -> None:
        self.text.clear()
        self.extra = {}  # options of another rule do not carry over
        self._show()
        self.owner.changed.emit()

    def _show(self) -> None:
        key = self.kind.currentData()
        _label, placeholder, kind = FILTER_HINTS[key]
        self.text.setVisible(kind != "bool")
        self.flag.setVisible(kind == "bool")
        self.text.setPlaceholderText(placeholder)
        self.text.setToolTip(self.owner.hints.get(key, ""))

    def spec(self) -> dict[str, Any]:
        key = self.kind.currentData()
        kind = FILTER_HINTS[key][2]
        if kind == "bool":
            value: Any = self.flag.isChecked()
        elif kind == "list":
            parts = [p.strip() for p in self.text.text().split(",") if p.strip()]
            value = parts[0] if len(parts) == 1 else parts
        else:
            value = self.text.text().strip()
        out = {key: value, **self.extra}
        if self.negate.isChecked():
            out["not"] = True
        return out


class FilterListEditor(FieldEditor):
    """The rules an item must pass, one row each (kind, value, "not")."""

    def __init__(self, key: str = "filters", parent=None) -> None:
        super().__init__(key, parent)
        from ...kinds.cleanup.filters import FILTERS
        self.hints = {k: " ".join(plain_help(f.description) for n, f in cls.model_fields.items()
                                  if (f.alias or n) == k) for k, cls in FILTERS.items()}
        self.rows: list[_FilterRow] = []
        self.box = QVBoxLayout()
        self.box.setContentsMargins(0, 0, 0, 0)
        add = QPushButton("Add rule")
        add.setAccessibleName("Add rule")
        add.clicked.connect(lambda: (self.add_row({"age": ""}), self.changed.emit()))
        self.empty_note = QLabel("No rules: every item in the folders matches.")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self.box)
        lay.addWidget(self.empty_note)
        lay.addWidget(add, 0, Qt.AlignmentFlag.AlignLeft)

    def add_row(self, spec: dict[str, Any]) -> _FilterRow:
        row = _FilterRow(self, spec)
        self.rows.append(row)
        self.box.addWidget(row)
        self.empty_note.setVisible(False)
        return row

    def remove_row(self, row: _FilterRow) -> None:
        self.rows.remove(row)
        row.setParent(None)
        row.deleteLater()
        self.empty_note.setVisible(not self.rows)
        self.changed.emit()

    def value(self) -> tuple[bool, Any]:
        return True, [r.spec() for r in self.rows]

    def set_value(self, present: bool, value: Any) -> None:
        self.present = present
        for r in list(self.rows):
            r.setParent(None)
            r.deleteLater()
        self.rows.clear()
        for spec in _one_or_many(value):
            if isinstance(spec, dict):
                self.add_row(spec)
        self.empty_note.setVisible(not self.rows)


#: action key -> (label, what the target is, picker)
ACTION_CHOICES = {
    "trash": ("Move to the trash", "", ""),
    "move": ("Move into folder", "~/Archive/{year}", "folder"),
    "copy": ("Copy into folder", "~/Backup/{year}", "folder"),
    "rename": ("Rename to", "{date} {name}", ""),
    "archive": ("Add to a zip archive", "~/Archive/old-{today}.zip", "save"),
    "delete": ("Delete permanently", "", ""),
}


class ActionEditor(FieldEditor):
    def __init__(self, key: str = "action", parent=None) -> None:
        super().__init__(key, parent)
        self.combo = QComboBox()
        self.combo.setAccessibleName("Action")
        for k, (label, _t, _p) in ACTION_CHOICES.items():
            self.combo.addItem(label, k)
        self.target = QLineEdit()
        self.target.setAccessibleName("Action target")
        self.browse = QPushButton("Browse…")
        self.browse.setAccessibleName("Choose action target")
        self.browse.clicked.connect(self._browse)
        self.originals = QComboBox()
        self.originals.setAccessibleName("Originals after archiving")
        self.originals.addItem("then trash the originals", "trash")
        self.originals.addItem("and keep the originals", "keep")
        self.warning = QLabel("Deleted items cannot be restored, not even by Undo.")
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.combo, 0, 0)
        lay.addWidget(self.target, 0, 1)
        lay.addWidget(self.browse, 0, 2)
        lay.addWidget(self.originals, 1, 1)
        lay.addWidget(self.warning, 1, 0, 1, 3)
        lay.setColumnStretch(1, 1)
        self.extra: dict[str, Any] = {}
        self.combo.currentIndexChanged.connect(self._kind_changed)
        self.target.textChanged.connect(lambda _t: self.changed.emit())
        self.originals.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.setFocusProxy(self.combo)
        self._show()

    def _kind_changed(self) -> None:
        self.extra = {}
        self._show()
        self.changed.emit()

    def _show(self) -> None:
        key = self.combo.currentData()
        _label, placeholder, picker = ACTION_CHOICES[key]
        self.target.setVisible(bool(placeholder))
        self.target.setPlaceholderText(placeholder)
        self.browse.setVisible(bool(picker))
        self.originals.setVisible(key == "archive")
        self.warning.setVisible(key == "delete")

    def _browse(self) -> None:
        picker = ACTION_CHOICES[self.combo.currentData()][2]
        if picker == "folder":
            path = QFileDialog.getExistingDirectory(self, "Destination folder",
                                                    browse_from(self.target.text()))
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Archive file",
                                                  browse_from(self.target.text()),
                                                  filter="Zip (*.zip)")
        if path:
            self.target.setText(path)

    def value(self) -> tuple[bool, Any]:
        key = self.combo.currentData()
        if key in ("trash", "delete") and not self.extra:
            present = self.present or key != "trash"
            return present, key
        out: dict[str, Any] = {key: self.target.text().strip() if ACTION_CHOICES[key][1] else True}
        if key == "archive" and (self.originals.currentData() != "trash" or "originals" in self.extra):
            out["originals"] = self.originals.currentData()
        out.update({k: v for k, v in self.extra.items() if k != "originals"})
        return True, out

    def set_value(self, present: bool, value: Any) -> None:
        self.present = present
        value = value if present else "trash"
        self.combo.blockSignals(True)
        self.target.blockSignals(True)
        if isinstance(value, str):
            key, target, extra = value, "", {}
        else:
            key = next((k for k in (value or {}) if k in ACTION_CHOICES), "trash")
            target = value.get(key) if isinstance(value.get(key), str) else ""
            extra = {k: v for k, v in value.items() if k != key}
        self.combo.setCurrentIndex(max(0, self.combo.findData(key)))
        self.target.setText(target)
        self.originals.setCurrentIndex(max(0, self.originals.findData(extra.get("originals", "trash"))))
        self.extra = extra
        self.combo.blockSignals(False)
        self.target.blockSignals(False)
        self._show()


_SECTIONS_EXAMPLE = '''[[sections]]
title = "Rows per month"
query = """
SELECT strftime('%Y-%m', date) AS month, count(*) AS rows
FROM my_table WHERE date BETWEEN :start AND :end GROUP BY month
"""
show = "bar"
'''


class SectionsEditor(FieldEditor):
    """A report's sections as TOML ``[[sections]]`` tables: a title and a query each."""

    def __init__(self, key: str = "sections", parent=None) -> None:
        super().__init__(key, parent)
        self.text = QPlainTextEdit()
        self.text.setAccessibleName("Sections")
        self.text.setPlaceholderText(_SECTIONS_EXAMPLE)
        from PySide6.QtGui import QFontDatabase
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setMinimumHeight(140)
        self.text.textChanged.connect(self.changed)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.text)
        self.setFocusProxy(self.text)

    def value(self) -> tuple[bool, Any]:
        text = self.text.toPlainText().strip()
        if not text:
            return self.present, []
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"not valid TOML: {exc}") from None
        sections = data.get("sections")
        if not isinstance(sections, list) or set(data) - {"sections"}:
            raise ValueError("write each section as a [[sections]] table with a title and a query")
        return True, sections

    def set_value(self, present: bool, value: Any) -> None:
        self.present = present
        self.text.blockSignals(True)
        if value:
            doc = tomlkit.document()
            aot = tomlkit.aot()
            for sec in value:
                t = tomlkit.table()
                for k, v in sec.items():
                    t[k] = text_item(v) if isinstance(v, str) else v
                aot.append(t)
            doc["sections"] = aot
            self.text.setPlainText(tomlkit.dumps(doc).strip() + "\n")
        else:
            self.text.setPlainText("")
        self.text.blockSignals(False)


class ThenEditor(FieldEditor):
    """The jobs to run after this one succeeds, ticked in a list of the other jobs."""

    def __init__(self, key: str = "then", parent=None) -> None:
        super().__init__(key, parent)
        self.list = QListWidget()
        self.list.setAccessibleName("Then run")
        self.list.setMaximumHeight(96)
        self.list.itemChanged.connect(lambda _i: self.changed.emit())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.list)
        self.setFocusProxy(self.list)

    def set_jobs(self, names: list[str]) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for n in names:
            item = QListWidgetItem(n)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.list.addItem(item)
        self.list.blockSignals(False)

    def value(self) -> tuple[bool, Any]:
        chosen = [self.list.item(i).text() for i in range(self.list.count())
                  if self.list.item(i).checkState() == Qt.CheckState.Checked]
        return bool(chosen) or self.present, chosen

    def set_value(self, present: bool, value: Any) -> None:
        self.present = present
        wanted = [value] if isinstance(value, str) else list(value or [])
        self.list.blockSignals(True)
        names = [self.list.item(i).text() for i in range(self.list.count())]
        for n in wanted:
            if n not in names:
                self.list.addItem(QListWidgetItem(n))
                item = self.list.item(self.list.count() - 1)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        for i in range(self.list.count()):
            item = self.list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in wanted
                               else Qt.CheckState.Unchecked)
        self.list.blockSignals(False)
