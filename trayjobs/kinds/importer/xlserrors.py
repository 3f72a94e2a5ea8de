"""Error cells (``#DIV/0!``, ``#N/A``...) of a ``.xls`` sheet, for the warning
:mod:`.sheeterrors` gives for the other workbook formats.

A ``.xls`` file is an OLE compound file (a small file system of its own) holding a
``Workbook`` stream of BIFF records; python-calamine reads an error cell as an empty
one and says nothing. This reads the stream itself, with the standard library: the
compound file's sector chains, then the records. An error is a ``BOOLERR`` record with
its error flag set (a value typed in as ``#N/A``), or a ``FORMULA`` record whose saved
result is an error. The stream is first searched for the bytes either must hold, a
chunk at a time; only a stream that has them is read record by record.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import BinaryIO, Iterator

from .sheeterrors import ErrorCells, column_letters

__all__ = ["xls_error_cells"]

_END = 0xFFFFFFFE  # end of a sector chain; higher values are no sector either
_ERRORS = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?",
           0x24: "#NUM!", 0x2A: "#N/A", 0x2B: "#GETTING_DATA"}
_BOF, _EOF, _BOUNDSHEET, _FILEPASS = 0x0809, 0x000A, 0x0085, 0x002F
_FORMULA, _BOOLERR = 0x0006, 0x0205
# A BOOLERR record's header, or a saved formula result that is an error (type 2, then the
# code, then 0xFFFF where a number's exponent would be): what an error cell must hold.
_MARK = re.compile(rb"\x05\x02\x08\x00|\x02\x00[\x00-\x2b]\x00\x00\x00\xff\xff")


class _Damaged(Exception):
    """Not a compound file this can read: say nothing, calamine read it all the same."""


def xls_error_cells(path: Path, sheet_number: int) -> ErrorCells | None:
    """The error cells of the ``sheet_number``-th sheet (1-based), or None when the file
    cannot tell (damaged, encrypted, or no BIFF workbook)."""
    try:
        with open(path, "rb") as f:
            stream = _CompoundFile(f).stream(("Workbook", "Book"))
            if stream is None:
                return None
            tail, found = b"", False
            for chunk in stream():
                if _MARK.search(tail + chunk):
                    found = True
                    break
                tail = chunk[-7:]
            if not found:
                return ErrorCells()
            return _sheet_errors(_records(stream()), sheet_number)
    except (OSError, struct.error, _Damaged):
        return None


class _CompoundFile:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        header = f.read(512)
        if len(header) < 512 or header[:8] != b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            raise _Damaged
        shift, mini_shift = struct.unpack_from("<HH", header, 0x1E)
        if not 7 <= shift <= 16 or not 2 <= mini_shift < shift:
            raise _Damaged
        self.size, self.mini_size = 1 << shift, 1 << mini_shift
        fat_count, self.dir_start = struct.unpack_from("<II", header, 0x2C)
        self.cutoff, self.minifat_start, _, difat_start, difat_count = struct.unpack_from(
            "<5I", header, 0x38)
        sectors = [s for s in struct.unpack_from("<109I", header, 0x4C) if s < _END]
        per = self.size // 4 - 1
        for _ in range(min(difat_count, 1 << 16)):  # more DIFAT: a chain of sectors
            if difat_start >= _END:
                break
            entries = struct.unpack(f"<{per + 1}I", self._sector(difat_start))
            sectors += [s for s in entries[:per] if s < _END]
            difat_start = entries[per]
        self.fat: list[int] = []
        for s in sectors[:fat_count]:
            self.fat += struct.unpack(f"<{self.size // 4}I", self._sector(s))

    def _sector(self, number: int) -> bytes:
        self.f.seek((number + 1) * self.size)
        data = self.f.read(self.size)
        if len(data) < self.size:
            raise _Damaged
        return data

    def _chain(self, start: int) -> Iterator[int]:
        seen = 0
        while start < _END:
            if start >= len(self.fat) or seen > len(self.fat):
                raise _Damaged  # out of the table, or a loop
            yield start
            seen += 1
            start = self.fat[start]

    def stream(self, names: tuple[str, ...]):
        """A function giving the stream's bytes, a sector at a time, or None."""
        entries = b"".join(self._sector(s) for s in self._chain(self.dir_start))
        root = None
        for at in range(0, len(entries) - 127, 128):
            length, kind = struct.unpack_from("<HB", entries, at + 0x40)
            start, size = struct.unpack_from("<II", entries, at + 0x74)
            name = entries[at:at + max(0, min(length, 64) - 2)].decode("utf-16-le", "replace")
            if kind == 5:
                root = (start, size)
            elif kind == 2 and name in names:
                break
        else:
            return None
        if size >= self.cutoff:
            def regular() -> Iterator[bytes]:
                left = size
                for s in self._chain(start):
                    if left <= 0:
                        break
                    yield self._sector(s)[:left]
                    left -= self.size
            return regular
        if root is None:
            raise _Damaged
        # A small stream lives in the mini stream, in sectors of its own.
        mini = b"".join(self._sector(s) for s in self._chain(root[0]))
        minifat: list[int] = []
        for s in self._chain(self.minifat_start):
            minifat += struct.unpack(f"<{self.size // 4}I", self._sector(s))
        data, at, seen = [], start, 0
        while at < _END and seen <= len(minifat):
            data.append(mini[at * self.mini_size:(at + 1) * self.mini_size])
            at = minifat[at] if at < len(minifat) else _END
            seen += 1
        whole = b"".join(data)[:size]
        return lambda: iter([whole])


def _records(chunks: Iterator[bytes]) -> Iterator[tuple[int, int, bytes]]:
    """(offset in the stream, record type, data) of each BIFF record."""
    buf, base = b"", 0
    for chunk in chunks:
        buf += chunk
        i = 0
        while len(buf) - i >= 4:
            kind, size = struct.unpack_from("<HH", buf, i)
            if len(buf) - i < 4 + size:
                break
            yield base + i, kind, buf[i + 4:i + 4 + size]
            i += 4 + size
        buf, base = buf[i:], base + i


def _sheet_errors(records: Iterator[tuple[int, int, bytes]], number: int) -> ErrorCells | None:
    found = ErrorCells()
    sheets: list[int] = []  # where each sheet's records start, in workbook order
    inside = False
    for offset, kind, data in records:
        if kind == _FILEPASS and not sheets:
            return None  # encrypted: the records that follow are not readable
        if kind == _BOUNDSHEET:
            sheets.append(struct.unpack_from("<I", data)[0])
        elif kind == _BOF and sheets:
            if inside:
                return found
            inside = len(sheets) >= number and offset == sheets[number - 1]
        elif not inside:
            continue
        elif kind == _EOF:
            return found
        elif kind == _BOOLERR and len(data) >= 8 and data[7] == 1:
            row, col = struct.unpack_from("<HH", data)
            found.add(f"{column_letters(col)}{row + 1}", _ERRORS.get(data[6], ""))
        elif (kind == _FORMULA and len(data) >= 14 and data[6] == 2
              and data[12:14] == b"\xff\xff"):
            row, col = struct.unpack_from("<HH", data)
            found.add(f"{column_letters(col)}{row + 1}", _ERRORS.get(data[8], ""))
    return found if inside else None
