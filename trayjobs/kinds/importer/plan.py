"""Everything decided about a file before its transaction starts."""

from __future__ import annotations

import gzip
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

from .params import ImportParams
from .problems import FileProblem
from .csvreader import CsvReader
from .jsonreaders import JsonReader, NdjsonReader
from .readers import Reader
from .schema import table_name_for
from .sheets import SHEET_EXTENSIONS, SheetChoice, choose_sheets, open_sheet, workbook_format
from .sniff import (HEAD_BYTES, MARKUP, CsvDialect, Encoding, check_binary, detect_encoding,
                    detect_format, sniff_dialect)
from .streams import ERRORS, ByteTap, DecodeWatch, open_text, read_head

__all__ = ["Plan", "Part", "plan_file", "make_reader", "open_reader"]

#: A workbook has no text encoding.
NO_ENCODING = Encoding("", "")
#: SQLite's longest value (SQLITE_MAX_LENGTH as built), and so the longest CSV line read.
CSV_LINE_LIMIT = 1_000_000_000


@dataclass(frozen=True)
class Plan:
    path: Path
    format: str
    encoding: Encoding
    dialect: CsvDialect | None
    table: str
    sheets: tuple[SheetChoice, ...] = ()  # a workbook's chosen sheets, each a table
    sheet: SheetChoice | None = None  # the one sheet this plan reads
    exact_numbers: bool = False  # JSON: keep numbers too large for a float as text

    @property
    def label(self) -> str:
        """How the log names what is read: the file, or the file and its sheet."""
        return f"{self.path.name} [{self.sheet.name}]" if self.sheet else self.path.name

    @property
    def newline(self) -> str | None:
        # CSV needs line ends as they are (a quoted CRLF stays CRLF); JSON reads them all as \n.
        return "" if self.dialect else None

    @property
    def line_limit(self) -> int | None:
        # A CSV line longer than SQLite's longest value holds no record it could store;
        # JSON is read in pieces, and a minified file is one line of any length.
        return CSV_LINE_LIMIT if self.dialect else None

    def describe(self) -> str:
        parts = [self.format.upper()] + ([self.encoding.label] if self.encoding.label else [])
        if self.sheet:
            parts.append(f"sheet {self.sheet.number} {self.sheet.name!r}")
        if self.dialect:
            parts.append(self.dialect.describe())
        return ", ".join(parts)


def plan_file(path: Path, params: ImportParams) -> Plan:
    try:
        head, complete = read_head(path, HEAD_BYTES)
    except FileNotFoundError:
        raise FileProblem("the file does not exist (any more)") from None
    except IsADirectoryError:
        raise FileProblem("this is a folder, not a file") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FileProblem(f"the gzip data is damaged or cut short ({exc})", offset=0) from None
    except OSError as exc:
        raise FileProblem(f"the file could not be read ({exc.strerror or exc})",
                          retry=True) from None
    if not head:
        raise FileProblem("the file is empty (0 bytes)" if path.stat().st_size == 0
                          else "the file is empty once decompressed")
    book = workbook_format(path, head, params.format)
    if book:
        table = params.table or table_name_for(path)
        sheets = tuple(choose_sheets(path, params, table))
        return Plan(path, book, NO_ENCODING, None, table, sheets)
    encoding = detect_encoding(head, complete=complete, explicit=params.encoding)
    text = head.decode(encoding.codec, ERRORS)
    what = _NOT_READ.get(path.suffix.lower())
    if what and head.startswith(b"PK\x03\x04") and params.format == "auto":
        raise FileProblem(f"this is {what}", offset=0)  # a workbook calamine is not asked to read
    check_binary(head, text)
    fmt = detect_format(path, text, params.format)
    dialect = None
    if fmt in ("csv", "tsv"):
        try:
            dialect = sniff_dialect(text, complete=complete, tsv=fmt == "tsv",
                                    delimiter=params.delimiter, quotechar=params.quotechar)
        except FileProblem as exc:
            if exc.reason != MARKUP or path.suffix.lower() not in SHEET_EXTENSIONS:
                raise
            # A web page (or Excel 2003 XML) named .xls, as banks and web apps export.
            raise FileProblem(f"{MARKUP}, saved under a spreadsheet's name as some exports "
                              f"are; open it in a spreadsheet program and save it as .xlsx "
                              f"or .csv", line=exc.line) from None
    return Plan(path, fmt, encoding, dialect, params.table or table_name_for(path))


#: Workbooks of formats the importer does not read, and what to save them as instead
#: (renamed .xlsx, such a file fails again, as a damaged workbook).
_NOT_READ = {
    ".xlsb": "an Excel binary workbook (.xlsb), which is not read: save it from Excel as .xlsx",
    ".numbers": "an Apple Numbers document, which is not read: export it from Numbers as "
                ".xlsx or .csv"}


def make_reader(plan: Plan, text: TextIO, tap: ByteTap, watch: DecodeWatch,
                params: ImportParams, part: Part | None = None) -> Reader:
    kw: dict[str, Any] = {"tap": tap, "watch": watch, "batch_size": params.batch_size}
    if plan.dialect is not None:
        if part is not None:
            return CsvReader(text, plan.dialect, header=params.header, fields=part.fields,
                             lines_before=part.lines_before, part_end=part.ends_early, **kw)
        return CsvReader(text, plan.dialect, header=params.header, **kw)
    if plan.format == "ndjson":
        return NdjsonReader(text, exact_numbers=plan.exact_numbers, **kw)
    return JsonReader(text, key=params.json_key, exact_numbers=plan.exact_numbers, **kw)


@dataclass(frozen=True)
class Part:
    """Bytes ``start`` to ``stop`` of a plain CSV file, read on their own (see split.py)."""

    start: int
    stop: int
    lines_before: int = 0  # the file's lines before ``start``
    fields: list[str] | None = None  # the header's fields, for a part after the first
    ends_early: bool = False  # the file goes on after ``stop``


@contextmanager
def open_reader(plan: Plan, params: ImportParams, *, redetect: Callable[[bytes], str] | None = None,
                part: Part | None = None) -> Iterator[tuple[Reader, Callable[[], float]]]:
    """The plan's reader, and how far through the file (or the part) it is (0.0 to 1.0)."""
    if plan.sheet is not None:
        with open_sheet(plan, params) as sheet:
            yield sheet, sheet.position
        return
    try:
        size = max(plan.path.stat().st_size, 1)
    except OSError:
        size = 1  # opening it says what is wrong
    if part is not None:
        # A BOM is only ever at the very start: a later part is plain UTF-8.
        codec = plan.encoding.codec
        if part.start and codec == "utf-8-sig":
            codec = "utf-8"
        span = max(part.stop - part.start, 1)
        with open_text(plan.path, encoding=codec, newline=plan.newline, redetect=redetect,
                       part=(part.start, part.stop), line_limit=plan.line_limit) as (
                text, tap, watch):
            yield (make_reader(plan, text, tap, watch, params, part),
                   lambda: (tap.position() - part.start) / span)
        return
    with open_text(plan.path, encoding=plan.encoding.codec, newline=plan.newline,
                   redetect=redetect, line_limit=plan.line_limit) as (text, tap, watch):
        yield make_reader(plan, text, tap, watch, params), lambda: tap.position() / size
