"""Section results turned into what a reader sees: formatted cells, figures,
chart series. HTML and PDF both render from these views."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ...durations import format_duration, format_size
from ...errors import JobFailed
from .charts import Series, chart_svg, fixed
from .query import CHART_POINTS, SectionResult

__all__ = ["SectionView", "make_view", "display", "EMPTY_NOTE"]

EMPTY_NOTE = "No data for this period."
_WHOLE = re.compile(r"[-+]?\d{1,3}(,\d{3})+|[-+]?\d+")
_GROUPED = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?")


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        # 1e999 is infinity in SQLite: no duration, size or chart bar can show it.
        return float(v) if math.isfinite(v) else None
    if isinstance(v, str):
        text = v.strip()
        # Commas only as thousands separators ("1,234.50"): "1,5" (a decimal comma) is not
        # 15, nor "1.234,50" 1.2345; Python's "1_000" is no number to SQLite or a reader.
        if "_" in text or ("," in text and not _GROUPED.fullmatch(text)):
            return None
        try:
            f = float(text.replace(",", ""))
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


#: Control characters as the marks a reader sees for them (a line break stays one): in
#: HTML and PDF they show as nothing, or a box, and an escape or NUL hides what it is.
_MARKS = {**{c: chr(0x2400 + c) for c in range(0x20) if c != 0x0A}, 0x7F: "\u2421",
          0x09: "\u2192"}


def _visible(text: str) -> str:
    return text.translate(_MARKS)


def display(v: Any, fmt: str | None = None) -> str:
    """A cell value as a reader should see it."""
    if v is None:
        return ""
    if isinstance(v, bytes):
        return f"<{len(v):,} bytes>"
    if fmt == "text" or (fmt is None and not isinstance(v, (int, float))):
        return _visible(str(v))
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if isinstance(v, str) and _WHOLE.fullmatch(v.strip()):
        # A whole number stored as text (past 2**63 an import keeps it so): read as a float
        # it would show other digits than its own.
        v = int(v.strip().replace(",", ""))
    n = _number(v)
    if n is None:
        return _visible(str(v))
    if fmt == "duration":
        # format_duration shows a run's time, never below 0; a column of differences
        # (or of clocks set back) has negative ones, which are not "0 ms".
        return format_duration(n) if n >= 0 else "-" + format_duration(-n)
    # Past 10^15 of its unit a float has no more digits of its own: "1e+300 TB", not 288
    # digits it never held (as a number without a format shows it).
    if fmt == "size":
        return format_size(n) if abs(n) < 1e27 else f"{n / 1e12:.3g} TB"
    if fmt == "percent":
        return f"{n * 100:.1f} %" if abs(n) < 1e13 else f"{n * 100:.3g} %"
    if not isinstance(v, int) and abs(n) >= 1e15:  # a float, or text read as one ("1e30")
        # Past 15 digits a float's own digits end: 1e308 as ",.2f" prints 309 digits, most
        # of them never stored; its shortest text reads back as the same number.
        return repr(n)
    if isinstance(v, int) or (n.is_integer() and abs(n) < 1e15):
        # The int itself where there is one: a float loses digits past 2**53.
        i = v if isinstance(v, int) and not isinstance(v, bool) else int(n)
        # no separator below 10,000 so that years read as years
        return f"{i:,}" if abs(i) >= 10_000 else str(i)
    if abs(n) >= 1:
        return fixed(n, 2, grouped=True)  # a separator from 1,000.00 on
    short = f"{n:.3g}"
    # 0.99999 to three digits is "1", which reads as exactly one: its own digits instead.
    return short if "." in short or "e" in short or n == 0 else repr(n)


@dataclass
class SectionView:
    index: int
    anchor: str
    title: str
    note: str
    show: str
    columns: list[str]
    rows: list[list[str]]  # formatted cells, at most max_rows
    raw_rows: list[tuple[Any, ...]]
    numeric: list[bool]
    total_rows: int
    empty: str | None  # the note shown instead of content
    csv_name: str | None
    figures: list[tuple[str, str]] = field(default_factory=list)
    chart_labels: list[str] = field(default_factory=list)
    chart_series: list[Series] = field(default_factory=list)
    chart_note: str | None = None
    stack: bool = False

    @property
    def shown_rows(self) -> int:
        return len(self.rows)

    @property
    def truncated(self) -> bool:
        return self.total_rows > len(self.rows)

    def svg(self, *, font: str, markup: Callable[[str], str] | None = None) -> str:
        """The chart as SVG text ("" when there is none), its text in ``font``;
        ``markup`` turns text into SVG markup (default: escaped as it is)."""
        if not self.chart_series or self.empty:
            return ""
        return chart_svg(self.show, self.chart_labels, self.chart_series,  # type: ignore[arg-type]
                         stacked=self.stack, title=self.title, font=font, markup=markup)


def make_view(index: int, anchor: str, res: SectionResult, *, csv_name: str | None) -> SectionView:
    s = res.section
    fmts = s.format
    view = SectionView(
        index=index, anchor=anchor, title=s.title, note=s.note, show=s.show,
        columns=res.columns, rows=[], raw_rows=res.rows[: s.max_rows], numeric=[],
        total_rows=res.row_count, empty=None, csv_name=csv_name, stack=s.stack)
    if res.cut:
        view.note = " ".join(x for x in (s.note, f"Only the first {res.row_count:,} rows "
                                         f"are read: the query gives more "
                                         f"(csv_max_rows).") if x)
    if res.missing:
        view.empty = f"No data yet: {res.missing.removeprefix('no data yet: ')}."
        return view
    if res.row_count == 0:
        view.empty = EMPTY_NOTE
        return view
    view.numeric = [
        all(isinstance(r[i], (int, float)) for r in res.rows if r[i] is not None)
        and any(r[i] is not None for r in res.rows)
        for i in range(len(res.columns))]
    view.rows = [[display(v, fmts.get(c)) for c, v in zip(res.columns, r)]
                 for r in view.raw_rows]
    if s.show == "figure":
        first = res.rows[0]
        # NULL (the sum of no rows) as a dash: an empty card reads as a broken report.
        view.figures = [(c, "—" if v is None else display(v, fmts.get(c)))
                        for c, v in zip(res.columns, first)]
    elif s.show in ("bar", "line"):
        _chart_data(view, res)
    return view


def _chart_data(view: SectionView, res: SectionResult) -> None:
    rows = res.rows[:CHART_POINTS]
    label_format = res.section.format.get(res.columns[0])
    view.chart_labels = [display(r[0], label_format) or "(none)" for r in rows]
    skipped = []
    for i, col in enumerate(res.columns[1:], start=1):
        values = [_number(r[i]) for r in rows]
        if all(v is None for v in values):
            skipped.append(col)
            continue
        view.chart_series.append(Series(col, values))
    if not view.chart_series and all(r[i] is None for r in rows
                                     for i in range(1, len(res.columns))):
        # Only NULLs (a week with no amounts): this period's answer, not a broken query.
        cols = ", ".join(repr(c) for c in skipped)
        view.empty = f"No numbers to chart for this period: {cols} hold only empty values."
        return
    if not view.chart_series:
        cols = ", ".join(repr(c) for c in skipped)
        raise JobFailed(f"section {view.title!r}: a {view.show} chart needs numbers in the "
                        f"columns after the first; {cols} hold none", retry=False)
    notes = []
    if res.row_count > len(rows):
        notes.append(f"The chart shows the first {len(rows):,} of {res.row_count:,} rows.")
    if skipped:
        notes.append("Not charted (no numbers): " + ", ".join(skipped) + ".")
    view.chart_note = " ".join(notes) or None
