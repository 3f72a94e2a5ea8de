"""JSON Lines and JSON arrays of records out of an open text stream (see :mod:`.readers`)."""

from __future__ import annotations

import itertools
import json
import json.scanner
import operator
import re
from typing import Any, Iterator, TextIO

from .jsonstream import (TOO_DEEP, DuplicateKeys, JsonArrayStream, describe_json_error,
                         kind_of, make_decoder)
from .problems import BadRow, FileProblem, NumberTooSmall, may_hold_tiny, printable
from .readers import ODD, Batch, Reader, odd_reason

__all__ = ["NdjsonReader", "JsonReader"]

_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)
_TWO_VALUES = re.compile(r"\}\s*,\s*\{")


class _JsonRecords(Reader):
    """Shared by JSON Lines and JSON arrays: records (dicts) to rows of a growing key list."""

    values = "python"
    fields_grow = True

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.fields = []
        self._index: dict[str, int] = {}
        self._getter = None
        self.duplicates = DuplicateKeys()

    @property
    def warnings(self) -> list[str]:
        """What a person should know about how it was read: keys given twice."""
        message = self.duplicates.message()
        return [message] if message else []

    def _rows(self, records: list[dict]) -> list[Any]:
        width = len(self.fields)
        if self._getter is not None and set(map(len, records)) == {width}:
            try:
                return list(map(self._getter, records))
            except KeyError:
                pass  # same number of keys, other names: a new field
        for record in records:
            for key in record:
                if key not in self._index:
                    self._index[key] = len(self.fields)
                    self.fields.append(key)
        keys = self.fields
        if len(keys) == 1:
            key = keys[0]
            self._getter = lambda d: (d[key],)
        else:
            self._getter = operator.itemgetter(*keys)
        return [tuple(r.get(k) for k in keys) for r in records]

    def raw(self, row: Any) -> str:
        if isinstance(row, dict):
            record = row
        else:
            record = dict(zip(self.fields, row))
        return printable(json.dumps(record, ensure_ascii=False, default=str))


#: A key's end with blanks before its colon (``"a" : 1``); ``":`` is counted apart, in C.
_SPACED_KEY_END = re.compile(r'"[ \t\r\n]+:')


def _keys_unique(lines: list[str], records: list[dict]) -> bool:
    """Whether no record of ``lines`` gives a key twice, known without decoding each object
    in Python. Each key written ends in a quote and a colon, and a key given twice is one
    key fewer in its record: if the records hold as many keys as the text has such ends,
    none was given twice. Where that does not tell (objects inside records, a string
    holding ``\\":``, which only adds ends), the caller decodes again with the hook."""
    text = "".join(lines)
    written = text.count('":') + len(_SPACED_KEY_END.findall(text))
    return written == sum(map(len, records))


class NdjsonReader(_JsonRecords):
    """JSON Lines; ``exact_numbers`` keeps numbers too large for a float as text (see
    :data:`.jsonstream.EXACT_DECODER`)."""

    def __init__(self, text: TextIO, *, exact_numbers: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self._text = text
        self._line = 0
        self._watch_tiny = not exact_numbers
        self._decoder = make_decoder(exact_numbers=exact_numbers, duplicates=self.duplicates)
        # Without the hook that finds keys given twice: a Python call for each object,
        # which doubles the time of a whole import. Used where _keys_unique can vouch.
        self._fast = make_decoder(exact_numbers=exact_numbers)

    def _parse(self, lines: list[str]) -> list[dict] | None:
        """All lines as records, in C, or None if any line needs a closer look."""
        records = self._parse_with(lines, self._fast)
        if records is not None and not _keys_unique(lines, records):
            records = self._parse_with(lines, self._decoder)  # names the keys given twice
        return records

    def _parse_with(self, lines: list[str], decoder: json.JSONDecoder) -> list[dict] | None:
        records = self._parse_joined(lines, decoder)
        if records is None:
            # The json module's own C scanner, called directly: (value, end) or StopIteration.
            scan = json.scanner.make_scanner(decoder)
            try:
                parsed = list(map(scan, lines, itertools.repeat(0)))
            except (ValueError, RecursionError):
                return None
            # The scanner says "no value here" with StopIteration, which map() takes for
            # its own end: a short list means a line failed.
            if len(parsed) != len(lines):
                return None
            # Each value must end where its line does (bar the newline).
            if not set(map(operator.sub, map(len, lines), map(_SECOND, parsed))) <= {0, 1}:
                return None
            records = list(map(_FIRST, parsed))
        if set(map(type, records)) == {dict} and 0 not in set(map(len, records)):
            return records
        return None

    def _parse_joined(self, lines: list[str], decoder: json.JSONDecoder) -> list[Any] | None:
        """The lines as one JSON array, decoded in a single C call.

        Sound only if no line holds two top-level values: then N values from N lines
        mean one per line, since a value spilling into the next line would leave that
        line's value to start after an in-line "}," (and a value reaching back is
        impossible: a line's text only follows the comma put before it). In-line "},{"
        also occurs in nested arrays of objects; those batches take the per-line way.
        """
        if _TWO_VALUES.search("".join(lines)):
            return None
        try:
            values = decoder.decode("[" + ",".join(lines) + "]")
        except (ValueError, RecursionError):
            return None
        return values if len(values) == len(lines) else None

    def batches(self) -> Iterator[Batch]:
        decode = self._decoder.decode
        seen_record = False
        while True:
            lines = list(itertools.islice(self._text, self.batch_size))
            if not lines:
                return
            first = self._line + 1
            self._line += len(lines)
            joined = "".join(lines)
            if self._watch_tiny and may_hold_tiny(joined):
                raise NumberTooSmall()
            odd = self._odd_seen() and ODD.search(joined)
            records = None if odd else self._parse(lines)
            if records is not None and not self.duplicates.pending:
                seen_record = True
                yield Batch(self._rows(records), len(self.fields), first)
                continue
            self.duplicates.pending.clear()  # found again line by line, to name the lines
            good, numbers, bad = [], [], []
            for n, text in enumerate(lines, start=first):
                record, reason = self._one(text, decode)
                if self.duplicates.pending:
                    self.duplicates.take(n)
                if record is not None:
                    good.append(record)
                    numbers.append(n)
                elif reason:
                    bad.append(BadRow(n, reason, printable(text.rstrip("\r\n"))))
            if not seen_record and not good and bad:
                raise FileProblem(f"not JSON Lines (one JSON object per line): {bad[0].reason}",
                                  line=bad[0].line)
            seen_record = seen_record or bool(good)
            rows = self._rows(good) if good else []
            yield Batch(rows, len(self.fields), numbers[0] if numbers else first, numbers, bad)

    def _one(self, text: str, decode: Any) -> tuple[dict | None, str | None]:
        if not text.strip():
            return None, None
        odd = odd_reason(text, self.watch.encoding)
        if odd:
            return None, odd
        try:
            # (A byte order mark begins the line where files were joined: cat a.jsonl b.jsonl.)
            value = decode(text.rstrip("\r\n").removeprefix("\ufeff"))
        except json.JSONDecodeError as exc:
            return None, f"{describe_json_error(exc)} (column {exc.colno})"
        except (ValueError, RecursionError) as exc:
            return None, describe_json_error(exc)
        if not isinstance(value, dict):
            return None, f"not a record: the line holds {kind_of(value)}, not an object"
        if not value:
            return None, "an empty record: the object has no fields"
        return value, None


class JsonReader(_JsonRecords):
    def __init__(self, text: TextIO, *, key: str | None, exact_numbers: bool = False,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.stream = JsonArrayStream(
            text, key=key, duplicates=self.duplicates,
            decoder=make_decoder(exact_numbers=exact_numbers, duplicates=self.duplicates),
            watch_tiny=not exact_numbers)

    def batches(self) -> Iterator[Batch]:
        elements = iter(self.stream)
        while True:
            chunk = list(itertools.islice(elements, self.batch_size))
            if not chunk:
                return
            odd = self._odd_seen()
            self.stream.want_raw = odd
            good, numbers, bad = [], [], []
            for e in chunk:
                reason = None
                if e.value is TOO_DEEP:
                    reason = "not readable JSON: nested too deeply"
                elif not isinstance(e.value, dict):
                    where = "file" if self.stream.sequence else "array"
                    reason = (f"not a record: the {where} holds {kind_of(e.value)} here, not "
                              f"an object")
                elif not e.value:
                    reason = "an empty record: the object has no fields"
                elif odd:
                    text = e.raw if e.raw is not None else json.dumps(e.value, ensure_ascii=False)
                    reason = odd_reason(text, self.watch.encoding)
                if reason:
                    raw = e.raw if e.raw is not None else json.dumps(e.value, ensure_ascii=False)
                    bad.append(BadRow(e.line, reason, printable(raw)))
                else:
                    good.append(e.value)
                    numbers.append(e.line)
            rows = self._rows(good) if good else []
            yield Batch(rows, len(self.fields), numbers[0] if numbers else chunk[0].line,
                        numbers, bad)
