"""Small, dependency-free SVG charts: grouped or stacked bars, and lines.

The same SVG goes inline into the HTML report and, through fpdf2's SVG
support, into the PDF; ``font`` names a family both understand and ``markup``
lets the PDF side put text in fallback fonts or replace what no font has.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from html import escape
from typing import Callable, Literal, Sequence

__all__ = ["Series", "chart_svg", "nice_ticks", "compact_number", "fixed", "PALETTE"]

PALETTE = ("#4e79a7", "#e15759", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1",
           "#9c755f", "#ff9da7", "#bab0ac")
_FONT_SIZE = 11
_CHAR_W = 6.4  # average advance of an 11 px sans-serif character
_MAX = sys.float_info.max


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``lo..hi`` (steps of 1, 2 or 5 times a power of ten)."""
    lo, hi = max(lo, -_MAX), min(hi, _MAX)  # stacked bars of 1e308 add up to infinity
    if hi <= lo:
        hi = lo + 1
    # Divided before subtracting, as the span of -1e308..1e308 is past what a float holds;
    # a span of values near 5e-324 has no step a float can hold: 1e-300 is the least.
    raw = max(hi / count - lo / count, 1e-300)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start, stop = math.floor(lo / step), math.ceil(hi / step)
    # 12 significant digits take off a float's noise (0.30000000000000004) at any scale,
    # and a tick past the largest float stops there.
    return [max(-_MAX, min(_MAX, float(f"{i * step:.12g}"))) for i in range(start, stop + 1)]


def fixed(v: float, places: int, *, grouped: bool = False) -> str:
    """``v`` with ``places`` decimals, rounded as the number reads (half away from zero).

    A float's binary value can sit just under its decimal: 2.675 is 2.67499999..., which
    ``f"{v:.2f}"`` shows as 2.67, where SQLite's own round() and printf() say 2.68.
    Rounding the shortest text that reads back as ``v`` gives what the database shows.
    """
    # Room for every digit of any float (the default context holds 28, and 1e30 has 31).
    d = Decimal(repr(v)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP,
                                  context=Context(prec=400))
    return f"{d:,}" if grouped else f"{d}"


def compact_number(v: float) -> str:
    """``1500 -> '1.5k'``, ``2_000_000 -> '2M'``, ``0.25 -> '0.25'``."""
    if abs(v) >= 1e15:
        return f"{v:.3g}"  # "1.8e+308", not 296 digits before a "T"
    for size, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            return fixed(v / size, 1).rstrip("0").rstrip(".") + suffix
    if v == int(v):
        return str(int(v))
    if abs(v) < 1:
        return f"{v:.3g}"  # 0.000123 as itself, not as "0" (nor -0.004 as "-0")
    return fixed(v, 2).rstrip("0").rstrip(".")


def _short(label: str, limit: int = 16) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def chart_svg(kind: Literal["bar", "line"], labels: Sequence[str], series: Sequence[Series], *,
              stacked: bool = False, width: int = 720, height: int = 300,
              font: str = "DejaVu Sans, Verdana, sans-serif",
              markup: Callable[[str], str] | None = None, title: str = "") -> str:
    """An SVG document (as text) plotting ``series`` against the category ``labels``."""
    n = len(labels)
    stacked = stacked and kind == "bar" and len(series) > 1
    if stacked:
        tops = [sum(max(s.values[i] or 0, 0) for s in series) for i in range(n)]
        bottoms = [sum(min(s.values[i] or 0, 0) for s in series) for i in range(n)]
    else:
        vals = [v for s in series for v in s.values if v is not None]
        tops, bottoms = vals or [0], vals or [0]
    ticks = nice_ticks(min(0.0, min(bottoms, default=0)), max(0.0, max(tops, default=0)))
    lo, hi = ticks[0], ticks[-1]
    tick_text = [compact_number(t) for t in ticks]

    legend = len(series) > 1
    left = 10 + _CHAR_W * max(len(t) for t in tick_text)
    top, right, bottom = (30 if legend else 12), 12, 30
    x0, x1, y0, y1 = left, width - right, top, height - bottom
    band = (x1 - x0) / max(n, 1)

    def y(v: float) -> float:
        v = max(lo, min(hi, v))  # a stack past the largest float ends at the scale's end
        return y1 - (v / 2 - lo / 2) / (hi / 2 - lo / 2) * (y1 - y0)  # halves: see nice_ticks

    def t(s: str) -> str:
        return markup(s) if markup else escape(s)

    label = escape(title or kind + " chart")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{label}" '
           f'font-family="{escape(font)}" font-size="{_FONT_SIZE}">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for tick, text in zip(ticks, tick_text):
        ty = y(tick)
        colour = "#9aa0a6" if tick == 0 else "#e3e6ea"
        out.append(f'<line x1="{x0:.1f}" y1="{ty:.1f}" x2="{x1:.1f}" y2="{ty:.1f}" '
                   f'stroke="{colour}" stroke-width="1"/>')
        out.append(f'<text x="{x0 - 6:.1f}" y="{ty + 4:.1f}" text-anchor="end" '
                   f'fill="#5f6368">{t(text)}</text>')

    # X labels: as many as fit side by side, evenly thinned.
    widest = max((len(_short(lb)) for lb in labels), default=1) * _CHAR_W + 10
    every = max(1, math.ceil(widest / band)) if n else 1
    for i, label in enumerate(labels):
        if i % every == 0:
            half = len(_short(label)) * _CHAR_W / 2
            cx = min(max(x0 + band * (i + 0.5), half + 2), width - half - 2)
            out.append(f'<text x="{cx:.1f}" y="{y1 + 17:.1f}" text-anchor="middle" '
                       f'fill="#5f6368">{t(_short(label))}</text>')

    if kind == "bar":
        out += _bars(labels, series, stacked, x0, band, y, t, y1)
    else:
        out += _lines(series, x0, band, y)

    if legend:
        lx = x0
        for k, s in enumerate(series):
            colour = PALETTE[k % len(PALETTE)]
            out.append(f'<rect x="{lx:.1f}" y="9" width="10" height="10" fill="{colour}"/>')
            out.append(f'<text x="{lx + 14:.1f}" y="18" fill="#202124">{t(s.name)}</text>')
            lx += 14 + _CHAR_W * len(s.name) + 16
    out.append("</svg>")
    return "\n".join(out)


def _bars(labels, series, stacked, x0, band, y, t, floor) -> list[str]:
    out = []
    group = band * 0.8
    width = group if stacked else group / len(series)
    show_values = not stacked and len(labels) * len(series) <= 16
    for i in range(len(labels)):
        base_pos = base_neg = 0.0
        for k, s in enumerate(series):
            v = s.values[i]
            if v is None:
                continue
            if stacked:
                start = base_pos if v >= 0 else base_neg
                end = start + v
                if v >= 0:
                    base_pos = end
                else:
                    base_neg = end
                bx = x0 + band * i + (band - group) / 2
            else:
                start, end = 0.0, v
                bx = x0 + band * i + (band - group) / 2 + width * k
            top, bot = sorted((y(start), y(end)))
            h = max(bot - top, 0.5 if v else 0)
            colour = PALETTE[k % len(PALETTE)]
            out.append(f'<rect x="{bx:.2f}" y="{top:.2f}" width="{max(width - 1, 0.6):.2f}" '
                       f'height="{h:.2f}" fill="{colour}"/>')
            if show_values:
                ty, ink = (top - 4, "#202124") if v >= 0 else (bot + 12, "#202124")
                if ty > floor:  # below the axis it would print over the x labels: in the bar
                    ty, ink = bot - 4, "#ffffff"
                out.append(f'<text x="{bx + width / 2:.1f}" y="{ty:.1f}" text-anchor="middle" '
                           f'fill="{ink}">{t(compact_number(v))}</text>')
    return out


def _lines(series, x0, band, y) -> list[str]:
    out = []
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        runs: list[list[str]] = [[]]
        dots = []
        for i, v in enumerate(s.values):
            if v is None:
                runs.append([])
                continue
            px, py = x0 + band * (i + 0.5), y(v)
            runs[-1].append(f"{px:.1f},{py:.1f}")
            dots.append((px, py))
        for run in runs:
            if len(run) > 1:
                out.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                           f'stroke-width="2" stroke-linejoin="round"/>')
        if len(dots) <= 60:
            out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in dots]
    return out
