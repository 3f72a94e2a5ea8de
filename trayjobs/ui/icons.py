"""Icons shipped in the package, loaded with importlib.resources."""

from __future__ import annotations

from functools import cache
from importlib import resources

from PySide6.QtGui import QIcon, QPixmap

__all__ = ["icon", "icon_path", "tray_icon"]


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


#: Badge colours over the app's icon in the tray, by state (idle has none).
_BADGES = {"failed": "#dc2626", "warning": "#d97706", "running": "#16a34a", "paused": "#6b7280"}


@cache
def tray_icon(state: str, count: int = 0) -> QIcon:
    """The app's own icon with a badge for ``state`` (a count, when there is one), drawn at
    each tray size. A whole icon per state (a red tile with white bars when runs failed) read
    at 22 px as a generic "no entry" sign, not as trayjobs."""
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QColor, QFont, QPainter
    base, colour = icon("trayjobs"), _BADGES.get(state)
    if colour is None:
        return base
    out = QIcon()
    for size in (16, 22, 24, 32, 48, 64):
        pm = QPixmap(size, size)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        base.paint(p, 0, 0, size, size)
        d = size * (0.6 if count else 0.42)
        rect = QRectF(size - d, size - d, d, d)
        p.setPen(QColor("#ffffff"))
        p.setBrush(QColor(colour))
        p.drawEllipse(rect.adjusted(0.5, 0.5, -0.5, -0.5))
        if count:
            font = QFont()
            font.setBold(True)
            font.setPixelSize(max(6, int(d * 0.62)))
            p.setFont(font)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(count) if count < 10 else "9+")
        p.end()
        out.addPixmap(pm)
    return out
