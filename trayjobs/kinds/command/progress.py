"""Progress read from a program's own output, with no change to the program.

Four forms are understood, tried in this order:

- a JSON line ``{"progress": 3, "total": 10, "message": "..."}``;
- ``PROGRESS 3/10 message``;
- rsync's ``--info=progress2`` line (``1,234,567  45%  10.00MB/s  0:00:12 (xfr#3, to-chk=7/10)``);
- any line ending in a percentage (``copying... 42%``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

__all__ = ["Progress", "parse_progress"]

_NUM = r"(\d+(?:\.\d+)?)"
_PROGRESS = re.compile(rf"^PROGRESS\s+{_NUM}\s*/\s*{_NUM}(?:\s+(.*))?$")
_RSYNC = re.compile(r"^\s*([\d,.]+[KMGT]?)\s+(\d{1,3})%\s+(\S+/s)\s+(\d+:\d\d:\d\d)"
                    r"(?:\s+\((.*)\))?\s*$")
_PERCENT = re.compile(rf"{_NUM}\s*%\s*$")


@dataclass(frozen=True)
class Progress:
    done: float
    total: float | None
    message: str | None
    unit: str | None = None
    #: A line written for trayjobs (JSON, PROGRESS): it is not worth a log line of its own.
    protocol: bool = False


def parse_progress(line: str) -> Progress | None:
    """The progress ``line`` reports, or ``None``."""
    text = line.strip()
    if not text:
        return None
    if text[0] == "{" and '"progress"' in text:
        try:
            data = json.loads(text)
            done = float(data["progress"])
            total = float(data["total"]) if data.get("total") is not None else None
        except (ValueError, KeyError, TypeError, OverflowError):  # OverflowError: 1e400 as an int
            return None
        if not _finite(done, total):
            return None
        message = data.get("message")
        return Progress(done, total, str(message) if message is not None else None,
                        protocol=True)
    if text.startswith("PROGRESS"):
        m = _PROGRESS.match(text)
        if m and _finite(float(m[1]), float(m[2])):
            return Progress(float(m[1]), float(m[2]), m[3] or None, protocol=True)
    if "%" not in text:
        return None
    m = _RSYNC.match(text)
    if m:
        files = f" ({m[5]})" if m[5] else ""
        return Progress(float(m[2]), 100.0, f"{m[1]} bytes at {m[3]}, {m[4]}{files}", "%")
    m = _PERCENT.search(text)
    if m and float(m[1]) <= 100:
        message = text[:m.start()].strip(" :-[](|") or None
        return Progress(float(m[1]), 100.0, message, "%")
    return None


def _finite(*numbers: float | None) -> bool:
    """NaN and infinity (``NaN``, ``1e999`` in JSON, 400 digits) say no progress, and would
    make a bar of nothing (a window's progress bar cannot be set to NaN)."""
    return all(n is None or math.isfinite(n) for n in numbers)
