"""A value from the jobs file shown in a message as the file writes it: ``true``,
``1979-05-27``, ``{ x = 1 }``, not Python's ``True``, ``datetime.date(1979, 5, 27)`` or
``{'x': 1}``; cut short, as a value may be megabytes long."""

from __future__ import annotations

from datetime import date, time
from typing import Any

__all__ = ["shown", "as_toml"]


def shown(value: Any, width: int = 40) -> str:
    """``value`` as TOML writes it, at most ``width`` characters."""
    text = as_toml(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def as_toml(value: Any, depth: int = 0) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, time)):  # a datetime is a date
        return value.isoformat()
    if depth < 3 and isinstance(value, list):
        return "[" + ", ".join(as_toml(v, depth + 1) for v in value[:20]) + "]"
    if depth < 3 and isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {as_toml(v, depth + 1)}"
                                for k, v in list(value.items())[:20]) + " }"
    return repr(value)
