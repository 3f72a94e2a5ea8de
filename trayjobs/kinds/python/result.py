"""A function's return value as a run's result: JSON data the run history can hold.

What JSON has not is made into what it has, as the engine does for any kind (``str()``),
with a few that are better said otherwise: a set is a list, and a whole number too long
for Python to write as text (over 4,300 digits, ``sys.get_int_max_str_digits()``) is
written out as text all the same, where reading it back as a number would fail. An
object whose ``str()`` raises is named by its type. A result that holds itself cannot be
stored: said once, not retried.
"""

from __future__ import annotations

import numbers
import sys
from decimal import Decimal
from typing import Any

from ...errors import JobFailed

__all__ = ["as_result", "jsonable", "BIG_INT_DIGITS"]

#: Digits of a whole number written out in full at most; a longer one is said in words.
#: Writing a number as text takes time growing with the square of its length (which is
#: why Python stops at 4,300): 100,000 digits take a few hundredths of a second.
BIG_INT_DIGITS = 100_000


def as_result(value: Any, target: str) -> dict[str, Any]:
    """A function's return value as a run's result."""
    whole = isinstance(value, str) or value is None or isinstance(value, dict)
    value, notes = jsonable(value)
    if not whole:  # a number, a list: said in the summary, kept as it is under "value"
        result = {"summary": _text(value), "value": value}
    elif value is None:
        result = {"summary": f"{target} finished"}
    elif isinstance(value, dict):
        if value.get("summary") is None:
            result = ({**value, "summary": f"{target} finished"} if "summary" in value else {
                "summary": f"{target} finished", **value})
        else:
            result = value if isinstance(value["summary"], str) else {
                **value, "summary": _text(value["summary"])}
    else:
        result = {"summary": value}
    if notes:
        result = {**result, "warnings": [*_list(result.get("warnings")), *notes]}
    return result


def _list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def jsonable(value: Any) -> tuple[Any, list[str]]:
    """``value`` as JSON data (see the module), and notes on what was changed that the
    user would not expect (a long number made text)."""
    notes: list[str] = []
    try:
        return _walk(value, "", set(), notes), notes
    except RecursionError:
        raise JobFailed("the job's result could not be stored: it is nested too deep "
                        "(lists or dicts within each other thousands of times)",
                        retry=False) from None


def _walk(value: Any, at: str, seen: set[int], notes: list[str]) -> Any:
    if value is None or isinstance(value, (str, bool, float)):
        return value
    if isinstance(value, numbers.Integral):  # numpy's too, which JSON would make text
        value = int(value)
        if value.bit_length() < 14_000:  # under 4,215 digits: JSON as it is
            return value
        return _big_int(value, at, notes)
    if isinstance(value, numbers.Real) and not isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        if id(value) in seen:
            raise JobFailed(f"the job's result could not be stored: it holds itself (at "
                            f"{at or 'the top'}); return data that holds no reference to "
                            f"itself", retry=False)
        seen.add(id(value))
        try:
            if isinstance(value, dict):
                out = {}
                for k, v in value.items():
                    name = _key(k, at, notes)
                    out[name] = _walk(v, f"{at}.{_text(name)}" if at else _text(name), seen,
                                      notes)
                return out
            items = value
            if isinstance(value, (set, frozenset)):
                try:
                    items = sorted(value)
                except TypeError:  # mixed types: in the set's order
                    items = list(value)
            return [_walk(v, f"{at}[{i}]", seen, notes) for i, v in enumerate(items)]
        finally:
            seen.discard(id(value))
    return _text(value)


def _key(key: Any, at: str, notes: list[str]) -> Any:
    if isinstance(key, int) and not isinstance(key, bool) and key.bit_length() >= 14_000:
        return _big_int(key, at, notes)
    if key is None or isinstance(key, (str, int, float, bool)):
        return key  # JSON's own rules for keys apply (text, numbers, true/false, None)
    return _text(key)  # a date, a path, a tuple: its text, as for a value


def _big_int(value: int, at: str, notes: list[str]) -> str:
    where = at or "value"
    digits = int(value.bit_length() * 0.30103) + 1  # within one of the number's digits
    if digits > BIG_INT_DIGITS:
        notes.append(f"the result's {where} is a whole number of about {digits:,} digits, "
                     f"too long to write out: stored as a note of its size")
        return f"<a whole number of about {digits:,} digits>"
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        text = str(value)
    finally:
        sys.set_int_max_str_digits(limit)
    notes.append(f"the result's {where} is a whole number of {len(text.lstrip('-')):,} "
                 f"digits, more than JSON readers take: stored as text")
    return text


def _text(value: Any) -> str:
    """``str(value)``, or its type's name where that raises (job code's own class)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() >= 14_000:
        return _big_int(value, "", [])
    try:
        text = str(value)
    except Exception:
        return f"<{type(value).__name__} object>"
    return text if isinstance(text, str) else f"<{type(value).__name__} object>"
