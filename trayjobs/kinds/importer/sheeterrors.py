"""Cells whose saved value is an error (``#DIV/0!``, ``#N/A``, ``#REF!``...).

python-calamine gives such a cell as an empty string, the same as an empty cell, and
has no way to ask for the error. So the importer stores it as empty (NULL), and this
module finds the error cells in the workbook itself, for a warning naming them: a
``.xlsx``/``.xlsm`` sheet marks them ``t="e"``, LibreOffice's ``.ods`` marks them
``calcext:value-type="error"``. The sheet's XML is first scanned as bytes for that
mark, a chunk at a time, and parsed only when it is there: a sheet without errors costs
one pass over its compressed XML. ``.xls``, a binary format, is read by :mod:`.xlserrors`.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator
from xml.etree import ElementTree

__all__ = ["ErrorCells", "find_error_cells"]

_CHUNK = 1 << 20
_EXAMPLES = 5
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_CALCEXT = "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"
_ODS_CELLS = {f"{{{_TABLE}}}table-cell", f"{{{_TABLE}}}covered-table-cell"}


@dataclass
class ErrorCells:
    count: int = 0
    examples: list[str] = field(default_factory=list)  # "B3 (#DIV/0!)"

    def add(self, ref: str, error: str) -> None:
        self.count += 1
        if len(self.examples) < _EXAMPLES:
            self.examples.append(f"{ref} ({error or 'an error'})" if ref else error)

    def message(self) -> str:
        more = f" and {self.count - len(self.examples):,} more" if self.count > len(self.examples) else ""
        cells = "1 cell holds" if self.count == 1 else f"{self.count:,} cells hold"
        return (f"{cells} an error value instead of a result ({', '.join(self.examples)}{more}), "
                f"stored as empty (NULL): fix the formula{'s' * (self.count != 1)} in the "
                f"spreadsheet and save it to import the values")


def column_letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def find_error_cells(path: Path, fmt: str, sheet_number: int) -> ErrorCells | None:
    """The error cells of the ``sheet_number``-th sheet (1-based), or None when the
    workbook says nothing (a part it lacks: calamine read it all the same)."""
    if fmt == "xls":
        from .xlserrors import xls_error_cells
        return xls_error_cells(path, sheet_number)
    try:
        with zipfile.ZipFile(path) as book:
            if fmt == "ods":
                if not _has(book, "content.xml", b'value-type="error"'):
                    return ErrorCells()
                return _ods(book, sheet_number)
            if fmt == "xlsx":
                part = _xlsx_part(book, sheet_number)
                if part is None:
                    return None
                if not _has(book, part, b't="e"'):
                    return ErrorCells()
                return _xlsx(book, part)
    except (OSError, zipfile.BadZipFile, KeyError, ElementTree.ParseError, EOFError):
        return None
    return None


def _has(book: zipfile.ZipFile, name: str, mark: bytes) -> bool:
    with book.open(name) as f:
        tail = b""  # the end of the previous chunk: the mark may straddle two
        while chunk := f.read(_CHUNK):
            if mark in tail + chunk:
                return True
            tail = chunk[1 - len(mark):]
    return False


def _xlsx_part(book: zipfile.ZipFile, number: int) -> str | None:
    """The zip member holding the sheet: workbook.xml lists the sheets in order, each with
    a relationship id that its .rels file resolves to a path."""
    sheets = ElementTree.fromstring(book.read("xl/workbook.xml")).iter(f"{{{_MAIN}}}sheet")
    sheet = next((s for n, s in enumerate(sheets, start=1) if n == number), None)
    if sheet is None:
        return None
    rid = sheet.get(f"{{{_REL}}}id")
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    for rel in rels.iter(f"{{{_PKG_REL}}}Relationship"):
        if rel.get("Id") == rid:
            target = rel.get("Target", "")
            return (target.lstrip("/") if target.startswith("/")
                    else posixpath.normpath(posixpath.join("xl", target)))
    return None


def _events(f: IO[bytes]) -> Iterator[tuple[str, ElementTree.Element]]:
    return ElementTree.iterparse(f, events=("start", "end"))


def _xlsx(book: zipfile.ZipFile, part: str) -> ErrorCells:
    found = ErrorCells()
    cell, row = f"{{{_MAIN}}}c", f"{{{_MAIN}}}row"
    with book.open(part) as f:
        for event, element in _events(f):
            if event != "end":
                continue
            if element.tag == cell and element.get("t") == "e":
                value = element.find(f"{{{_MAIN}}}v")
                found.add(element.get("r", ""), (value.text or "") if value is not None else "")
            elif element.tag == row:
                element.clear()  # its cells were looked at: keep memory to a row
    return found


def _ods(book: zipfile.ZipFile, number: int) -> ErrorCells:
    """Walks the sheet's rows and cells, counting repeats, for each error cell's place."""
    found = ErrorCells()
    table_tag, row_tag = f"{{{_TABLE}}}table", f"{{{_TABLE}}}table-row"
    rows_repeated = f"{{{_TABLE}}}number-rows-repeated"
    columns_repeated = f"{{{_TABLE}}}number-columns-repeated"
    tables = row = column = 0
    inside = False
    with book.open("content.xml") as f:
        for event, element in _events(f):
            tag = element.tag
            if tag == table_tag:
                if event == "start":
                    tables += 1
                    inside, row = tables == number, 0
                elif inside:
                    return found
                continue
            if not inside:
                if event == "end" and tag in (row_tag, *_ODS_CELLS):
                    element.clear()
                continue
            if tag == row_tag:
                if event == "start":
                    column = 0
                else:
                    row += int(element.get(rows_repeated, "1"))
                    element.clear()
            elif tag in _ODS_CELLS and event == "end":
                repeat = int(element.get(columns_repeated, "1"))
                if element.get(f"{{{_CALCEXT}}}value-type") == "error":
                    text = "".join(element.itertext()).strip()
                    for c in range(column, column + min(repeat, 1000)):
                        found.add(f"{column_letters(c)}{row + 1}", text)
                column += repeat
                element.clear()
    return found
