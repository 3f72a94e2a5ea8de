"""The PDF report, drawn with fpdf2: readable Unicode text, charts as vector SVG.

A TrueType font that covers most scripts is looked for in the usual system
places (DejaVu on Linux, Arial/Segoe UI elsewhere); text it has no glyphs for
(Chinese, Japanese, Korean, ...) is drawn in a fallback font found by
:mod:`.fonts`. A character no installed font has is printed as a visible
placeholder (U+FFFD, or "?") and reported by :func:`render_pdf`, never dropped.
When no TrueType font is found at all, the PDF uses Helvetica and everything
outside Latin-1 becomes "?".
"""

from __future__ import annotations

import io
import unicodedata
from html import escape
from pathlib import Path
from typing import Any, Callable

from fpdf import FPDF, FontFace
from fpdf.enums import XPos, YPos

from .fonts import FontFinder, find_fonts
from .view import SectionView

__all__ = ["PDF_MAX_ROWS", "render_pdf", "find_fonts"]

FAMILY = "ReportSans"
FALLBACK = "ReportFallback"
_INK, _MUTED, _LINE = (32, 33, 36), (95, 99, 104), (227, 230, 234)
_PLAIN = str.maketrans({"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"',
                        "…": "...", "→": "->", "•": "*", "\u202f": " ", "\u2009": " "})
# Characters that draw nothing (controls, format marks, line breaks): never looked up.
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}


try:  # fpdf2 2.7.7 and later
    from fpdf.bidi import BidiParagraph
except ImportError:  # pragma: no cover - an older fpdf2 draws right-to-left text as stored
    BidiParagraph = None


def _visual(text: str) -> str:
    """``text`` in the order it is drawn: fpdf2 puts characters left to right as stored
    (without HarfBuzz it applies no bidirectional layout), so Hebrew and Arabic read
    backwards ("שלום" as "םולש"). Each line is reordered by the Unicode algorithm."""
    if BidiParagraph is None or not any(unicodedata.bidirectional(c) in ("R", "AL")
                                        for c in text):
        return text
    return "\n".join(BidiParagraph(line, alias="{nb}").get_reordered_string()
                     for line in text.split("\n"))


def _latin1(text: str) -> str:
    text = unicodedata.normalize("NFC", str(text).translate(_PLAIN))
    return text.encode("latin-1", "replace").decode("latin-1")


#: Cells laid out between two cancel checks: a few milliseconds' work.
CHECK_EVERY = 50


class _ReportPDF(FPDF):
    footer_text = ""
    family_name = "helvetica"

    def __init__(self, *args: Any, check_cancelled: Callable[[], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.check_cancelled = check_cancelled
        self._cells = 0
        self.missing: set[str] = set()  # characters printed as the placeholder
        self.placeholder = "?"
        self._covered: set[int] = set()
        self._fallbacks: dict[tuple[str, int], str] = {}  # font file -> its family here
        self._fallback_of: dict[int, str] = {}
        self._finder = FontFinder()

    def use_truetype(self, regular: Path, bold: Path) -> None:
        self.add_font(FAMILY, "", str(regular))
        self.add_font(FAMILY, "B", str(bold))
        self.family_name = FAMILY
        key = FAMILY.lower()
        self._covered = set(self.fonts[key].cmap) & set(self.fonts[key + "B"].cmap)
        self.placeholder = "\ufffd" if 0xFFFD in self._covered else "?"

    def multi_cell(self, *args: Any, **kwargs: Any) -> Any:
        # A table is laid out cell by cell (twice) when its ``with`` block ends: a
        # thousand rows take seconds, and a cancel must not wait for them.
        self._cells += 1
        if self._cells % CHECK_EVERY == 0:
            self.check()
        return super().multi_cell(*args, **kwargs)

    def check(self) -> None:
        if self.check_cancelled is not None:
            self.check_cancelled()

    def close_fonts(self) -> None:
        for font in self.fonts.values():
            close = getattr(font, "close", None)  # TrueType fonts hold their file open
            if close is not None:
                close()

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family_name, size=8)
        self.set_text_color(*_MUTED)
        self.cell(0, 6, self.clean(f"{self.footer_text} · page {self.page_no()} of {{nb}}"),
                  align="C")

    def clean(self, text: Any) -> str:
        """``text`` as it can be printed: characters no font has become the placeholder."""
        text = str(text)
        if self.family_name != FAMILY:
            plain = _latin1(text)
            # _latin1 maps one character to one, except "…" to "...": compare before that.
            wide = unicodedata.normalize("NFC", text.translate(_PLAIN))
            self.missing.update(c for c in wide if c != "?" and c not in plain)
            return plain
        if all(ord(c) in self._covered for c in text):
            return _visual(text)
        return _visual("".join(c if self._printable(c) else self._missing(c) for c in text))

    def _printable(self, c: str) -> bool:
        code = ord(c)
        if code in self._covered or code in self._fallback_of:
            return True
        if unicodedata.category(c) in _INVISIBLE:
            return True  # draws nothing whichever font it is in
        found = self._finder.font_for(c, skip=set(self._fallbacks))
        if found is None:
            return False
        family = f"{FALLBACK}{len(self._fallbacks) + 1}"
        try:
            self.add_font(family, "", found[0], collection_font_number=found[1])
        except Exception:  # a font fpdf2 cannot embed: look no further for this character
            self._finder.uncovered.add(c)
            return False
        self._fallbacks[found] = family
        for code_point in self.fonts[family.lower()].cmap:
            self._fallback_of.setdefault(code_point, family)
        # exact_match=False: headings are bold, and the fallback fonts have no bold face.
        self.set_fallback_fonts(list(self._fallbacks.values()), exact_match=False)
        return code in self._fallback_of

    def _missing(self, c: str) -> str:
        self.missing.add(c)
        return self.placeholder

    def svg_text(self, text: str) -> str:
        """``text`` as SVG markup for a chart: runs the main font lacks in their fallback
        font (fpdf2 does not apply fallback fonts inside SVG by itself)."""
        text = self.clean(text)
        if self.family_name != FAMILY or all(ord(c) in self._covered for c in text):
            return escape(text)
        out, run, family = [], [], None
        for c in text + "\0":
            f = None if ord(c) in self._covered or c == "\0" else self._fallback_of.get(ord(c))
            if f != family or c == "\0":
                if run:
                    part = escape("".join(run))
                    out.append(f'<tspan font-family="{family}">{part}</tspan>' if family else part)
                run, family = [], f
            run.append(c)
        return "".join(out)


def render_pdf(report: dict[str, Any], views: list[SectionView], dest: Path, *,
               check_cancelled: Callable[[], None] | None = None,
               on_section: Callable[[SectionView], None] | None = None) -> set[str]:
    """Write the PDF to ``dest``; the characters that no font had (printed as a placeholder).
    ``check_cancelled`` is called every few cells (it raises to stop), ``on_section`` as
    each section begins."""
    pdf = _ReportPDF(format="A4", check_cancelled=check_cancelled)
    try:
        _draw(pdf, report, views, on_section)
        pdf.output(str(dest))  # (closes the font files)
    except BaseException:
        pdf.close_fonts()  # a cancel, say: their files are not left open
        raise
    return pdf.missing


def _draw(pdf: _ReportPDF, report: dict[str, Any], views: list[SectionView],
          on_section: Callable[[SectionView], None] | None) -> None:
    fonts = find_fonts()
    if fonts:
        pdf.use_truetype(*fonts)
    pdf.footer_text = report["title"]
    pdf.set_title(pdf.clean(report["title"]))
    pdf.set_creator("trayjobs")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    f = pdf.family_name

    pdf.set_text_color(*_INK)
    pdf.set_font(f, "B", 20)
    pdf.multi_cell(0, 9, pdf.clean(report["title"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(f, "", 10)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(0, 5, pdf.clean(f"{report['period']} · generated {report['generated']}"),
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if report.get("note"):
        pdf.multi_cell(0, 5, pdf.clean(report["note"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for v in views:
        pdf.check()
        if on_section is not None:
            on_section(v)
        _section(pdf, v)
    pdf.check()


def _section(pdf: _ReportPDF, v: SectionView) -> None:
    f, width = pdf.family_name, pdf.epw
    chart = v.show in ("bar", "line") and not v.empty
    # A heading goes where what it heads begins: a chart does not break across pages.
    if pdf.get_y() > pdf.page_break_trigger - (20 + width * 300 / 720 if chart else 40):
        pdf.add_page()
    pdf.ln(6)
    pdf.set_text_color(*_INK)
    pdf.set_font(f, "B", 13)
    pdf.multi_cell(0, 7, pdf.clean(v.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(f, "", 9)
    pdf.set_text_color(*_MUTED)
    if v.note:
        pdf.multi_cell(0, 4.5, pdf.clean(v.note), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if v.empty:
        pdf.multi_cell(0, 6, pdf.clean(v.empty), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return
    pdf.ln(1)
    if v.show == "figure":
        _figures(pdf, v)
    elif v.show in ("bar", "line"):
        height = width * 300 / 720
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
        svg = v.svg(font=f"{f}, sans-serif", markup=pdf.svg_text)
        pdf.image(io.BytesIO(svg.encode("utf-8")), x=pdf.l_margin, w=width)
        if v.chart_note:
            pdf.set_font(f, "", 8)
            pdf.set_text_color(*_MUTED)
            pdf.multi_cell(0, 4, pdf.clean(v.chart_note), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    else:
        _table(pdf, v)
        pdf.set_font(f, "", 8)
        pdf.set_text_color(*_MUTED)
        printed = min(v.shown_rows, PDF_MAX_ROWS)
        shown = f"first {printed:,} of " if v.total_rows > printed else ""
        rows = "row" if v.total_rows == 1 else "rows"
        cap = (f" · a PDF table stops at {PDF_MAX_ROWS:,} rows: the HTML shows "
               f"{v.shown_rows:,}" if v.shown_rows > PDF_MAX_ROWS else "")
        pdf.multi_cell(0, 5, pdf.clean(f"{shown}{v.total_rows:,} {rows}{cap}"
                                       + (f" · {v.csv_name}" if v.csv_name else "")),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _figures(pdf: _ReportPDF, v: SectionView) -> None:
    f = pdf.family_name
    per_row = max(1, len(v.figures) if len(v.figures) <= 5 else 4)
    gap = 4
    # Fewer cards to a row where a value would not fit one even in small type: a number cut
    # short ("1,234,567,89…") reads as another number. Text longer than a line is cut.
    pdf.set_font(f, "B", 9)
    widths = [pdf.get_string_width(pdf.clean(" ".join(str(val).split())))
              for _, val in v.figures]
    widest = max([wd for wd in widths if wd <= pdf.epw - 6], default=0)
    while per_row > 1 and widest > (pdf.epw - gap * (per_row - 1)) / per_row - 6:
        per_row -= 1
    w = (pdf.epw - gap * (per_row - 1)) / per_row
    for start in range(0, len(v.figures), per_row):
        y = pdf.get_y()
        if y + 20 > pdf.page_break_trigger:
            pdf.add_page()
            y = pdf.get_y()
        for k, (label, value) in enumerate(v.figures[start:start + per_row]):
            x = pdf.l_margin + k * (w + gap)
            pdf.set_draw_color(*_LINE)
            pdf.rect(x, y, w, 18, round_corners=True, corner_radius=2)
            pdf.set_xy(x + 3, y + 2)
            pdf.set_text_color(*_INK)
            pdf.cell(w - 6, 8, _fit(pdf, value, w - 6, "B", 15, 9))
            pdf.set_xy(x + 3, y + 10.5)
            pdf.set_text_color(*_MUTED)
            pdf.cell(w - 6, 5, _fit(pdf, label, w - 6, "", 8, 6))
        pdf.set_xy(pdf.l_margin, y + 18 + gap)


def _fit(pdf: _ReportPDF, text: str, width: float, style: str, size: float,
         least: float) -> str:
    """``text`` on one line of a figure's card, the font set to draw it: smaller down to
    ``least`` points, then cut with "…". Wider, it ran into the next card, and two
    numbers side by side read as one ("123,456,789.12246,913,578.25")."""
    text = pdf.clean(" ".join(str(text).split()))
    while True:
        pdf.set_font(pdf.family_name, style, size)
        if pdf.get_string_width(text) <= width or size <= least:
            break
        size = max(least, size - 1)
    if pdf.get_string_width(text) <= width:
        return text
    while len(text) > 1 and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


MIN_COL_MM = 16   # narrower than this and a table cell cannot hold a word
MAX_CELL = 160    # characters of one cell printed in the PDF (the CSV has all)
MAX_LINES = 12    # and lines of it
#: Rows of one table the PDF prints. fpdf2 lays out every cell (wrapping its text) twice,
#: about 0.5 ms a cell: max_rows = 100000 took two minutes, several hundred MB and
#: thousands of pages nobody reads. The HTML shows max_rows, the CSV every row.
PDF_MAX_ROWS = 1000


def _table(pdf: _ReportPDF, v: SectionView) -> None:
    f = pdf.family_name
    fit = max(1, int(pdf.epw // MIN_COL_MM))
    cols = list(range(min(len(v.columns), fit)))
    n = len(cols)
    size = 8.5 if n <= 6 else 7 if n <= 10 else 6
    pdf.set_font(f, "", size)
    pdf.set_text_color(*_INK)
    pdf.set_draw_color(*_LINE)
    weights = []
    for i in cols:
        longest = max([len(v.columns[i])] + [len(r[i]) for r in v.rows[:100]])
        weights.append(min(longest, 40) + 3)  # + room for the cell padding
    # A heading's words in bold are wider than its letters count: "Succeeded" broke as "d".
    pdf.set_font(f, "B", size)
    least = [min(max([MIN_COL_MM] + [pdf.get_string_width(word) + 4
                                      for word in pdf.clean(_shorten(v.columns[i])).split()]),
                 60)
             for i in cols]
    pdf.set_font(f, "", size)
    for _ in range(3):  # give every column at least MIN_COL_MM of the page, or its word
        weights = [max(w, sum(weights) * mm / pdf.epw) for w, mm in zip(weights, least)]
    aligns = tuple("RIGHT" if v.numeric[i] else "LEFT" for i in cols) or "LEFT"
    with pdf.table(col_widths=weights, text_align=aligns, borders_layout="HORIZONTAL_LINES",
                   headings_style=FontFace(emphasis="BOLD", fill_color=(246, 247, 249)),
                   line_height=size * 0.5, padding=(1, 1.5)) as table:
        # A column named by a long text (a CSV's header sentence) is cut as a cell is: a
        # heading taller than the page failed the PDF ("row ... too high").
        table.row([pdf.clean(_shorten(v.columns[i])) for i in cols])
        for r in v.rows[:PDF_MAX_ROWS]:
            table.row([pdf.clean(_shorten(r[i])) for i in cols])
    hidden = len(v.columns) - n
    if hidden:
        pdf.set_font(f, "", 7.5)
        pdf.set_text_color(*_MUTED)
        names = ", ".join(v.columns[n:n + 6]) + (", …" if hidden > 6 else "")
        pdf.set_x(pdf.l_margin)
        pdf.multi_cell(0, 4, pdf.clean(f"{hidden} more column{'s' if hidden > 1 else ''} "
                                       f"({names}) in the HTML and CSV files."),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_x(pdf.l_margin)  # a wide table leaves the cursor at the right margin


def _shorten(text: str) -> str:
    # Lines too: 80 short ones ("x\nx\n...", a list in one cell) made a row taller than a
    # page, which fpdf2 cannot draw, and the whole PDF failed.
    lines = text.split("\n")
    if len(lines) > MAX_LINES:
        text = "\n".join(lines[:MAX_LINES]) + " …"
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"
