"""Colours that read on light and dark palettes, and following the system's scheme.

Nothing in the window hard-codes a light colour: state colours and the error
banner are picked for the palette in use (light or dark) each time they are
drawn, so a change of the system's colour scheme repaints them correctly.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["THEMES", "apply_theme", "banner_style", "is_dark", "state_colour", "muted_colour"]

THEMES = {"system": "Follow the system", "light": "Light", "dark": "Dark"}

# (light palette, dark palette): each readable as text (WCAG AA, 4.5:1) on the list's
# background and on the window's, which is a shade darker in the light palette.
_STATE = {
    "succeeded": ("#166534", "#4ade80"),
    "warning": ("#c2410c", "#fb923c"),  # succeeded with warnings: never plain green
    "failed": ("#b91c1c", "#f87171"),
    "retrying": ("#a14a07", "#fbbf24"),
    "interrupted": ("#a14a07", "#fbbf24"),
    "running": ("#1d4ed8", "#60a5fa"),
}


def is_dark(palette: QPalette | None = None) -> bool:
    pal = palette or QGuiApplication.palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def state_colour(state: str, palette: QPalette | None = None) -> QColor:
    pal = palette or QGuiApplication.palette()
    pair = _STATE.get(state)
    if pair is None:
        return (pal.color(QPalette.ColorRole.Text) if state in ("queued", "scheduled")
                else muted_colour(pal))
    return QColor(pair[1] if is_dark(pal) else pair[0])


def muted_colour(palette: QPalette | None = None) -> QColor:
    """Text that matters less (a cancelled run, a help line): the palette's text colour
    two thirds of the way from its background, so it stays readable (4.5:1) on light and
    dark palettes alike. The palette's "disabled" grey is for controls that do nothing,
    and is too pale to read on white (1.9:1)."""
    pal = palette or QGuiApplication.palette()
    text, bg = pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base)
    mix = lambda a, b: round(a * 0.62 + b * 0.38)  # noqa: E731
    return QColor(mix(text.red(), bg.red()), mix(text.green(), bg.green()),
                  mix(text.blue(), bg.blue()))


def banner_style(palette: QPalette | None = None, *, level: str = "error") -> str:
    """A style sheet for a message banner, tinted from the palette's own colours."""
    pal = palette or QGuiApplication.palette()
    base = pal.color(QPalette.ColorRole.Base)
    text = pal.color(QPalette.ColorRole.Text)
    accent = QColor({"error": "#dc2626", "warning": "#d97706", "info": "#2563eb"}[level])
    mix = 0.28 if is_dark(pal) else 0.12
    bg = QColor.fromRgbF(base.redF() + (accent.redF() - base.redF()) * mix,
                         base.greenF() + (accent.greenF() - base.greenF()) * mix,
                         base.blueF() + (accent.blueF() - base.blueF()) * mix)
    return (f"QLabel {{ background: {bg.name()}; color: {text.name()}; padding: 8px;"
            f" border: 1px solid {accent.name()}; border-radius: 4px; }}")


def _dark_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#2b2d31", QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1e1f22", QPalette.ColorRole.AlternateBase: "#26282c",
        QPalette.ColorRole.ToolTipBase: "#2b2d31", QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#35373c",
        QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#3b82f6", QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#60a5fa", QPalette.ColorRole.LinkVisited: "#a78bfa",
        QPalette.ColorRole.PlaceholderText: "#8b8f96", QPalette.ColorRole.Mid: "#45474d",
        QPalette.ColorRole.Dark: "#18191b", QPalette.ColorRole.Light: "#4a4c52",
        QPalette.ColorRole.Midlight: "#3c3e43", QPalette.ColorRole.Shadow: "#000000",
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7d83"))
    return p


def apply_theme(choice: str = "system") -> None:
    """Follow the system's colour scheme, or force light or dark.

    Qt 6.8+ can ask the platform for a scheme; where the platform has no say
    (offscreen, a bare X server) a forced dark theme uses our own Fusion palette.
    """
    app = QApplication.instance()
    if app is None:
        return
    hints = QGuiApplication.styleHints()
    want = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}.get(
        choice, Qt.ColorScheme.Unknown)
    if hasattr(hints, "setColorScheme"):
        hints.setColorScheme(want)
    if choice == "dark" and not is_dark(app.style().standardPalette()):
        app.setPalette(_dark_palette())
    elif choice == "light" and is_dark(app.style().standardPalette()):
        app.setPalette(app.style().standardPalette())  # the style's own light one
    else:
        app.setPalette(QPalette())  # the platform's (system) palette
