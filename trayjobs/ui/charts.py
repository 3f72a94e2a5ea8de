"""Small charts drawn with QPainter: a job's sparkline and the Metrics page's bar charts.

No chart library: a few bars and a baseline is all either needs, and painting them
costs a fraction of a millisecond.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QStyledItemDelegate, QWidget

from .theme import state_colour

__all__ = ["SparkDelegate", "BarChart", "paint_spark"]

#: How tall a sparkline bar is for each outcome: failures stand out by height too, not
#: only colour.
_HEIGHT = {"succeeded": 0.55, "warning": 0.75, "failed": 1.0}


def paint_spark(p: QPainter, rect: QRectF, outcomes: Sequence[str], slots: int = 30) -> None:
    """One thin bar per run, oldest on the left, right-aligned so the newest is always at
    the same place."""
    if not outcomes:
        return
    step = rect.width() / slots
    bar = max(1.0, step * 0.7)
    x = rect.right() - step * len(outcomes)
    p.setPen(Qt.PenStyle.NoPen)
    for o in outcomes:
        h = rect.height() * _HEIGHT.get(o, 0.35)
        p.setBrush(state_colour(o))
        p.drawRect(QRectF(x, rect.bottom() - h, bar, h))
        x += step


class SparkDelegate(QStyledItemDelegate):
    """Draws the outcomes a model gives under ``role`` as a sparkline."""

    def __init__(self, role: int, parent=None) -> None:
        super().__init__(parent)
        self.role = role

    def paint(self, painter, option, index) -> None:
        super().paint(painter, option, index)  # selection background
        outcomes = index.data(self.role) or ()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        paint_spark(painter, QRectF(option.rect).adjusted(4, 4, -4, -4), outcomes)
        painter.restore()

    def sizeHint(self, option, index) -> QSize:
        return QSize(30 * 4 + 8, option.fontMetrics.height() + 8)


class BarChart(QWidget):
    """A titled bar chart of one series (None: no value in that slot), with the largest
    value and the first and last slot labelled; a second series may be stacked on top in
    another colour (failures over all runs)."""

    def __init__(self, title: str, *, colour: QColor | None = None,
                 fmt: Callable[[float], str] = lambda v: f"{v:,.0f}", parent=None) -> None:
        super().__init__(parent)
        self.title = title
        self.colour = colour
        self.fmt = fmt
        self.values: list[float | None] = []
        self.overlay: list[float | None] = []
        self.overlay_colour: QColor | None = None
        self.labels: tuple[str, str] = ("", "")
        self.setAccessibleName(title)
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_series(self, values: Sequence[float | None], labels: tuple[str, str], *,
                   overlay: Sequence[float | None] = (), overlay_colour: QColor | None = None
                   ) -> None:
        self.values, self.labels = list(values), labels
        self.overlay, self.overlay_colour = list(overlay), overlay_colour
        total = sum(v for v in self.values if v)
        self.setAccessibleDescription(f"{self.title}: largest {self.fmt(self.peak())}"
                                      if total else f"{self.title}: nothing in this period")
        self.update()

    def peak(self) -> float:
        return max((v for v in self.values if v is not None), default=0.0)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        pal = self.palette()
        fm = self.fontMetrics()
        text = pal.color(QPalette.ColorRole.WindowText)
        muted = pal.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
        line = fm.height()
        p.setPen(text)
        peak = self.peak()
        p.drawText(0, line, self.title)
        if peak:
            p.setPen(muted)
            right = f"largest {self.fmt(peak)}"
            p.drawText(self.width() - fm.horizontalAdvance(right) - 2, line, right)
        plot = QRectF(0, line + 6, self.width(), self.height() - 2 * line - 12)
        p.setPen(muted)
        p.drawLine(plot.bottomLeft(), plot.bottomRight())
        if self.labels[0]:
            p.drawText(0, self.height() - 2, self.labels[0])
            p.drawText(self.width() - fm.horizontalAdvance(self.labels[1]) - 2,
                       self.height() - 2, self.labels[1])
        if not peak:
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "nothing in this period")
            return
        n = len(self.values)
        step = plot.width() / n
        gap = 1.0 if step > 3 else 0.0
        p.setPen(Qt.PenStyle.NoPen)
        colour = self.colour or pal.color(QPalette.ColorRole.Highlight)
        for i, v in enumerate(self.values):
            if not v:
                continue
            h = plot.height() * v / peak
            x = plot.left() + i * step
            p.setBrush(colour)
            p.drawRect(QRectF(x, plot.bottom() - h, max(1.0, step - gap), h))
            extra = self.overlay[i] if i < len(self.overlay) else None
            if extra and self.overlay_colour is not None:
                oh = plot.height() * min(extra, v) / peak
                p.setBrush(self.overlay_colour)
                p.drawRect(QRectF(x, plot.bottom() - oh, max(1.0, step - gap), oh))
