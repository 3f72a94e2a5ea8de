"""Render the app icon's PNG sizes from its SVG (run after changing the SVG).

    .venv/bin/python packaging/render_icons.py

The SVG (``trayjobs/resources/icons/trayjobs.svg``) is the one source; the PNGs in
``trayjobs/resources/desktop/png/`` are what menus, docks and the PyInstaller bundle
use where an SVG is not taken. ``tests/test_packaging.py`` checks they are current.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trayjobs.desktop import PNG_SIZES, icon_png_name  # noqa: E402

SVG = ROOT / "trayjobs" / "resources" / "icons" / "trayjobs.svg"
OUT = ROOT / "trayjobs" / "resources" / "desktop" / "png"


def render(svg: Path, size: int) -> QImage:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    OUT.mkdir(parents=True, exist_ok=True)
    for size in PNG_SIZES:
        path = OUT / icon_png_name(size)
        if not render(SVG, size).save(str(path), "PNG"):
            raise SystemExit(f"could not write {path}")
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
