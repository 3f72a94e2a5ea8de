"""Spreadsheets (.xlsx, .xlsm, .xls, .ods): each chosen sheet as rows of typed values.

The workbook is read by python-calamine (a Rust reader for all four formats).
Cells arrive typed, so a sheet reads like JSON records: numbers stay numbers
(whole ones as integers), booleans are 1 and 0, dates and times become ISO 8601
text, durations ISO 8601 durations (``PT26H3M``), and formulas give the value
the spreadsheet program last calculated and saved; a saved error (``#DIV/0!``)
reads as empty, and :mod:`.sheeterrors` finds such cells for a warning.

Where the table starts: leading empty rows and columns never count. The header
is ``header_row`` if set, otherwise the first row filling more than half as many
cells as the fullest of the first 20 rows, so a title line ("Sales 2024", a date
beside it) above the table is skipped. Empty rows are skipped anywhere, trailing
empty columns are dropped, and cells to the right of the header become
``column_N``. Every cell of a merged range gets the value of its top-left cell
where the format tells the ranges (.xlsx, .xlsm, .xls); in .ods files only the
top-left cell holds it. Row numbers (``line`` in ``_rejected``) are the sheet's
own, as the spreadsheet program shows them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ...textfmt import escape_undecodable
from .problems import FileProblem, printable
from .readers import Batch, Reader
from .sheeterrors import find_error_cells

if TYPE_CHECKING:
    from .params import ImportParams
    from .plan import Plan

__all__ = ["SHEET_FORMATS", "SHEET_EXTENSIONS", "SheetChoice", "SheetReader", "workbook_format",
           "choose_sheets", "open_sheet", "cell_value"]

#: Formats (as the ledger and ``format`` name them) read as workbooks.
SHEET_FORMATS = frozenset({"xlsx", "xls", "ods"})
_BY_EXTENSION = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".ods": "ods"}
#: The names of spreadsheet files, text or not.
SHEET_EXTENSIONS = frozenset(_BY_EXTENSION)
_ZIP = b"PK\x03\x04"
_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: .xls, or encrypted OOXML
_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
_PROTECTED = "the workbook is password-protected; save it without a password"
#: Rows looked at to find the header.
_LOOK_AHEAD = 20
_SAFE_INT = 2**53  # floats beyond this are not exact whole numbers any more
_SLUG_JUNK = re.compile(r"[^\w]+")


@dataclass(frozen=True)
class SheetChoice:
    name: str
    number: int  # 1-based, in workbook order
    table: str


def workbook_format(path: Path, head: bytes, explicit: str = "auto") -> str | None:
    """``xlsx`` / ``xls`` / ``ods`` if the file is to be read as a workbook, else None.

    By the extension, but only if the bytes agree: a ".xls" that is really CSV or HTML
    text (a common "Excel export") is read as text instead.
    """
    if explicit in SHEET_FORMATS:
        return explicit
    if explicit != "auto":
        return None
    fmt = _BY_EXTENSION.get(path.suffix.lower())
    if fmt and head.startswith((_ZIP, _CFB)):
        return fmt
    return None


def _guarded(what: str):
    """Calamine's errors (and a Rust panic on damaged input) as a FileProblem."""
    @contextmanager
    def guard() -> Iterator[None]:
        from python_calamine import CalamineError, PasswordError
        try:
            yield
        except PasswordError:
            raise FileProblem(_PROTECTED) from None
        except CalamineError as exc:
            raise FileProblem(f"the workbook is damaged or not a spreadsheet: {what} failed "
                              f"({printable(str(exc), limit=200)})") from None
        except BaseException as exc:
            # pyo3 reports a panic inside the reader as PanicException, a BaseException.
            if type(exc).__name__ != "PanicException":
                raise
            raise FileProblem(f"the workbook is damaged or not a spreadsheet: {what} failed "
                              f"({printable(str(exc), limit=200)})") from None
    return guard()


def _open(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            head = f.read(64 * 1024)
    except OSError as exc:
        raise FileProblem(f"the file could not be read ({exc.strerror or exc})",
                          retry=True) from None
    if head.startswith(_CFB) and _ENCRYPTED in head:
        raise FileProblem(_PROTECTED)
    if not head:
        raise FileProblem("the file is empty (0 bytes)")
    from python_calamine import CalamineWorkbook  # only needed for workbooks
    name = str(path)
    with _guarded("opening it"):
        if escape_undecodable(name) != name:
            # A name that is not UTF-8 (lone surrogates) is no path calamine can open.
            with open(path, "rb") as f:
                return CalamineWorkbook.from_filelike(f)
        return CalamineWorkbook.from_path(name)


def _slug(name: str) -> str:
    return _SLUG_JUNK.sub("_", name).strip("_").lower()[:64]


def choose_sheets(path: Path, params: ImportParams, base_table: str) -> list[SheetChoice]:
    """The sheets ``sheet`` picks, each with its table: ``base_table`` for one sheet; with
    ``"*"`` each sheet's table is ``base_table`` + ``_`` + the sheet's name (lowercased,
    other characters than letters, digits and _ as _), empty sheets left out."""
    book = _open(path)
    try:
        names = list(book.sheet_names)
        if not names:
            raise FileProblem("the workbook has no sheets")
        wanted = params.sheet
        if wanted == "*":
            chosen, taken = [], set()
            for number, name in enumerate(names, start=1):
                with _guarded(f"reading sheet {name!r}"):
                    if book.get_sheet_by_index(number - 1).start is None:
                        continue
                table = f"{base_table}_{_slug(name) or f'sheet_{number}'}"
                unique, n = table, 2
                while unique.lower() in taken:
                    unique, n = f"{table}_{n}", n + 1
                taken.add(unique.lower())
                chosen.append(SheetChoice(name, number, unique))
            if not chosen:
                raise FileProblem(f"every sheet of the workbook is empty ({_listed(names)})")
            return chosen
        if wanted is None:
            number = _first_shown(book)
            return [SheetChoice(names[number - 1], number, base_table)]
        if isinstance(wanted, int):
            if wanted > len(names):
                raise FileProblem(f"there is no sheet {wanted}: the workbook has "
                                  f"{len(names)} ({_listed(names)})")
            return [SheetChoice(names[wanted - 1], wanted, base_table)]
        if wanted in names:
            return [SheetChoice(wanted, names.index(wanted) + 1, base_table)]
        folded = [n.casefold().strip() for n in names]
        if wanted.casefold().strip() in folded:
            number = folded.index(wanted.casefold().strip()) + 1
            return [SheetChoice(names[number - 1], number, base_table)]
        raise FileProblem(f"there is no sheet {wanted!r}: the sheets are {_listed(names)}")
    finally:
        book.close()


def _first_shown(book: Any) -> int:
    """The number of the first sheet the spreadsheet program opens on: a visible worksheet,
    not a hidden one (a lookup list, say) nor a chart sheet; the first if there is none."""
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    with _guarded("reading its list of sheets"):
        metadata = list(book.sheets_metadata)
    return next((number for number, m in enumerate(metadata, start=1)
                 if m.visible == SheetVisibleEnum.Visible and m.typ == SheetTypeEnum.WorkSheet),
                1)


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")


# -- cells ---------------------------------------------------------------------------------

def _duration(value: dt.timedelta) -> str:
    """ISO 8601, in hours as spreadsheets show durations: 1 day 2:03 -> ``PT26H3M``."""
    micro = abs(value) // dt.timedelta(microseconds=1)
    hours, micro = divmod(micro, 3_600_000_000)
    minutes, micro = divmod(micro, 60_000_000)
    seconds, micro = divmod(micro, 1_000_000)
    text = "-PT" if value < dt.timedelta(0) else "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if seconds or micro or text.endswith("T"):
        text += f"{seconds}.{micro:06d}".rstrip("0").rstrip(".") + "S"
    return text


def _iso(value: dt.date | dt.time) -> str:
    if isinstance(value, (dt.datetime, dt.time)) and value.microsecond:
        return value.isoformat(timespec="milliseconds")
    return value.isoformat()


def cell_value(value: Any) -> Any:
    """A cell as stored: None for empty, whole floats as int, dates as ISO 8601 text."""
    kind = type(value)
    if kind is str:
        return value or None
    if kind is float:
        return int(value) if value.is_integer() and -_SAFE_INT < value < _SAFE_INT else value
    if kind is int or kind is bool or value is None:
        return value
    if isinstance(value, dt.timedelta):
        return _duration(value)
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return _iso(value)
    return str(value)


# -- the reader ----------------------------------------------------------------------------

class _EmptySheet(FileProblem):
    """The sheet holds no cell; :func:`open_sheet` names those that do, if none was set."""


class SheetReader(Reader):
    """One sheet, row by row, as the loader's batches (values = "python")."""

    values = "python"

    def __init__(self, sheet: Any, *, header: bool, header_row: int | None, batch_size: int,
                 label: str) -> None:
        # A workbook is no text stream: none of the base class's byte/decoding watch applies.
        self.batch_size = batch_size
        self.label = label
        self.fields = []
        self.rows_read = 0
        self.warnings: list[str] = []  # what a person should know about how it was read
        with _guarded(f"reading {label}"):
            end = sheet.end
            self.total_rows = end[0] + 1 if end else 0
            self._merged = self._merge_map(sheet, sheet.start)
            # Row i of iter_rows is the sheet's row i + 1; its cells start at the range's
            # first column (both checked by the tests on a sheet that starts at C5).
            self._rows = iter(sheet.iter_rows())
        self._column0 = sheet.start[1] if sheet.start else 0
        self._pending: list[tuple[int, list[Any], int]] = []
        self.header_line = 0  # none, with header = false
        self._find_header(header, header_row)

    # Merged ranges: (row, col) of each cell to fill -> (row, col) of its top-left cell.
    @staticmethod
    def _merge_map(sheet: Any, start: tuple[int, int] | None) -> dict[int, list[tuple[int, int, int]]]:
        ranges = sheet.merged_cell_ranges or []
        col0 = start[1] if start else 0
        by_row: dict[int, list[tuple[int, int, int]]] = {}
        for (r0, c0), (r1, c1) in ranges:
            for r in range(r0, r1 + 1):
                # (first column, last column, source row) in range-relative columns
                by_row.setdefault(r, []).append((c0 - col0, c1 - col0, r0))
        return by_row

    def _raw_rows(self) -> Iterator[tuple[int, list[Any], int]]:
        """(row number, values, cells filled before merged ranges were) of the non-empty
        rows, merged ranges filled, trailing empty cells trimmed."""
        tops: dict[tuple[int, int], Any] = {}
        index = self.rows_read
        while True:
            with _guarded(f"reading {self.label}"):
                cells = next(self._rows, None)
            if cells is None:
                return
            index += 1
            self.rows_read = index
            values = list(map(cell_value, cells))
            own = len(values) - values.count(None)
            merges = self._merged.get(index - 1)
            if merges:
                for c0, c1, r0 in merges:
                    if r0 == index - 1 and 0 <= c0 < len(values):
                        tops[(r0, c0)] = values[c0]
                    top = tops.get((r0, c0))
                    for c in range(max(c0, 0), min(c1 + 1, len(values))):
                        if values[c] is None:
                            values[c] = top
            while values and values[-1] is None:
                values.pop()
            if values:
                yield index, values, own

    def _find_header(self, header: bool, header_row: int | None) -> None:
        rows = self._raw_rows()
        self._source = rows
        if not header:
            return
        if header_row is not None:
            for number, values, _ in rows:
                if number == header_row:
                    self.header_line = number
                    self.fields = _names(values)
                    return
                if number > header_row:
                    break
            raise FileProblem(f"row {header_row} of {self.label} is empty; set header_row to "
                              f"the row that holds the column names")
        ahead = list(itertools.islice(rows, _LOOK_AHEAD))
        if not ahead:
            raise _EmptySheet(f"{self.label} is empty")
        # Counted before merged ranges are filled: a title merged across the table is one cell.
        filled = [own for _, _, own in ahead]
        half = max(filled) / 2
        at = next(i for i, n in enumerate(filled) if n > half)
        # A title line holds a cell or two; a row of three or more left out above may be
        # the header of a table whose rows are wider than it: say so, not silently drop it.
        wide = [(number, values) for number, values, own in ahead[:at] if own >= 3]
        if wide:
            number, values = wide[-1]
            shown = ", ".join(repr(v) for v in values[:6] if v is not None)
            self.warnings.append(f"row {number} ({shown}) was taken for a title above the "
                                 f"table and left out; if it holds the column names, set "
                                 f"header_row = {number}")
        self.header_line = ahead[at][0]
        self.fields = _names(ahead[at][1])
        self._pending = ahead[at + 1:]
        # A header row of blank cells reads as an empty row, passed over like any: the
        # first row of data is then taken for the header, its values for column names.
        values = [v for v in ahead[at][1] if v is not None]
        if all(type(v) in (int, float) for v in values):
            shown = ", ".join(repr(v) for v in values[:6])
            self.warnings.append(f"row {self.header_line} ({shown}) was taken for the header, "
                                 f"but holds numbers only: if it is a row of data (the "
                                 f"header row above it blank, or none), set header = false, "
                                 f"or header_row to the row with the column names")

    def batches(self) -> Iterator[Batch]:
        rows = itertools.chain(self._pending, self._source)
        self._pending = []
        while True:
            chunk = list(itertools.islice(rows, self.batch_size))
            if not chunk:
                return
            width = max(len(self.fields), max(len(v) for _, v, _ in chunk))
            if width > len(self.fields):
                if not self.wider_note and self.header_line:
                    number = next(n for n, v, _ in chunk if len(v) == width)
                    self.wider_note = (
                        f"row {number} has a value in column {_letters(self._column0 + width)}"
                        f", right of the {len(self.fields):,} columns of the header in row "
                        f"{self.header_line}: if it is a stray cell, delete it")
                self.fields.extend(f"column_{i}" for i in range(len(self.fields) + 1, width + 1))
            padded = [v + [None] * (width - len(v)) if len(v) < width else v for _, v, _ in chunk]
            lines = [n for n, _, _ in chunk]
            yield Batch(padded, width, lines[0], lines)

    def position(self) -> float:
        """How far through the sheet: 0.0 to 1.0."""
        return self.rows_read / self.total_rows if self.total_rows else 1.0

    def raw(self, row: Any) -> str:
        return printable(json.dumps(dict(zip(self.fields, row)), ensure_ascii=False, default=str))


def _letters(column: int) -> str:
    """A column's letters as the spreadsheet shows them: 1 is A, 27 is AA."""
    out = ""
    while column:
        column, rest = divmod(column - 1, 26)
        out = chr(65 + rest) + out
    return out


def _names(values: list[Any]) -> list[str]:
    """Header cells as column names; an empty one is named by its position."""
    return [f"column_{i}" if v is None else str(v) for i, v in enumerate(values, start=1)]


def _empty_by_default(book: Any, chosen: SheetChoice) -> str:
    """Why the sheet taken by default cannot be imported, and which to take instead (a
    blank "Sheet1" before the data is common). Other sheets are read only now, as it
    failed: a workbook's first sheet may be large."""
    names = list(book.sheet_names)
    full = []
    for number, name in enumerate(names, start=1):
        if number != chosen.number:
            with _guarded(f"reading sheet {name!r}"):
                if book.get_sheet_by_index(number - 1).start is not None:
                    full.append(name)
    if not full:
        return f"every sheet of the workbook is empty ({_listed(names)})"
    empty = f"sheet {chosen.name!r}, the first the workbook shows, is empty"
    if len(full) == 1:
        return (f"{empty}; the sheet with data is {full[0]!r}: set sheet = \"{full[0]}\" for "
                f"the job")
    return (f"{empty}; the sheets with data are {_listed(full)}: set sheet = \"{full[0]}\" for "
            f"the job (or the name of another), or sheet = \"*\" to import each into a table "
            f"of its own")


@contextmanager
def open_sheet(plan: Plan, params: ImportParams) -> Iterator[SheetReader]:
    assert plan.sheet is not None
    label = f"sheet {plan.sheet.name!r}"
    book = _open(plan.path)
    try:
        with _guarded(f"reading {label}"):
            sheet = book.get_sheet_by_index(plan.sheet.number - 1)
        if sheet.name != plan.sheet.name:
            raise FileProblem(f"the workbook changed while it was read: sheet "
                              f"{plan.sheet.number} is now {sheet.name!r}")
        try:
            reader = SheetReader(sheet, header=params.header, header_row=params.header_row,
                                 batch_size=params.batch_size, label=label)
        except _EmptySheet:
            if params.sheet is not None:
                raise
            raise FileProblem(_empty_by_default(book, plan.sheet)) from None
        # calamine reads an error cell (#DIV/0!) as an empty one: say where they are.
        errors = find_error_cells(plan.path, plan.format, plan.sheet.number)
        if errors is not None and errors.count:
            reader.warnings.append(errors.message())
        yield reader
    finally:
        book.close()
