"""Report periods: a name such as ``last_7_days`` turned into dates.

A period is a run of whole local days, first and last day included. Queries
see it through named parameters, in two shapes so that both text dates and
epoch timestamps are easy to filter:

* ``:start`` / ``:end`` -- ISO dates (``'2026-11-15'``), both days included:
  ``WHERE day BETWEEN :start AND :end``;
* ``:start_ts`` / ``:end_ts`` -- epoch seconds of local midnight at the start
  of the first day and *after* the last day (end excluded):
  ``WHERE created_at >= :start_ts AND created_at < :end_ts``;
* ``:days`` -- the number of days in the period.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

__all__ = ["Period", "resolve_period", "check_period", "PERIOD_NAMES"]

PERIOD_NAMES = (
    "today", "yesterday", "last_N_days", "this_week", "last_week", "month_to_date",
    "last_month", "quarter_to_date", "last_quarter", "year_to_date", "last_year", "all_time",
    "YYYY-MM", "YYYY-MM-DD..YYYY-MM-DD",
)
_ALIASES = {"this_month": "month_to_date", "this_quarter": "quarter_to_date",
            "this_year": "year_to_date", "all": "all_time"}
_LAST_DAYS = re.compile(r"last_(\d+)_days")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_RANGE = re.compile(r"(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})")
_FAR_PAST = date(1, 1, 1)
_FAR_FUTURE = date(9999, 12, 31)


@dataclass(frozen=True)
class Period:
    name: str
    first: date
    last: date  # included
    label: str

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def params(self) -> dict[str, object]:
        """The named parameters every report query may use."""
        return {
            "start": self.first.isoformat(),
            "end": self.last.isoformat(),
            "start_ts": _midnight(self.first),
            # The day after 9999-12-31 is no date: its midnight is a day past the last's.
            "end_ts": _midnight(self.last + timedelta(days=1)) if self.last < _FAR_FUTURE
            else _midnight(_FAR_FUTURE) + 86400,
            "days": self.days,
        }


def _midnight(d: date) -> float:
    """Epoch seconds of local midnight starting ``d`` (UTC outside what the OS can convert)."""
    try:
        return datetime.combine(d, time()).timestamp()
    except (OverflowError, OSError, ValueError):
        return datetime.combine(d, time(), tzinfo=timezone.utc).timestamp()


def _span(first: date, last: date) -> str:
    if first == last:
        return f"{first:%a %d %b %Y}".replace(" 0", " ")
    if first.year == last.year and first.month == last.month:
        return f"{first.day}–{last:%d %b %Y}".replace("–0", "–")
    if first.year == last.year:
        return f"{first:%d %b} – {last:%d %b %Y}".lstrip("0").replace("– 0", "– ")
    return f"{first:%d %b %Y} – {last:%d %b %Y}".lstrip("0").replace("– 0", "– ")


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _quarter_start(d: date) -> date:
    """The first day of ``d``'s calendar quarter (January, April, July or October)."""
    return date(d.year, (d.month - 1) // 3 * 3 + 1, 1)


def resolve_period(name: str, *, today: date | None = None) -> Period:
    """The period called ``name`` as of ``today`` (default: the local date).

    ``ValueError`` naming the known periods if ``name`` is not one.
    """
    today = today or date.today()
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    title = key.replace("_", " ").capitalize()
    if key == "today":
        first = last = today
    elif key == "yesterday":
        first = last = today - timedelta(days=1)
    elif m := _LAST_DAYS.fullmatch(key):
        n = int(m.group(1))
        if not 1 <= n <= 3660:
            raise ValueError(f"period {name!r}: the number of days must be between 1 and 3660")
        first, last = today - timedelta(days=n - 1), today
        title = f"Last {n} days" if n > 1 else "Today"
    elif key == "this_week":
        first, last = today - timedelta(days=today.weekday()), today
    elif key == "last_week":
        last = today - timedelta(days=today.weekday() + 1)
        first = last - timedelta(days=6)
    elif key == "month_to_date":
        first, last = _month_start(today), today
        title = "Month to date"
    elif key == "last_month":
        last = _month_start(today) - timedelta(days=1)
        first = _month_start(last)
    elif key == "quarter_to_date":
        first, last = _quarter_start(today), today
        title = f"Q{(today.month - 1) // 3 + 1} to date"
    elif key == "last_quarter":
        last = _quarter_start(today) - timedelta(days=1)
        first = _quarter_start(last)
        title = f"Q{(last.month - 1) // 3 + 1} {last.year}"
    elif key == "year_to_date":
        first, last = today.replace(month=1, day=1), today
        title = "Year to date"
    elif key == "last_year":
        first, last = date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
    elif key == "all_time":
        return Period("all_time", _FAR_PAST, _FAR_FUTURE, "All time")
    elif m := _MONTH.fullmatch(key):
        try:
            first = date(int(m.group(1)), int(m.group(2)), 1)
        except ValueError as exc:
            raise ValueError(f"period {name!r}: {exc}") from None
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        return Period(key, first, last, f"{first:%B %Y}")
    elif m := _RANGE.fullmatch(key):
        try:
            first, last = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
        except ValueError as exc:
            raise ValueError(f"period {name!r}: {exc}") from None
        if last < first:
            raise ValueError(f"period {name!r}: the last day is before the first; write the "
                             f"earlier day first: {last}..{first}")
        return Period(key, first, last, _span(first, last))
    else:
        raise ValueError(f"unknown period {name!r}; use one of: {', '.join(PERIOD_NAMES)}")
    return Period(key, first, last, f"{title} · {_span(first, last)}")


def check_period(name: str) -> str:
    """``name`` if it is a valid period (for load-time validation), else ``ValueError``."""
    resolve_period(name, today=date(2000, 1, 15))
    return name
