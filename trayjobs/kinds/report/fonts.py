"""Fonts for the PDF: one main TrueType family, and fallbacks for the scripts it lacks.

The main font (DejaVu on Linux, Arial/Segoe UI elsewhere) covers Latin, Greek,
Cyrillic and more, but no Chinese, Japanese or Korean. For a character it lacks,
:class:`FontFinder` asks fontconfig (``fc-list :charset=...``) for an installed
font that has it, or else tries a few well-known files, and reads the font's
own character map to be sure. A character no font has is the caller's to replace
with a visible placeholder.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from fontTools.ttLib import TTFont

__all__ = ["find_fonts", "FontFinder", "font_chars"]

_WINDIR = Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts"
_FONT_PAIRS = [
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("/usr/local/share/fonts/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("/System/Library/Fonts/Supplemental/Arial.ttf", "Arial Bold.ttf"),
    ("/Library/Fonts/Arial.ttf", "Arial Bold.ttf"),
    (str(_WINDIR / "segoeui.ttf"), "segoeuib.ttf"),
    (str(_WINDIR / "arial.ttf"), "arialbd.ttf"),
]
# Tried after fontconfig (or without it, on Windows and macOS): wide-coverage fonts.
KNOWN_FALLBACKS = [
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/google-droid-sans-fonts/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    str(_WINDIR / "msyh.ttc"), str(_WINDIR / "msgothic.ttc"), str(_WINDIR / "malgun.ttf"),
    str(_WINDIR / "seguisym.ttf"),
]
_OUTLINE_FONTS = (".ttf", ".otf", ".ttc", ".otc")
MAX_LOOKUPS = 40  # fontconfig queries per report: a table of unknown symbols stays fast


def find_fonts() -> tuple[Path, Path] | None:
    """(regular, bold) TrueType files to embed, or None to use the core fonts."""
    for regular, bold in _FONT_PAIRS:
        reg = Path(regular)
        if reg.is_file():
            b = reg.with_name(bold)
            return reg, (b if b.is_file() else reg)
    return None


@functools.lru_cache(maxsize=32)
def font_chars(path: str, index: int = 0) -> frozenset[int]:
    """The code points ``path`` (face ``index`` of a collection) has glyphs for."""
    try:
        with TTFont(path, fontNumber=index, lazy=True) as font:
            return frozenset(font.getBestCmap() or ())
    except Exception:  # not a font fontTools can read: it covers nothing we can use
        return frozenset()


class FontFinder:
    """Finds installed fonts for characters, each font once; remembers what has none."""

    def __init__(self) -> None:
        self._lookups = 0
        self._fc_list = shutil.which("fc-list")
        self.uncovered: set[str] = set()

    def font_for(self, char: str, *, skip: set[tuple[str, int]]) -> tuple[str, int] | None:
        """A font file (and face index) not in ``skip`` that has ``char``, or None."""
        if char in self.uncovered:
            return None
        code = ord(char)
        for candidate, checked in self._candidates(code):
            # fontconfig has checked the font's characters; a known file is read to be sure.
            if candidate not in skip and (checked or code in font_chars(*candidate)):
                return candidate
        self.uncovered.add(char)
        return None

    def _candidates(self, code: int) -> list[tuple[tuple[str, int], bool]]:
        found = []
        if self._fc_list and self._lookups < MAX_LOOKUPS:
            self._lookups += 1
            try:
                out = subprocess.run(
                    [self._fc_list, "--format", "%{file}\t%{index}\n", f":charset={code:x}"],
                    capture_output=True, text=True, timeout=10, check=False).stdout
            except (OSError, subprocess.SubprocessError):
                out = ""
            for line in sorted(out.splitlines()):
                path, _, index = line.partition("\t")
                if path.lower().endswith(_OUTLINE_FONTS) and index.isdigit():
                    found.append(((path, int(index)), True))
        found += [((p, 0), False) for p in KNOWN_FALLBACKS if Path(p).is_file()]
        return found
