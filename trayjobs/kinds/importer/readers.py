"""Records out of an open text stream, in batches, with line numbers.

A reader yields :class:`Batch` objects whose rows all have the same width and
no reading problem: rows with the wrong number of fields, NUL bytes or bytes
that did not decode, a quoted CSV field with text after its closing quote, and JSON
lines that are not records, are split off as :class:`BadRow` with their line number and
raw text. Rows are checked one by
one only in a batch where something is off; a clean batch costs a few C calls.
This module holds what every reader shares; :mod:`.csvreader` reads CSV,
:mod:`.jsonreaders` JSON Lines and JSON arrays, :mod:`.sheets` a workbook's sheet.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from .problems import BadRow
from .streams import ByteTap, DecodeWatch

__all__ = ["Batch", "Reader", "NotABoundary", "ODD", "odd_reason"]

ODD = re.compile("[\x00\udc00-\udcff]")


class NotABoundary(Exception):
    """A part of a file (see :mod:`.split`) ends inside a quoted field: where it was cut is
    not where a record ends, so the file must be read as a whole."""


@dataclass(slots=True)
class Batch:
    rows: list[Any]  # sequences as wide as ``width``
    width: int
    first_line: int
    lines: list[int] | None = None  # per row; None until needed (see Reader.line_numbers)
    bad: list[BadRow] = field(default_factory=list)


def odd_reason(text: str, encoding: str) -> str | None:
    m = ODD.search(text)
    if m is None:
        return None
    return "contains a NUL byte" if m.group() == "\x00" else f"holds bytes that are not {encoding}"


class Reader(ABC):
    """What the loader needs from any format."""

    values = "text"  # "text": strings, "" is empty (CSV); "python": JSON values
    fields: list[str]  # raw column names, in order; JSON readers add to it as keys appear
    #: Whether a column may first appear anywhere in the file (a JSON key): then a missing
    #: key column (pk) is only missing once the whole file was read.
    fields_grow = False
    #: Where the rows first went wider than the header, in words, for a file too wide for
    #: a table: a sheet with a stray value far to the right of its table, say.
    wider_note = ""

    def __init__(self, *, tap: ByteTap, watch: DecodeWatch, batch_size: int) -> None:
        self.tap = tap
        self.watch = watch
        self.batch_size = batch_size
        # UTF-16/32 text is full of NUL bytes, so the tap cannot tell: always look.
        self._always_look = watch.encoding.replace("-", "").replace("_", "")[:5] in ("utf16", "utf32")

    def _odd_seen(self) -> bool:
        return self._always_look or self.tap.nul_seen or self.watch.errors > 0

    @abstractmethod
    def batches(self) -> Iterator[Batch]:
        """The file's records, a batch at a time, each with its line numbers."""

    def line_numbers(self, batch: Batch) -> list[int]:
        if batch.lines is None:
            batch.lines = list(range(batch.first_line, batch.first_line + len(batch.rows)))
        return batch.lines

    @abstractmethod
    def raw(self, row: Any) -> str:
        """A record as the text it came from, for the quarantine table."""
