"""CSV records out of an open text stream (see :mod:`.readers`)."""

from __future__ import annotations

import csv
import io
import itertools
from typing import Any, Iterator, TextIO

from .problems import RAW_LIMIT, BadRow, FileProblem, printable
from .readers import ODD, Batch, NotABoundary, Reader, odd_reason
from .schema import classify_text
from .sniff import CsvDialect

__all__ = ["CsvReader", "CSV_FIELD_LIMIT"]

# The csv module holds a field it reads as 4 bytes a character, in a buffer that doubles
# as it grows and is kept for the next rows: its default limit (131,072 characters) is
# raised to a size that costs a few MB there; longer fields are read by _parse_record,
# which holds them as compactly as str does, so a field of tens of MB stays within the
# importer's memory bound. (A process-wide setting; it only ever raises the limit.)
CSV_FIELD_LIMIT = 1 << 20
csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))


#: What a strict csv reader says where a record needs the forgiving reading of
#: :func:`_parse_record`: a field too long for it, text after a closing quote ("',' expected
#: after '\"'"), the file ending inside a quote.
_REREAD = ("field larger than field limit", "expected after", "unexpected end of data")


class _Stray(list):
    """A record with text after the closing quote of a quoted field (``"abc"def"``), as
    a forgiving reader reads it (``abcdef"``), with its lines as the file has them: it is
    set aside, since what the field holds is anyone's guess."""

    __slots__ = ("text", "field")


class _Lines:
    """The text's lines for the csv module, a block at a time, keeping recent blocks.

    The csv module reads lines from ``feed``; the blocks come from ``readlines`` (in C),
    so this costs a Python call per block, not per line. The blocks since the start of
    the record being read are kept, so that a record the csv module gives up on (a field
    too long for it) can be read again from its first line.
    """

    HINT = 1 << 16  # characters per block, about

    def __init__(self, text: TextIO, first_line: int = 1) -> None:
        self._text = text
        self.kept: list[tuple[int, list[str]]] = []  # (number of the first line, lines)
        self.next_line = first_line  # number of the line the next block starts with
        self.ended = False
        self.streaming = False  # a long record is read past the csv module: keep nothing
        self.feed = itertools.chain.from_iterable(self._blocks())

    def _blocks(self) -> Iterator[list[str]]:
        while lines := self._text.readlines(self.HINT):
            if lines[-1] == "\x1a":  # a line without a line end is the file's last
                lines.pop()  # Ctrl+Z, DOS's end-of-file mark, after an old program's export
                if not lines:
                    continue
            if self.streaming:
                self.kept.clear()  # read to the end by now
            self.kept.append((self.next_line, lines))
            self.next_line += len(lines)
            yield lines
        self.ended = True

    def forget_before(self, line: int) -> None:
        """Drop the kept blocks that end before ``line``."""
        kept = self.kept
        while kept and kept[0][0] + len(kept[0][1]) <= line:
            kept.pop(0)

    def drop(self, line: int, upto: int) -> None:
        """Let go of kept lines ``line`` to ``upto``, already read: the block being read
        still holds them otherwise, a long line included, while its rows are written."""
        for first, lines in self.kept:
            for i in range(max(0, line - first), min(len(lines), upto - first + 1)):
                lines[i] = ""
        self.forget_before(upto + 1)

    def since(self, line: int, upto: int) -> Iterator[str]:
        """Kept lines ``line`` to ``upto`` (both included)."""
        for first, lines in self.kept:
            if first + len(lines) <= line or first > upto:
                continue
            yield from lines[max(0, line - first):upto - first + 1]


def _parse_record(lines: Iterator[str], delimiter: str, quote: str | None,
                  blank_start: bool = False) -> tuple[list[str], int, int | None, str | None]:
    """One record from its lines, read the way the csv module reads it (``strict=False``,
    doubled quotes) but holding its text as compactly as ``str`` does.

    Returns ``(fields, lines used, open_at, stray)``: ``open_at`` is the index of the line
    where a quote opened that the end of the file left open, None when the record ended;
    ``stray`` the text of the first field that goes on after its closing quote with more
    than blanks (``"abc"def"``), as written, or None.
    """
    fields: list[str] = []
    chunks: list[str] = []  # a long field's start, when it spans many lines
    pieces: list[str] = []
    quoted = False
    used = opened = 0
    stray: str | None = None
    field_at = 0  # where the field being read starts in its line
    for line in lines:
        used += 1
        i, n = 0, len(line)
        end = n - (2 if line.endswith("\r\n") else 1 if line.endswith(("\n", "\r")) else 0)
        while True:
            if quoted:
                j = line.find(quote, i)
                if j < 0:
                    pieces.append(line[i:])  # the line break belongs to the field
                    if len(pieces) > 4096:  # many short lines: hold them as fewer strings
                        chunks.append("".join(pieces))
                        pieces = []
                    break
                pieces.append(line[i:j])
                i = j + 1
                if i < n and line[i] == quote:
                    pieces.append(quote)  # a doubled quote
                    i += 1
                    continue
                quoted = False
                if i >= end:
                    fields.append(_joined(chunks, pieces))
                    return fields, used, None, stray
                if line[i] == delimiter:
                    fields.append(_joined(chunks, pieces))
                    pieces = []
                    i += 1
                    continue
                # Not strict: text after the closing quote joins the field.
                if stray is None:
                    k = line.find(delimiter, i, end)
                    tail = line[i:end if k < 0 else k]
                    if tail.strip():
                        # To name the field: its start, its end, what follows (a field may
                        # be megabytes long).
                        head = line[field_at if opened == used - 1 else 0:i]
                        if len(head) > 40:
                            head = head[:25] + "…" + head[-15:]
                        stray = head + (tail if len(tail) <= 25 else tail[:25] + "…")
            elif not pieces and not chunks and i < n and line[i] == quote:
                quoted, opened, field_at = True, used - 1, i
                i += 1
                continue
            elif blank_start and not pieces and not chunks and i < end and line[i] == " ":
                while i < end and line[i] == " ":  # skipinitialspace: only spaces
                    i += 1
                continue
            j = line.find(delimiter, i, end)
            if j < 0:
                pieces.append(line[i:end])
                fields.append(_joined(chunks, pieces))
                return fields, used, None, stray
            pieces.append(line[i:j])
            fields.append(_joined(chunks, pieces))
            pieces = []
            i = j + 1
    if pieces or chunks or quoted:
        fields.append(_joined(chunks, pieces))
    return fields, used, opened if quoted else None, stray


def _joined(chunks: list[str], pieces: list[str]) -> str:
    if not chunks:
        return "".join(pieces)
    chunks += pieces
    text = "".join(chunks)
    chunks.clear()
    return text


class CsvReader(Reader):
    """CSV records. A part of a file (see :mod:`.split`) is read with ``fields`` (the
    header's, read by the first part), ``lines_before`` (the file's lines before the part,
    so that line numbers are the file's) and ``part_end`` (the part ends where a record
    should: a quote still open there raises :class:`NotABoundary`)."""

    def __init__(self, text: TextIO, dialect: CsvDialect, *, header: bool,
                 fields: list[str] | None = None, lines_before: int = 0,
                 part_end: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.dialect = dialect
        self.header = header or fields is not None
        self._lines = _Lines(text, lines_before + 1)
        # Strict: a closing quote followed by text is an error here (the forgiving reading
        # would silently join the two), and the record is read again (see _reread).
        args = dialect.reader_args()
        if dialect.quotechar:
            args["strict"] = True
        self._csv = csv.reader(self._lines.feed, **args)
        self._outside = lines_before  # lines read past the csv module (see _long_record)
        self.part_end = part_end
        self.strays = 0  # records set aside for text after a closing quote, so far
        self.warnings: list[str] = []  # what a person should know about how it was read
        self.header_line = 0
        if fields is None and dialect.sep_line:
            self._read(1)  # Excel's "sep=;": it named the delimiter, and is no record
        if fields is not None:
            self.fields = list(fields)
        elif header:
            first = self._next_nonblank()
            if first is None:
                raise FileProblem("the file holds no data, only blank lines or spaces")
            self.fields = list(first)
            if isinstance(first, _Stray):
                self.warnings.append(
                    f"the header line ({printable(first.text.rstrip(chr(13) + chr(10)), limit=80)})"
                    f" has text after a closing quote ({printable(first.field, limit=40)}): "
                    f"its column names are read as {', '.join(map(repr, first[:10]))}")
        else:
            self.fields = [f"column_{i}" for i in range(1, dialect.fields + 1)]
        # The header line as a record further down behind a byte order mark: files joined
        # one after another (cat jan.csv feb.csv), each with the mark it began with. (Not
        # without the mark: a record may hold what the header does, and then it is data.)
        self._repeats = ([["\ufeff" + self.fields[0], *self.fields[1:]]]
                         if (header or fields is not None) and self.fields else [])
        self.header_only = False

    @property
    def lines_read(self) -> int:
        """Lines of the file read so far (the file's numbering, for a later part too)."""
        return self._line_num

    @property
    def _line_num(self) -> int:
        return self._csv.line_num + self._outside

    def _next_nonblank(self) -> list[str] | None:
        while rows := self._read(1):
            if rows[0]:
                self.header_line = self._line_num
                return rows[0]
        return None

    def _read(self, n: int) -> list[list[str]]:
        start = self._line_num + 1
        self._lines.forget_before(start)
        rows: list[list[str]] = []
        while len(rows) < n:
            try:
                rows.extend(itertools.islice(self._csv, n - len(rows)))  # keeps rows before an error
                break
            except csv.Error as exc:
                line = start + sum(map(self._span, rows))  # where the broken record starts
                if not any(why in str(exc) for why in _REREAD):
                    raise FileProblem(f"not readable as CSV: {exc}", line=line) from None
                rows.append(self._reread(line))
        if rows and self._lines.ended:
            self._check_last(rows[-1], start + sum(map(self._span, rows[:-1])))
        return rows

    def _reread(self, line: int) -> list[str]:
        """The record from ``line`` on, which the csv module gave up on: a field longer
        than it takes, text after a closing quote (then a :class:`_Stray`, its lines as
        written kept for the quarantine), or a quote the end of the file leaves open."""
        seen = self._line_num  # the csv module read up to here, then gave up
        more = map(self._count_outside, self._lines.feed)
        taken: list[str] = []  # the record's text, as much as the quarantine keeps
        size = [0]

        def keep(text: str) -> str:
            if size[0] <= RAW_LIMIT:
                taken.append(text[:RAW_LIMIT + 1])
                size[0] += len(text)
            return text

        lines = map(keep, itertools.chain(self._lines.since(line, seen), more))
        self._lines.streaming = True
        try:
            fields, _, open_at, stray = _parse_record(lines, self.dialect.delimiter,
                                                      self.dialect.quotechar,
                                                      self.dialect.blank_start)
        finally:
            self._lines.streaming = False
        self._lines.drop(line, self._line_num)
        if open_at is not None:
            self._unclosed(line + open_at)
        if stray is None:
            return fields
        self.strays += 1
        record = _Stray(fields)
        record.text, record.field = "".join(taken), stray
        return record

    def _count_outside(self, line: str) -> str:
        self._outside += 1
        return line

    def _check_last(self, row: list[str], line: int) -> None:
        """The csv module ends a quote left open at the end of the file as if it closed
        there: read the file's last record again to tell."""
        if not row or not self.dialect.quotechar:
            return
        lines = self._lines.since(line, self._line_num)
        _, _, open_at, _ = _parse_record(lines, self.dialect.delimiter, self.dialect.quotechar,
                                         self.dialect.blank_start)
        if open_at is not None:
            self._unclosed(line + open_at)

    def _unclosed(self, line: int) -> None:
        if self.part_end:
            raise NotABoundary(line)
        last = self._line_num
        raise FileProblem(f"a quote opened on this line is never closed: the file ends inside "
                          f"it (at line {last:,}), so every line after it would be one value; "
                          f"close the quote, or double a quote meant as text (\"\"); if the "
                          f"file quotes no field (its quotes are all text), set quotechar = \"\"",
                          line=line)

    @staticmethod
    def _span(row: list[str]) -> int:
        """Lines a record took: 1 plus the line breaks inside its quoted fields."""
        return 1 + sum(f.count("\n") + f.count("\r") - f.count("\r\n") for f in row)

    def batches(self) -> Iterator[Batch]:
        width = len(self.fields)
        want = {width}
        first = bool(self.header_line)
        while True:
            first_line = self._line_num + 1
            strays = self.strays
            rows = self._read(self.batch_size)
            if not rows:
                return
            if first:
                first = False
                self._check_header(rows, first_line)
            # Once a NUL or an undecodable byte went by, look at every batch, but row by
            # row only where the batch as a whole has one.
            odd = self._odd_seen() and ODD.search("\x1f".join(map("\x1f".join, rows)))
            if (odd or strays != self.strays or set(map(len, rows)) != want
                    or any(r in rows for r in self._repeats)):
                yield self._sift(rows, width, first_line, look=bool(odd))
            else:
                yield Batch(rows, width, first_line)

    def _check_header(self, rows: list[list[str]], line: int) -> None:
        """Say so when a record soon after the header looks more like one: every field filled
        with words, twice as many as the header fills (a bank's export with its account
        above the table). The header would be a title line, and the real one a row.
        And when the header holds numbers only, as a spreadsheet's does (see
        :mod:`.sheets`): the first row of a file without a header line, whose values
        became the column names."""
        filled = [f.strip() for f in self.fields if f.strip()]
        if filled and all(classify_text(f) in ("integer", "real") for f in filled):
            self.warnings.append(
                f"line {self.header_line:,} ({self.raw(self.fields)[:80]}) was taken for the "
                f"header, but holds numbers only: if it is a row of data (a file without a "
                f"header line), set header = false")
        own = len(filled)
        for row in rows[:20]:
            at, line = line, line + self._span(row)
            if (len(row) >= max(2, 2 * own) and all(f.strip() for f in row)
                    and all(classify_text(f.strip()) == "text" for f in row)):
                self.warnings.append(
                    f"line {at:,} ({self.raw(row)[:80]}) looks like the header, not line "
                    f"{self.header_line:,} ({self.raw(self.fields)[:80]}), which fills {own} "
                    f"of its fields: if the lines above it are a title or notes, remove them")
                return

    def _sift(self, rows: list[list[str]], width: int, line: int, *, look: bool) -> Batch:
        good, lines, bad = [], [], []
        named = width  # the header's fields up to its last name: after it, a delimiter
        while named and not self.fields[named - 1].strip():
            named -= 1
        for row in rows:
            at, line = line, line + self._span(row)
            if not row:
                continue  # a blank line
            if isinstance(row, _Stray):
                bad.append(BadRow(at, _stray_reason(row.field),
                                  printable(row.text.rstrip("\r\n"))))
                continue
            if row in self._repeats:
                bad.append(BadRow(at, "the header line again (files joined one after "
                                      "another?)", self.raw(row)))
                continue
            if len(row) > width and not any(row[width:]):
                row = row[:width]  # a delimiter ending the line (some exports' habit): no data
            elif 0 < named <= len(row) < width:
                row = row + [""] * (width - len(row))  # one ending the header line alone
            # Bytes that did not decode come first: they are often why the fields miscount
            # (a UTF-16 file cut after an odd byte).
            reason = odd_reason("\x1f".join(row), self.watch.encoding) if look else None
            if reason is None and len(row) != width:
                more = "many" if len(row) > width else "few"
                reason = f"too {more} fields: {len(row)} instead of {width}"
                if width == 1 and self.header:
                    reason += self._one_column_hint()
            if reason:
                bad.append(BadRow(at, reason, self.raw(row)))
            else:
                good.append(row)
                lines.append(at)
        return Batch(good, width, lines[0] if lines else line, lines, bad)

    def _one_column_hint(self) -> str:
        # A list of one column (names, addresses) whose values hold the delimiter the file
        # was read with, unquoted, as a program that separates with ";" or tabs writes it.
        shown = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "bars"}.get(
            self.dialect.delimiter, repr(self.dialect.delimiter))
        other = "\\t" if self.dialect.delimiter != "\t" else "|"
        return (f" (the header line names one column: if its values hold {shown}, set "
                f"delimiter = \"{other}\", or another character the file does not hold)")

    def line_numbers(self, batch: Batch) -> list[int]:
        if batch.lines is None:
            lines, line = [], batch.first_line
            for row in batch.rows:
                lines.append(line)
                line += self._span(row)
            batch.lines = lines
        return batch.lines

    def raw(self, row: Any) -> str:
        # Only the start is kept: a long field is cut before it is written out, which
        # also keeps the csv module from a field of 2 GB or more (its writer crashed the
        # process). A character that makes the writer quote the field stays after the cut.
        delimiter, cut, fields = self.dialect.delimiter, 0, []
        for field in row:
            if isinstance(field, str) and len(field) > RAW_LIMIT:
                cut += len(field) - RAW_LIMIT
                quoted = any(c in field for c in (delimiter, '"', "\n", "\r"))
                field = field[:RAW_LIMIT] + (delimiter if quoted else "")
                cut -= quoted
            fields.append(field)
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator="\n").writerow(fields)
        return printable(out.getvalue()[:-1], more=cut)


def _stray_reason(field: str) -> str:
    shown = printable(field.strip(), limit=80)
    if '\\"' in field:
        return (f"text after the closing quote of a quoted field ({shown}): a quote inside a "
                f"quoted field must be doubled (\"\"); this one is escaped with a backslash "
                f"(\\\"), as some exports (MySQL, PHP) write: export the file again with "
                f"quotes doubled (MySQL: FIELDS ESCAPED BY ''), or correct the rows set aside "
                f"(Data page: Fix and re-import)")
    return (f"text after the closing quote of a quoted field ({shown}): a quote inside a "
            f"quoted field must be doubled (\"\"), so what the field holds is not certain; if "
            f"the file quotes no field (its quotes are all text), set quotechar = \"\"")
