"""Storing a secret's value from the window: a small password dialog.

The value is typed twice without being shown (or once, shown, with "Show"), sent
to :func:`~trayjobs.secrets.set_secret` off the GUI thread, and wiped from the
dialog once it is stored or the dialog is closed: no widget keeps it. What the
keyring answers (none found, locked) is shown in the dialog, which stays open.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QLineEdit, QVBoxLayout, QWidget)

from ..errors import UserError
from .theme import muted_colour, state_colour

__all__ = ["SecretValueDialog", "keyring_call"]

_keyring_lock = threading.Lock()


def keyring_call(app, fn: Callable[[], Any], on_result: Callable[[Any], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None) -> None:
    """Run ``fn``, a keyring call, off the GUI thread; its answer comes back on it.

    Not on the service thread: a locked keyring holds the call while its unlock prompt
    waits for the person, and the pages' reads would wait behind it. One keyring call at
    a time, so that the list of names kept beside the values is never written by two.
    """
    def work() -> Any:
        with _keyring_lock:
            return fn()

    app.service.call_slow(work, on_result, on_error)


class SecretValueDialog(QDialog):
    """Ask for a secret's value (and its name, unless ``fixed_name``) and store it."""

    stored = Signal(str)  # the name

    def __init__(self, app, name: str = "", *, fixed_name: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.setObjectName("secretValue")
        self.setWindowTitle(f"Secret {name} – trayjobs" if fixed_name else "Secret – trayjobs")
        intro = QLabel("The value is kept in the system keyring, never in the config file; "
                       "jobs name it as { secret = \"name\" }.")
        intro.setWordWrap(True)
        intro.setMinimumWidth(380)
        pal = intro.palette()
        pal.setColor(intro.foregroundRole(), muted_colour())
        intro.setPalette(pal)
        self.name = QLineEdit(name)
        self.name.setObjectName("secretName")
        self.name.setAccessibleName("Secret name")
        self.name.setPlaceholderText("e.g. nas-token")
        self.name.setReadOnly(fixed_name)
        self.value = QLineEdit()
        self.value.setObjectName("secretValueText")
        self.value.setAccessibleName("Secret value")
        self.again = QLineEdit()
        self.again.setObjectName("secretValueAgain")
        self.again.setAccessibleName("Secret value again")
        for w in (self.value, self.again):
            w.setEchoMode(QLineEdit.EchoMode.Password)
        self.show_value = QCheckBox("S&how the value")
        self.show_value.setAccessibleName("Show the value")
        self.show_value.toggled.connect(self._show_toggled)
        form = QFormLayout()
        form.addRow("&Name:", self.name)
        form.addRow("&Value:", self.value)
        self.again_label = QLabel("&Again:")
        self.again_label.setBuddy(self.again)
        form.addRow(self.again_label, self.again)
        form.addRow("", self.show_value)
        self.error = QLabel()
        self.error.setObjectName("secretError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {state_colour('failed').name()}")
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.store_btn = self.buttons.addButton("&Store", QDialogButtonBox.ButtonRole.AcceptRole)
        self.store_btn.setAccessibleName("Store the secret")
        self.buttons.accepted.connect(self.store)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.store_btn.setDefault(True)  # only once in the dialog, else Cancel is the default
        (self.value if fixed_name else self.name).setFocus()

    def _show_toggled(self, on: bool) -> None:
        # Shown once, the value needs no second typing to be sure of it.
        self.value.setEchoMode(QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password)
        self.again.setVisible(not on)
        self.again_label.setVisible(not on)

    def problem(self) -> str:
        """What keeps the secret from being stored, in words ("" if nothing)."""
        from ..secrets import check_name
        name = self.name.text()
        if not name.strip():
            return "Give the secret a name, e.g. nas-token."
        try:
            check_name(name)
        except UserError as exc:
            return str(exc)
        if not self.value.text():
            return "Type the value to store."
        if not self.show_value.isChecked() and self.value.text() != self.again.text():
            return "The two values differ: type the same value twice (or tick Show the value)."
        return ""

    def store(self) -> None:
        problem = self.problem()
        if problem:
            self._failed(UserError(problem))
            return
        from ..secrets import set_secret
        name, value = self.name.text(), self.value.text()
        self.store_btn.setEnabled(False)
        self.error.setText("Storing…")
        self.error.setStyleSheet("")
        self._show_error()
        keyring_call(self.app, lambda: set_secret(name, value), lambda _r: self._stored(name),
                     self._failed)

    def _stored(self, name: str) -> None:
        self._wipe()
        status = getattr(self.app, "status", None)
        if status is not None:
            status(f"Stored the secret {name} in the system keyring")
        self.stored.emit(name)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        text = str(exc)
        self.error.setText(text[0].upper() + text[1:] if text else "The secret was not stored.")
        self.error.setStyleSheet(f"color: {state_colour('failed').name()}")
        self._show_error()
        self.store_btn.setEnabled(True)

    def _show_error(self) -> None:
        self.error.show()
        # Grow to hold the message (a keyring's can be several lines) rather than squash
        # the fields above it: a wrapped label does not raise the window's minimum height.
        self.resize(self.width(), max(self.height(), self.sizeHint().height()))

    def _wipe(self) -> None:
        self.value.clear()
        self.again.clear()

    def done(self, result: int) -> None:
        self._wipe()  # stored or not, the value leaves the window with the dialog
        super().done(result)
