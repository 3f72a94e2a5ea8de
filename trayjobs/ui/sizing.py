"""A dialog's first size, within the screen it opens on."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

__all__ = ["first_size"]


def first_size(widget: QWidget, width: int, height: int) -> None:
    """Size ``widget`` to ``width`` x ``height``, or less on a screen without room for it:
    a 640-pixel editor on a 600-pixel netbook screen (or a 900-pixel one at 200 %) opened
    with Save below the screen's edge. Its parts scroll, so it still works smaller; it is
    never made smaller than its layout allows."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    avail = screen.availableGeometry() if screen is not None else None
    if avail is not None and avail.width() > 0 and avail.height() > 0:
        # Room for the window's frame and title bar, which the size does not count.
        width = min(width, int(avail.width() * 0.95))
        height = min(height, int(avail.height() * 0.9))
    least = widget.minimumSizeHint()
    widget.resize(max(width, least.width()), max(height, least.height()))
