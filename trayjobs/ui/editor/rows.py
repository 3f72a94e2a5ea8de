"""A field of the job editor's form: its editor, its explanation, and its error or warning
under it."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..theme import muted_colour, state_colour
from .fields import FieldEditor, plain_error

__all__ = ["FieldRow", "reserve_lines"]


class FieldRow(QWidget):
    """An editor with its explanation and its error message under it."""

    def __init__(self, editor: FieldEditor, help_text: str, label: str = "") -> None:
        super().__init__()
        self.editor = editor
        self.label = label
        self.help = QLabel(help_text)
        self.help.setWordWrap(True)
        self.help.setVisible(bool(help_text))
        pal = self.help.palette()
        pal.setColor(self.help.foregroundRole(), muted_colour())
        self.help.setPalette(pal)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setObjectName(f"error:{editor.key}")
        reserve_lines(self.error, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.setSpacing(2)
        lay.addWidget(editor)
        lay.addWidget(self.help)
        lay.addWidget(self.error)
        self.setFocusProxy(editor)
        # Its natural height, always: in a short window the form scrolls instead of
        # squeezing a field's inputs (two filter rules became 12 px slivers).
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def set_error(self, message: str | None, *, where: str = "", add: bool = False) -> None:
        # The message names its field, so it reads on its own (and to a screen reader).
        if message:
            name = ", ".join(w for w in (self.label, where) if w)
            message = f"{name}: {plain_error(message)}" if name else plain_error(message)
            if add and self.error.text():
                message = f"{self.error.text()}\n{message}"
        self.editor.set_error(message)
        self.error.setText(message or "")
        self.error.setStyleSheet(f"color: {state_colour('failed').name()}")

    def set_caution(self, message: str, *, where: str = "") -> None:
        """A warning under the field: the job can be saved and run, with this risk."""
        if self.error.text():
            return  # an error says more, and the field is fixed first
        name = ", ".join(w for w in (self.label, where) if w)
        self.error.setText(f"Warning: {name}: {plain_error(message)}" if name
                           else f"Warning: {plain_error(message)}")
        self.error.setStyleSheet(f"color: {state_colour('warning').name()}")


def reserve_lines(label: QLabel, lines: int) -> None:
    """Keep room for ``lines`` of message even while there is none (the label stays, empty),
    so the form does not jump as messages come and go."""
    label.setMinimumHeight(label.fontMetrics().lineSpacing() * lines)
