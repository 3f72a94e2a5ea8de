"""The Secrets part of Settings: the stored secrets' names (never their values), the jobs
that use each, and the names jobs give that are not stored.

The names come from the keyring, read off the GUI thread each time the part is shown
and after each change made here; the uses come from the loaded config. Changes go to
the keyring at once (the settings' Save button is not needed for them).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QMessageBox, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from .secret_dialog import SecretValueDialog, keyring_call
from .theme import muted_colour, state_colour

__all__ = ["SecretsBox", "secret_uses", "secrets_overview"]


def secret_uses(cfg) -> dict[str, list[str]]:
    """Each secret named in the config's jobs, with the jobs that name it; and those that
    hold [cluster]'s URLs (``cluster join`` keeps them so), used by "[cluster] redis"."""
    from ..secrets import SecretRef, secret_refs
    uses: dict[str, set[str]] = {}
    for name, job in cfg.jobs.items():
        for _key, secret in secret_refs(job.params):
            uses.setdefault(secret, set()).add(name)
    for key in ("redis", "database"):
        ref = getattr(cfg.cluster, key, None)
        if isinstance(ref, SecretRef):
            uses.setdefault(ref.secret, set()).add(f"[cluster] {key}")
    return {s: sorted(jobs) for s, jobs in uses.items()}


def secrets_overview(eng) -> dict[str, Any]:
    """The stored names (``None`` and the reason when the keyring did not answer) and the
    jobs' uses (off the GUI thread)."""
    from ..secrets import SecretError, list_names
    uses = secret_uses(eng.config) if eng is not None else {}
    try:
        return {"names": list_names(), "error": "", "uses": uses}
    except SecretError as exc:
        return {"names": None, "error": str(exc), "uses": uses}


def _state(stored: bool | None, used: bool) -> str:
    if stored is None:
        return "not checked"
    if not stored:
        return "missing: not stored"
    return "" if used else "unused"


class SecretsBox(QGroupBox):
    NAME, USED_BY, STATE = range(3)

    def __init__(self, app, parent: QWidget | None = None) -> None:
        super().__init__("Secrets", parent)
        self.app = app
        self.setObjectName("secrets")
        self.loads = 0
        self.stored: list[str] | None = None
        self.dialog: SecretValueDialog | None = None
        intro = QLabel("Passwords and tokens that jobs name as { secret = \"name\" }, kept in the "
                       "system keyring. Changes here take effect at once.")
        intro.setWordWrap(True)
        pal = intro.palette()
        pal.setColor(intro.foregroundRole(), muted_colour())
        intro.setPalette(pal)
        self.view = QTreeWidget()
        self.view.setObjectName("secretsList")
        self.view.setAccessibleName("Secrets")
        self.view.setHeaderLabels(["Name", "Used by", "State"])
        self.view.setRootIsDecorated(False)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.header().setStretchLastSection(True)
        self.view.setMaximumHeight(160)
        self.view.itemSelectionChanged.connect(self._show_buttons)
        self.view.itemDoubleClicked.connect(lambda *_a: self.change())
        self.add_btn = QPushButton("&New…")
        self.add_btn.setAccessibleName("Store a new secret")
        self.add_btn.clicked.connect(self.add)
        self.change_btn = QPushButton("C&hange…")
        self.change_btn.setAccessibleName("Change or store the secret's value")
        self.change_btn.clicked.connect(self.change)
        self.delete_btn = QPushButton("De&lete")
        self.delete_btn.setAccessibleName("Delete the secret")
        self.delete_btn.clicked.connect(self.delete)
        self.error = QLabel()
        self.error.setObjectName("secretsError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {state_colour('failed').name()}")
        self.error.hide()
        buttons = QVBoxLayout()
        for b in (self.add_btn, self.change_btn, self.delete_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.view, 1)
        row.addLayout(buttons)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(row)
        lay.addWidget(self.error)
        self._show_buttons()
        jobs_loaded = getattr(app, "jobsLoaded", None)
        if jobs_loaded is not None:  # a job edited may name other secrets
            jobs_loaded.connect(lambda: self.isVisible() and self.refresh())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()

    # -- the list -------------------------------------------------------------------------

    def refresh(self) -> None:
        if getattr(self.app, "service", None) is None:
            return
        eng = getattr(self.app, "engine", None)
        keyring_call(self.app, lambda: secrets_overview(eng), self.show_overview, self._failed)

    def show_overview(self, data: dict[str, Any]) -> None:
        names, uses = data["names"], data["uses"]
        self.stored = names
        chosen = self.selected()
        self.view.clear()
        for name in sorted({*(names or []), *uses}):
            stored = None if names is None else name in names
            jobs = uses.get(name, [])
            item = QTreeWidgetItem([name, ", ".join(jobs), _state(stored, bool(jobs))])
            item.setData(self.NAME, Qt.ItemDataRole.UserRole, name)
            if stored is False:
                item.setForeground(self.STATE, state_colour("failed"))
                item.setToolTip(self.STATE, f"{', '.join(jobs)} name this secret, but it is not "
                                            f"stored: Change… stores it.")
            elif stored and not jobs:
                item.setForeground(self.STATE, muted_colour())
                item.setToolTip(self.STATE, "No job names this secret.")
            self.view.addTopLevelItem(item)
            if name == chosen:
                item.setSelected(True)
        if names is not None and not names and not uses:
            placeholder = QTreeWidgetItem(["No secrets stored yet: New… stores one."])
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.view.addTopLevelItem(placeholder)
        self.show_error(data["error"])
        self.loads += 1
        self._show_buttons()

    def _failed(self, exc: Exception) -> None:
        self.show_error(str(exc))

    def show_error(self, text: str) -> None:
        self.error.setText(text[:1].upper() + text[1:])
        self.error.setVisible(bool(text))

    def selected(self) -> str | None:
        items = self.view.selectedItems()
        return items[0].data(self.NAME, Qt.ItemDataRole.UserRole) if items else None

    def rows(self) -> list[tuple[str, str, str]]:
        """What the list shows: (name, used by, state) per secret."""
        out = []
        for i in range(self.view.topLevelItemCount()):
            item = self.view.topLevelItem(i)
            if item.data(self.NAME, Qt.ItemDataRole.UserRole):
                out.append((item.text(self.NAME), item.text(self.USED_BY), item.text(self.STATE)))
        return out

    def select(self, name: str) -> None:
        for i in range(self.view.topLevelItemCount()):
            item = self.view.topLevelItem(i)
            item.setSelected(item.data(self.NAME, Qt.ItemDataRole.UserRole) == name)

    def _show_buttons(self) -> None:
        name = self.selected()
        self.change_btn.setEnabled(name is not None)
        self.delete_btn.setEnabled(bool(name and self.stored and name in self.stored))

    # -- changes --------------------------------------------------------------------------

    def add(self) -> SecretValueDialog:
        return self._ask("")

    def change(self) -> SecretValueDialog | None:
        name = self.selected()
        return self._ask(name) if name else None

    def _ask(self, name: str) -> SecretValueDialog:
        dlg = SecretValueDialog(self.app, name, fixed_name=bool(name), parent=self)
        dlg.stored.connect(lambda _n: self.refresh())
        dlg.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dlg
        dlg.open()
        return dlg

    def delete(self) -> None:
        name = self.selected()
        if not name or not self.stored or name not in self.stored:
            return
        uses = next((used for n, used, _s in self.rows() if n == name), "")
        more = (f"\n\n{uses} name it: their runs will fail until it is stored again."
                if uses and "[cluster]" not in uses else
                f"\n\n{uses} name it: at its next start this machine cannot reach the "
                f"cluster's servers until it is stored again (trayjobs cluster join)."
                if uses else "")
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete secret?",
                          f"Delete the secret “{name}” from the system keyring? Its value "
                          f"cannot be brought back.{more}",
                          QMessageBox.StandardButton.Cancel, self)
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName("confirmDeleteSecret")
        box.exec()
        if box.clickedButton() is not delete:
            return
        from ..secrets import delete_secret
        self.delete_btn.setEnabled(False)

        def deleted(_r) -> None:
            status = getattr(self.app, "status", None)
            if status is not None:
                status(f"Deleted the secret {name}")
            self.refresh()

        keyring_call(self.app, lambda: delete_secret(name), deleted,
                     lambda exc: (self.show_error(str(exc)), self.refresh()))
