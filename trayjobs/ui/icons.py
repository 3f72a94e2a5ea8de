"""Icons shipped in the package, loaded with importlib.resources."""

from __future__ import annotations

from functools import cache
from importlib import resources

from PySide6.QtGui import QIcon, QPixmap

__all__ = ["icon", "icon_path"]


def icon_path(name: str) -> str:
    return str(resources.files("trayjobs") / "resources" / "icons" / f"{name}.svg")


@cache
def icon(name: str) -> QIcon:
    ic = QIcon(icon_path(name))
    if ic.isNull():  # no SVG image plugin: draw it ourselves
        from PySide6.QtSvg import QSvgRenderer
        from PySide6.QtGui import QPainter
        from PySide6.QtCore import Qt
        ic = QIcon()
        renderer = QSvgRenderer(icon_path(name))
        for size in (16, 22, 24, 32, 48, 64, 128):
            pm = QPixmap(size, size)
            pm.fill(Qt.transparent)
            p = QPainter(pm)
            renderer.render(p)
            p.end()
            ic.addPixmap(pm)
    return ic
