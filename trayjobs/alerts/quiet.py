"""Quiet hours: a span of the day, such as ``"22:00-07:00"``, that may cross midnight."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

__all__ = ["check_span", "in_quiet_hours", "quiet_end"]


def check_span(value: str) -> str:
    """``value`` as ``"HH:MM-HH:MM"`` if it is a span of two times of day (``"7:00 - 9:30"``
    is read too); ``ValueError`` saying what to write."""
    m = re.fullmatch(r"(\d{1,2}):(\d\d)\s*-\s*(\d{1,2}):(\d\d)", value.strip())
    if not m:
        raise ValueError(f"{value!r}: write a span of two times, e.g. '22:00-07:00'")
    for hour, minute in (m.group(1, 2), m.group(3, 4)):
        if int(hour) > 23 or int(minute) > 59:
            raise ValueError(f"{value!r}: {hour}:{minute} is not a time of day "
                             f"(00:00 to 23:59)")
    start, end = (f"{int(h):02d}:{mm}" for h, mm in (m.group(1, 2), m.group(3, 4)))
    if start == end:  # all day, or never? Quiet never, as it was read
        raise ValueError(f"{value!r}: it starts and ends at the same time, so it is no span; "
                         f"write e.g. '22:00-07:00' (or leave quiet hours out)")
    # The one spelling the rest reads: "7:00" was refused, though it is how many write it.
    return f"{start}-{end}"


def _minutes(spec: str) -> tuple[int, int] | None:
    try:
        a, b = spec.strip().split("-")
        return int(a[:2]) * 60 + int(a[3:5]), int(b[:2]) * 60 + int(b[3:5])
    except (ValueError, IndexError):
        return None


def in_quiet_hours(spec: str | None, now: datetime | None = None) -> bool:
    """True inside ``"22:00-07:00"`` (local time; a span may cross midnight)."""
    span = _minutes(spec) if spec else None
    if span is None or span[0] == span[1]:
        return False
    start, end = span
    now = now or datetime.now()
    minute = now.hour * 60 + now.minute
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def quiet_end(spec: str | None, now: datetime) -> datetime | None:
    """When the quiet hours that hold ``now`` end; ``None`` outside them."""
    if not in_quiet_hours(spec, now):
        return None
    _, end = _minutes(spec)  # type: ignore[misc]
    at = now.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)
