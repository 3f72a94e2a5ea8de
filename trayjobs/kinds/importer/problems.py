"""What can go wrong with one file, in words a user can act on.

A :class:`FileProblem` stops one file: its transaction is rolled back and the
file is set aside; the message names the file and, where known, the line or
byte offset. A :class:`BadRow` is set aside alone (quarantined) while the rest
of the file imports. :class:`Restart` is internal: the file is read again from
the start after something learned mid-file (a wider column type, a legacy
encoding) that cannot be applied to rows already written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FileProblem", "BadRow", "Restart", "NumberTooLarge", "NumberTooSmall",
           "may_hold_tiny", "lost_to_zero", "printable", "RAW_LIMIT"]

#: Longest raw text kept for a rejected row; the line number finds the rest.
RAW_LIMIT = 4000

_UNPRINTABLE = re.compile("[\x00\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code == 0 or 0xDC00 <= code <= 0xDCFF:  # NUL, or a byte that did not decode
        return f"\\x{code & 0xFF:02x}"
    return f"\\u{code:04x}"  # a lone surrogate from a JSON escape


def printable(text: str, *, limit: int = RAW_LIMIT, more: int = 0) -> str:
    """``text`` safe to store and show: undecodable bytes and NULs as ``\\xNN``, capped.
    ``more``: characters the text had past its end, already cut off."""
    if len(text) + more > limit:
        text = text[:limit] + f"… ({len(text) + more - limit:,} more characters)"
    return _UNPRINTABLE.sub(_escape, text)


class FileProblem(Exception):
    """A file cannot be imported; ``str()`` is the full message without the file name."""

    def __init__(self, reason: str, *, line: int | None = None, column: int | None = None,
                 offset: int | None = None, retry: bool = False) -> None:
        self.reason = reason
        self.line = line
        self.column = column
        self.offset = offset
        self.retry = retry  # another attempt may help (database locked, disk full)
        super().__init__(self.where() + reason)

    def where(self) -> str:
        if self.line is not None and self.column is not None:
            return f"line {self.line:,}, column {self.column:,}: "
        if self.line is not None:
            return f"line {self.line:,}: "
        if self.offset is not None:
            return f"byte {self.offset:,}: "
        return ""

    def for_file(self, name: str) -> str:
        return f"{name}: {self}"


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int | None
    reason: str
    raw: str

    def describe(self) -> str:
        at = f"line {self.line:,}: " if self.line is not None else ""
        return f"{at}{self.reason}"


class Restart(Exception):
    """Read the file again with what was learned (``types`` / ``encoding`` / that JSON
    numbers must be decoded keeping those too large for a float)."""

    def __init__(self, why: str, *, types: dict[str, str] | None = None,
                 encoding: str | None = None, examples: tuple[str, ...] = (),
                 exact_numbers: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.types = types or {}
        self.encoding = encoding
        self.examples = examples  # words as ``encoding`` reads them (see sniff.Encoding)
        self.exact_numbers = exact_numbers


class NumberTooLarge(Restart):
    """A JSON number beyond a float's range (``1e400``), which the fast decoder reads as
    infinity: read the file again keeping such numbers as written, as text (see
    :data:`.jsonstream.EXACT_DECODER`), as an integer beyond 64 bits is kept."""

    def __init__(self) -> None:
        super().__init__("a number is too large for a floating-point number (beyond "
                         "1.8e308): it is kept as text, as written", exact_numbers=True)


#: An exponent of -300 or less: where a JSON text may hold a number below the smallest
#: float (5e-324, ``1e-400``), which the decoders read as 0.0. One pattern per case, each
#: starting with a literal, which the regular expression engine finds fastest.
_TINY_EXPONENTS = [re.compile(e + r"-0*(?:[3-9][0-9]{2}|[1-9][0-9]{3,})") for e in "eE"]
_TINY_DECIMAL = "." + "0" * 300


def may_hold_tiny(text: str) -> bool:
    """Whether ``text`` (of JSON) may hold a number too small for a float: then it is read
    again as :class:`NumberTooSmall` says (a false alarm, a string holding "e-300", costs
    only that). A few per cent of the time it takes to decode the text."""
    return _TINY_DECIMAL in text or any(p.search(text) for p in _TINY_EXPONENTS)


_ZERO = re.compile(r"[ \t\n\r\f\v]*[+-]?(?:0+\.?0*|\.0+)(?:[eE][+-]?[0-9]+)?[ \t\n\r\f\v]*")


def lost_to_zero(literal: str, number: float) -> bool:
    """Whether ``number``, read from ``literal``, is 0.0 for a number that is no zero:
    one below the smallest float (``1e-400``), which SQLite too would store as 0."""
    return number == 0 and not _ZERO.fullmatch(literal)


class NumberTooSmall(Restart):
    """A JSON number below the smallest float (``1e-400``), which the fast decoder reads as
    0.0: read the file again keeping such numbers as written, as text, as ``1e400`` is."""

    def __init__(self) -> None:
        super().__init__("a number may be too small for a floating-point number (below "
                         "5e-324, it would read as 0): such a number is kept as text, as "
                         "written", exact_numbers=True)
