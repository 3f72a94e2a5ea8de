"""Human durations ("15m", "1h30m", "2d") and sizes ("100 MB", "1.5GiB")."""

from __future__ import annotations

import math
import re

from .toml_text import shown as _shown

__all__ = ["parse_duration", "format_duration", "parse_size", "format_size", "MAX_DURATION"]

#: The longest duration anything takes (an interval, a timeout, a wait, ``--in``): about ten
#: years. Longer ones are mistakes, and dates that far out overflow the clock's arithmetic.
MAX_DURATION = 3660 * 86400.0

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.I)


def parse_duration(text: str | int | float, *, limit: float = MAX_DURATION) -> float:
    """Seconds in ``text``: ``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"``, or a plain number of
    seconds; ``ValueError`` for anything else, NaN, infinity, or more than ``limit``."""
    if isinstance(text, bool):  # as the file writes it
        raise ValueError(f"{'true' if text else 'false'} is not a duration; write e.g. "
                         f"'90s', '15m', '1h30m' or '2d'")
    if isinstance(text, (int, float)):
        if isinstance(text, float) and not math.isfinite(text):
            raise ValueError(f"not a number (got {text!r})")
        if text < 0:
            raise ValueError(f"{_shown(text)} is negative")
        return _bounded(text, text, limit)
    s = str(text).strip().lower().replace(" ", "")
    if not s:
        raise ValueError("empty duration")
    if s.startswith("-") and re.fullmatch(f"(?:{_DURATION_RE.pattern})+", s[1:], re.I):
        # "-5m": said as -5 is, not as a typo
        raise ValueError(f"{_shown(text)} is negative; write e.g. '{s[1:]}'")
    pos = 0
    total = 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2).lower()]
        pos = m.end()
    if pos != len(s):
        try:
            seconds = float(s)
        except ValueError:
            raise ValueError(
                f"{_shown(text)} is not a duration; write e.g. '90s', '15m', '1h30m' or '2d'"
            ) from None
        if not math.isfinite(seconds):
            raise ValueError(f"{_shown(text)} is not a number")
        return parse_duration(seconds, limit=limit)
    return _bounded(total, text, limit)


def _bounded(seconds: float | int, text: object, limit: float) -> float:
    # Compared before float(): a TOML integer may be too large for a float at all.
    if seconds > limit:
        raise ValueError(f"{_shown(text)} is too long: at most {_limit_text(limit)}")
    return float(seconds)


def _limit_text(limit: float) -> str:
    days = limit / 86400
    return f"{days:.0f} days (about {days / 365.25:.0f} years)" if days >= 730 else \
        format_duration(limit)


def format_duration(seconds: float | None) -> str:
    """Short human form: ``"40 s"``, ``"12 min"``, ``"1 h 05 min"``, ``"3 d 4 h"``."""
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, s = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s" if minutes < 10 and s else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
    "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.I)


def parse_size(text: str | int) -> int:
    """Bytes in ``text``: ``"100 MB"``, ``"1.5GiB"``, ``"512"``; KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    m = _SIZE_RE.match(str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size; write e.g. '100 MB', '1.5 GiB' or '512 KB'")
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def format_size(n: float | None) -> str:
    if n is None:
        return ""
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
