"""The editor for names to texts or stored secrets (``dict[str, str | SecretRef]``,
a command's ``env``).

Each row is a name, a value and a "Secret" tick. Ticked, the value cell names a
secret kept in the system keyring (a list of the stored names, and "New
secret…"), and the job gets ``{ secret = "name" }``: the value itself never
reaches the form or the config file. "Set value…" stores the row's secret
through :class:`~trayjobs.ui.secret_dialog.SecretValueDialog`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHeaderView, QLabel, QPushButton, QTableWidgetItem,
                               QVBoxLayout, QWidget)
from shiboken6 import isValid

from ..secret_dialog import SecretValueDialog, keyring_call
from ..theme import muted_colour
from .fields import FieldSpec
from .structured import KeyValueEditor, as_text

__all__ = ["EnvEditor", "SecretNames"]

#: The "New secret…" entry of a value cell (a secret's name cannot start with ":").
NEW = ":new"


class SecretNames(QObject):
    """The names of the stored secrets, read once per editor off the GUI thread."""

    changed = Signal()

    def __init__(self, app, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.names: list[str] = []
        self.loaded = False
        self.error = ""

    @property
    def usable(self) -> bool:
        """Secrets can be stored from here (the window's service is there)."""
        return getattr(self.app, "service", None) is not None

    def load(self) -> None:
        if not self.usable:
            return
        from ...secrets import list_names
        keyring_call(self.app, list_names, self._loaded, self._failed)

    def _loaded(self, names: list[str]) -> None:
        self.names, self.loaded, self.error = list(names), True, ""
        self._emit()

    def _failed(self, exc: Exception) -> None:
        self.loaded, self.error = False, str(exc)
        self._emit()

    def _emit(self) -> None:
        # The keyring may answer after the editor was closed (and this object with it).
        if isValid(self):
            self.changed.emit()

    def add(self, name: str) -> None:
        if name not in self.names:
            self.names = sorted([*self.names, name])
        self.loaded, self.error = True, ""  # the keyring just answered
        self.changed.emit()


class EnvEditor(KeyValueEditor):
    """Names to texts or stored secrets: a :class:`KeyValueEditor` with a "Secret" tick."""

    NAME, VALUE, SECRET = range(3)
    HEADERS = ("Name", "Value", "Secret")
    MAX_HEIGHT = 150

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        self.secrets: SecretNames | None = None
        self.secret_dialog: SecretValueDialog | None = None
        super().__init__(spec, parent)
        self.table.horizontalHeader().setSectionResizeMode(
            self.SECRET, QHeaderView.ResizeMode.ResizeToContents)
        self.table.currentCellChanged.connect(lambda *_a: self._show_buttons())
        self.note = QLabel()
        self.note.setObjectName(f"secretsNote:{spec.key}")
        self.note.setWordWrap(True)
        pal = self.note.palette()
        pal.setColor(self.note.foregroundRole(), muted_colour())
        self.note.setPalette(pal)
        self.note.hide()
        self.box.addWidget(self.note)
        self._show_buttons()

    def more_buttons(self, buttons: QVBoxLayout) -> None:
        self.set_btn = QPushButton("Set value…")
        self.set_btn.setAccessibleName("Set the secret's value")
        self.set_btn.setToolTip("Store the value of this row's secret in the system keyring.")
        self.set_btn.clicked.connect(lambda: self.ask_value(self.table.currentRow()))
        buttons.addWidget(self.set_btn)

    # -- the stored secrets -------------------------------------------------------------

    def bind_secrets(self, secrets: SecretNames) -> None:
        self.secrets = secrets
        secrets.changed.connect(self._names_changed)
        self._names_changed()

    def _names_changed(self) -> None:
        for r in range(self.table.rowCount()):
            combo = self.secret_combo(r)
            if combo is not None:
                self._fill(combo, combo.currentData())
        error = self.secrets.error if self.secrets else ""
        self.note.setText(f"Stored secrets cannot be listed: {error}" if error else "")
        self._show_buttons()

    def _show_note(self) -> None:
        # Only where a secret is wanted: a job with plain variables, or none, needs no
        # keyring, and a paragraph on installing one would only alarm.
        wanted = any(self.is_secret(r) for r in range(self.table.rowCount()))
        self.note.setVisible(bool(self.note.text()) and wanted)

    def _fill(self, combo: QComboBox, chosen: str | None) -> None:
        """The stored names (and the row's own, if it is not stored) and "New secret…"."""
        known = self.secrets.names if self.secrets else []
        checked = bool(self.secrets and self.secrets.loaded)
        combo.blockSignals(True)
        combo.clear()
        for name in sorted({*known, *([chosen] if chosen and chosen != NEW else [])}):
            missing = checked and name not in known
            combo.addItem(f"{name} (not stored)" if missing else name, name)
        if self.secrets is not None and self.secrets.usable:
            combo.insertSeparator(combo.count())
            combo.addItem("New secret…", NEW)
        combo.setCurrentIndex(combo.findData(chosen) if chosen else -1)
        combo.blockSignals(False)

    def ask_value(self, row: int, *, new: bool = False) -> SecretValueDialog | None:
        """Open the dialog that stores the secret of ``row`` (a new one: ``new``)."""
        if row < 0 or not self.is_secret(row) or self.secrets is None or not self.secrets.usable:
            return None
        chosen = None if new else self.secret_combo(row).currentData()
        dlg = SecretValueDialog(self.secrets.app, chosen or "", fixed_name=bool(chosen),
                                parent=self)
        dlg.stored.connect(lambda name: self._stored(row, name))
        dlg.finished.connect(lambda _r: setattr(self, "secret_dialog", None))
        self.secret_dialog = dlg
        dlg.open()
        return dlg

    def _stored(self, row: int, name: str) -> None:
        self.secrets.add(name)
        combo = self.secret_combo(row)
        if combo is not None:
            combo.setCurrentIndex(combo.findData(name))

    # -- rows ---------------------------------------------------------------------------

    def add_row(self, name: str = "", value: str = "", *, secret: str | None = None) -> None:
        self.table.blockSignals(True)
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, self.NAME, QTableWidgetItem(name))
        self.table.setItem(row, self.VALUE, QTableWidgetItem("" if secret is not None else value))
        tick = QTableWidgetItem()
        tick.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled
                      | Qt.ItemFlag.ItemIsSelectable)
        tick.setCheckState(Qt.CheckState.Checked if secret is not None else Qt.CheckState.Unchecked)
        tick.setToolTip("Ticked, the value is a secret kept in the system keyring.")
        self.table.setItem(row, self.SECRET, tick)
        self.table.blockSignals(False)
        self._show_kind(row, secret)

    def is_secret(self, row: int) -> bool:
        tick = self.table.item(row, self.SECRET)
        return tick is not None and tick.checkState() == Qt.CheckState.Checked

    def secret_combo(self, row: int) -> QComboBox | None:
        w = self.table.cellWidget(row, self.VALUE)
        return w if isinstance(w, QComboBox) else None

    def _show_kind(self, row: int, chosen: str | None = None) -> None:
        """The value cell as the tick says: a text, or a choice of secret."""
        if self.is_secret(row):
            if self.secret_combo(row) is None:
                # A value typed before the tick is not kept: it was not meant for the file.
                self.table.blockSignals(True)
                self.table.item(row, self.VALUE).setText("")
                self.table.blockSignals(False)
                combo = QComboBox()
                combo.setAccessibleName("Secret")
                combo.setPlaceholderText("choose a secret")
                self._fill(combo, chosen)
                combo.setProperty("last", chosen)
                combo.activated.connect(lambda _i, c=combo: self._chosen(c))
                self.table.setCellWidget(row, self.VALUE, combo)
        elif self.secret_combo(row) is not None:
            self.table.removeCellWidget(row, self.VALUE)
        self._show_buttons()

    def _chosen(self, combo: QComboBox) -> None:
        row = next(r for r in range(self.table.rowCount()) if self.secret_combo(r) is combo)
        self.table.setCurrentCell(row, self.NAME)
        if combo.currentData() == NEW:
            combo.setCurrentIndex(combo.findData(combo.property("last"))
                                  if combo.property("last") else -1)
            self.ask_value(row, new=True)
            return
        combo.setProperty("last", combo.currentData())
        self.changed.emit()

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == self.SECRET:
            self._show_kind(item.row())
        self.changed.emit()

    def _show_buttons(self) -> None:
        self._show_note()
        row = self.table.currentRow()
        self.set_btn.setEnabled(bool(row >= 0 and self.is_secret(row) and self.secrets is not None
                                     and self.secrets.usable))

    # -- the field's value ----------------------------------------------------------------

    def row_value(self, row: int) -> Any:
        combo = self.secret_combo(row)
        if combo is None:
            return self.cell_text(row, self.VALUE)
        secret = combo.currentData()
        return {"secret": secret} if secret and secret != NEW else None

    def incomplete(self, name: str) -> str:
        return f"{name}: choose the secret it takes, or store a new one with Set value…"

    def set_row(self, name: str, value: Any) -> None:
        if isinstance(value, dict) and "secret" in value:
            self.add_row(name, secret=str(value["secret"]))
        else:
            self.add_row(name, as_text(value))
