"""The elements of a JSON document's array of records, one at a time.

``json.load`` would hold a whole file (and its objects) in memory; this reads
the text in chunks and decodes one element at a time with the standard
library's C scanner (``raw_decode``), so memory stays at about one record plus
one chunk. The top level is an array of records, or an object holding that
array under a key; everything else is validated to the end and then refused,
so a broken file is reported as broken JSON rather than as the wrong shape.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterator, TextIO

from .problems import RAW_LIMIT, FileProblem, NumberTooSmall, lost_to_zero, may_hold_tiny

__all__ = ["Element", "JsonArrayStream", "TOO_DEEP", "DECODER", "EXACT_DECODER",
           "DuplicateKeys", "make_decoder", "describe_json_error", "kind_of"]

_CHUNK = 1 << 20
_MAX_ELEMENT = 64 << 20
_WS = re.compile(r"[ \t\n\r]*")
#: Elements an array may hold before its first object and still be a list of records.
_LEAD = 1000


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


DECODER = json.JSONDecoder(parse_constant=_no_constants)
_INFINITIES = (math.inf, -math.inf)


def _float_or_literal(literal: str) -> float | str:
    value = float(literal)
    return literal if value in _INFINITIES or lost_to_zero(literal, value) else value


#: Keeps a number too large for a float (``1e400``) as the text it is written as, where
#: DECODER makes it infinity, and one too small (``1e-400``), which it makes 0.0. A Python
#: call per number with a fraction or exponent makes it a fifth slower on a file of such
#: numbers, so it reads only a file that turned out to hold one (see
#: :class:`.problems.NumberTooLarge` and :class:`.problems.NumberTooSmall`).
EXACT_DECODER = json.JSONDecoder(parse_constant=_no_constants, parse_float=_float_or_literal)
_EXAMPLES = 5


class DuplicateKeys:
    """Objects that give a key twice (``{"a": 1, "a": 2}``): a dict keeps the last value
    and drops the first without a word, so the readers decode with :meth:`hook` and say so.
    ``pending`` holds the keys found since the reader last took them (see :meth:`take`)."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.records = 0
        self.examples: list[str] = []

    def hook(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        record = dict(pairs)
        if len(record) < len(pairs):
            seen: set[str] = set()
            self.pending.extend(k for k, _ in pairs if k in seen or seen.add(k))
        return record

    def take(self, line: int) -> None:
        """The keys found so far belong to the record at ``line``."""
        keys = list(dict.fromkeys(self.pending))
        self.pending.clear()
        self.records += 1
        if len(self.examples) < _EXAMPLES:
            self.examples.append(f"line {line:,} ({', '.join(map(repr, keys[:5]))})")

    def message(self) -> str | None:
        if not self.records:
            return None
        more = self.records - len(self.examples)
        which = ", ".join(self.examples) + (f" and {more:,} more" if more else "")
        records = "1 record gives" if self.records == 1 else f"{self.records:,} records give"
        return (f"{records} a key twice in one object: {which}; only the last value of such "
                f"a key is imported, the earlier one is lost")


def make_decoder(*, exact_numbers: bool = False,
                 duplicates: DuplicateKeys | None = None) -> json.JSONDecoder:
    """DECODER or EXACT_DECODER, telling ``duplicates`` of keys given twice."""
    if duplicates is None:
        return EXACT_DECODER if exact_numbers else DECODER
    return json.JSONDecoder(parse_constant=_no_constants,
                            parse_float=_float_or_literal if exact_numbers else None,
                            object_pairs_hook=duplicates.hook)


def _records_in(value: dict, trail: str, depth: int = 3) -> str | None:
    """The key path (``response.data``) of the first array of objects within ``value``,
    looked for ``depth`` levels down; None if there is none."""
    for key, inner in value.items():
        if isinstance(inner, list) and inner and isinstance(inner[0], dict):
            return f"{trail}.{key}"
    if depth > 1:
        for key, inner in value.items():
            if isinstance(inner, dict):
                found = _records_in(inner, f"{trail}.{key}", depth - 1)
                if found:
                    return found
    return None


def kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "a number"


_CONTROL_NAMES = {"\t": "tab", "\n": "line break", "\r": "carriage return",
                  "\x00": "NUL byte"}


def describe_json_error(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "not readable JSON: nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        if exc.msg.startswith("Invalid control character"):
            # The json module's message ends in "at", the place given apart.
            char = exc.doc[exc.pos] if exc.pos < len(exc.doc) else ""
            name = _CONTROL_NAMES.get(char, f"U+{ord(char):04X}" if char else "a control character")
            return (f"not valid JSON: a raw {name} inside a string, which JSON only allows "
                    f"written as an escape (\\t, \\n, \\u0000)")
        if exc.msg.startswith("Unterminated string"):  # "... starting at", the place apart
            return "not valid JSON: a string that is never closed starts here"
        if exc.msg.startswith("Extra data"):  # a JSON Lines record with more on its line
            rest = exc.doc[exc.pos:].strip()
            what = ("a comma after the record" if rest == "," else
                    f"more text after the record ({rest[:40]!r})")
            return (f"not valid JSON: {what}; JSON Lines hold one record on each line, with "
                    f"nothing between them")
        msg = exc.msg.replace("Expecting", "expected", 1)
        return f"not valid JSON: {msg[0].lower()}{msg[1:]}"
    if "integer string conversion" in str(exc):
        return "not readable JSON: a number with more than 4,300 digits"
    return f"not valid JSON: {exc}"


#: An element nested deeper than the decoder goes (it recurses), but valid JSON.
TOO_DEEP = object()
_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_CLOSE = {"[": "]", "{": "}"}


def _skip_valid(text: str, pos: int, eof: bool) -> int | None:
    """Where the JSON value at ``pos`` ends, checked without recursion (for one nested too
    deeply to decode); None if ``text`` ends first and more may follow. Broken JSON
    raises :class:`json.JSONDecodeError` at its place, as the decoder would."""
    stack: list[str] = []
    need = "value"  # or "key", or "next": a ',' or the close of the innermost container
    while True:
        pos = _WS.match(text, pos).end()
        if pos >= len(text):
            if eof:
                raise json.JSONDecodeError("Expecting value", text, pos)
            return None
        c = text[pos]
        if need == "next":
            if not stack:
                return pos
            if c == _CLOSE[stack[-1]]:
                stack.pop()
                pos += 1
            elif c == ",":
                need = "key" if stack[-1] == "{" else "value"
                pos += 1
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
            if not stack and need == "next":
                return pos
            continue
        if need == "key":
            if c != '"':
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes",
                                           text, pos)
            try:
                pos = json.decoder.scanstring(text, pos + 1)[1]
            except json.JSONDecodeError as exc:
                if exc.msg.startswith("Unterminated") and not eof:
                    return None
                raise
            pos = _WS.match(text, pos).end()
            if pos >= len(text) and not eof:
                return None
            if pos >= len(text) or text[pos] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
            pos += 1
            need = "value"
            continue
        if c in _CLOSE:  # a value: an array or object opens
            stack.append(c)
            pos = _WS.match(text, pos + 1).end()
            if pos < len(text) and text[pos] == _CLOSE[c]:
                stack.pop()
                pos += 1
                need = "next"
            else:
                need = "key" if c == "{" else "value"
            continue
        if c == '"':
            try:
                pos = json.decoder.scanstring(text, pos + 1)[1]
            except json.JSONDecodeError as exc:
                if exc.msg.startswith("Unterminated") and not eof:
                    return None
                raise
        else:
            m = _SCALAR.match(text, pos)
            if m is None:
                if not eof and len(text) - pos < 8:
                    return None  # "-" or "tru" at the end: the next chunk may finish it
                raise json.JSONDecodeError("Expecting value", text, pos)
            if m.end() == len(text) and not eof:
                return None  # a number may go on in the next chunk
            pos = m.end()
        need = "next"
        if not stack:
            return pos


@dataclass(slots=True)
class Element:
    line: int
    value: Any
    raw: str | None  # the element's text, when asked for


class JsonArrayStream:
    """Iterate over :class:`Element`; raises :class:`FileProblem` for broken or odd JSON."""

    def __init__(self, text: TextIO, *, key: str | None = None,
                 decoder: json.JSONDecoder = DECODER,
                 duplicates: DuplicateKeys | None = None, watch_tiny: bool = False) -> None:
        self._text = text
        self._decoder = decoder
        self._watch_tiny = watch_tiny  # raise NumberTooSmall where may_hold_tiny
        self._duplicates = duplicates  # told by the decoder; each record's taken here
        self._key = key
        self._buf = ""
        self._pos = 0
        self._line = 1  # line of self._pos
        self._eof = False
        self.want_raw = False  # set by the reader once raw text is needed (odd bytes seen)
        self.found_key: str | None = None
        self.empty = False  # the records array exists but is empty
        self.sequence = False  # objects one after another, in no array (see _sequence)
        self._value_line = 1
        self._col = 1  # column of self._buf[0]

    # -- buffer -----------------------------------------------------------------------
    def _fill(self, at_least: int = 0) -> bool:
        if self._eof:
            return False
        data = self._text.read(max(at_least, _CHUNK))
        if not data:
            self._eof = True
            return False
        self._col = self._column(self._pos)
        self._buf = self._buf[self._pos:] + data
        self._pos = 0
        if self._watch_tiny and may_hold_tiny(self._buf):
            raise NumberTooSmall()
        return True

    def _column(self, pos: int) -> int:
        """1-based column of ``self._buf[pos]`` in its line of the file."""
        newline = self._buf.rfind("\n", 0, pos)
        return pos - newline if newline >= 0 else self._col + pos

    def _advance(self, end: int) -> None:
        self._line += self._buf.count("\n", self._pos, end)
        self._pos = end

    def _peek(self) -> str:
        while True:
            self._advance(_WS.match(self._buf, self._pos).end())
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _fail(self, reason: str, *, at: int | None = None) -> FileProblem:
        pos = self._pos if at is None else at
        line = self._line + self._buf.count("\n", self._pos, pos)
        return FileProblem(reason, line=line, column=self._column(pos))

    def _value(self, *, keep_raw: bool = False,
               deep: bool = False) -> tuple[Any, str | None]:
        """Decode the value at the current position, reading more text as needed.
        ``deep``: a value nested too deeply to decode is :data:`TOO_DEEP` (a record the
        reader sets aside) if it is valid JSON, rather than the end of the file."""
        self._peek()
        while True:
            start = self._pos
            try:
                value, end = self._decoder.raw_decode(self._buf, start)
                if end < len(self._buf) or self._eof:
                    raw = self._buf[start:end] if keep_raw else None
                    line = self._line
                    self._advance(end)
                    self._value_line = line
                    return value, raw
                # a number or literal may go on in the next chunk: read on and decode again
            except json.JSONDecodeError as exc:
                at_end = exc.pos >= len(self._buf) - 16 or exc.msg.startswith("Unterminated")
                if self._eof or not at_end:
                    raise self._fail(describe_json_error(exc), at=exc.pos) from None
            except RecursionError:
                if not deep:
                    raise self._fail("not readable JSON: nested too deeply") from None
                try:
                    end = _skip_valid(self._buf, start, self._eof)
                except json.JSONDecodeError as exc:
                    raise self._fail(describe_json_error(exc), at=exc.pos) from None
                if end is not None:
                    raw = self._buf[start:min(end, start + RAW_LIMIT)]
                    self._value_line = self._line
                    self._advance(end)
                    return TOO_DEEP, raw
            except ValueError as exc:  # NaN/Infinity, a 5,000-digit number...
                raise self._fail(describe_json_error(exc)) from None
            if len(self._buf) - self._pos > _MAX_ELEMENT:
                size = (f"{_MAX_ELEMENT >> 20} MB" if _MAX_ELEMENT >= 1 << 20
                        else f"{_MAX_ELEMENT:,} bytes")
                raise self._fail(f"a single JSON value is larger than {size}")
            self._fill(len(self._buf))

    def _expect(self, chars: str, what: str) -> str:
        c = self._peek()
        if c == "" or c not in chars:
            got = f"found {c!r}" if c else "the file ends"
            raise self._fail(f"not valid JSON: expected {what} but {got}")
        self._advance(self._pos + 1)
        return c

    # -- structure --------------------------------------------------------------------
    def __iter__(self) -> Iterator[Element]:
        first = self._peek()
        if first == "[":
            self._advance(self._pos + 1)
            yield from self._records(line=1, top=True)
        elif first == "{":
            if self._key is None and self._objects_follow():
                yield from self._sequence()
            else:
                yield from self._object()
        elif first == "":
            raise FileProblem("the file holds no data, only blank lines or spaces")
        else:
            value, _ = self._value()
            self._end()
            raise FileProblem(f"not a list of records: the file holds {kind_of(value)}, "
                              f"not an array of objects", line=1)
        self._end()

    def _end(self) -> None:
        if self._peek() != "":
            raise self._fail("not valid JSON: more text after the end of the document")

    def _records(self, *, line: int, top: bool = False) -> Iterator[Element]:
        """The elements of an array whose '[' was just read; the first must be an object."""
        if self._peek() == "]":
            self._advance(self._pos + 1)
            self.empty = True
            return
        if self._duplicates is not None:
            self._duplicates.pending.clear()  # of an object around the array: no record's
        # Elements before the first object wait for it: with one, they are bad records set
        # aside like any other (a stray 7 at the top of a list of records); without, the
        # array is not a list of records and the file fails.
        lead: list[Element] | None = []
        end = False
        while not end:
            value, raw = self._value(keep_raw=self.want_raw, deep=True)
            if self._duplicates is not None and self._duplicates.pending:
                self._duplicates.take(self._value_line)
            element = Element(self._value_line, value, raw)
            end = self._expect(",]", "',' or ']'") == "]"
            # (An empty object after them is no record either: [null, 1, {}] holds none.)
            if lead is not None and not (isinstance(value, dict) and (value or not lead)):
                lead.append(element)
                if end or len(lead) > _LEAD:
                    if not end:  # (its ',' read)
                        self._value()
                        self._skip_rest(top=top)
                    first = lead[0]
                    many = f" (nor do the next {len(lead) - 1:,})" if len(lead) > _LEAD else ""
                    raise FileProblem(f"not a list of records: the array (line {line}) holds "
                                      f"{kind_of(first.value)}, not objects{many}",
                                      line=first.line)
                continue
            if lead:
                yield from lead
            lead = None
            yield element

    def _objects_follow(self) -> bool:
        """Whether the document is objects one after another (as ``jq '.[]'`` prints
        records without -c), not one object: the first, decoded whole from the text read
        so far, has a '{' after it. (One object followed by more is no JSON document.)"""
        try:
            _, end = DECODER.raw_decode(self._buf, self._pos)
        except (ValueError, RecursionError):
            return False
        after = _WS.match(self._buf, end).end()
        return self._buf[after:after + 1] == "{"

    def _sequence(self) -> Iterator[Element]:
        """The top-level values one after another, each an element (a record, if an object)."""
        self.sequence = True
        while self._peek() != "":
            value, raw = self._value(keep_raw=self.want_raw, deep=True)
            if self._duplicates is not None and self._duplicates.pending:
                self._duplicates.take(self._value_line)
            yield Element(self._value_line, value, raw)

    def _skip_rest(self, *, top: bool) -> None:
        """Check the rest of the array (and a top-level document), so broken JSON is called
        broken rather than the wrong shape."""
        while self._expect(",]", "',' or ']'") == ",":
            self._value()
        if top:
            self._end()

    def _object(self) -> Iterator[Element]:
        keys: list[str] = []
        empties: list[str] = []
        deeper: str | None = None  # where records nested in an object are, to say so
        # json_key = "response.data": the array under "data" of the object under "response"
        # (a key that holds a dot itself is still taken whole).
        path = self._key.split(".") if self._key and "." in self._key else None
        for key in self._members(keys):
            wanted = self._key is None or key == self._key
            if (path and key == path[0] and self.found_key is None
                    and self._peek() == "{"):
                yield from self._down(path[1:], key)
            elif wanted and self._peek() == "[":
                line = self._line
                self._advance(self._pos + 1)
                after = self._peek()
                if after == "]":
                    self._advance(self._pos + 1)
                    empties.append(key)
                elif after == "{" or self._key is not None:
                    if self.found_key is not None:
                        raise self._fail(f"the object holds more than one array of records "
                                         f"({self.found_key!r} and {key!r}); set json_key "
                                         f"to choose")
                    self.found_key = key
                    yield from self._records(line=line)
                else:
                    while True:  # an array of something else: check it and move on
                        self._value()
                        if self._expect(",]", "',' or ']'") == "]":
                            break
            else:
                value, _ = self._value()
                if self._key is not None and key == self._key:
                    raise self._fail(f"the value under {key!r} is {kind_of(value)}, not an "
                                     f"array of records")
                if self._key is None and deeper is None and isinstance(value, dict):
                    deeper = _records_in(value, key)
        self._end()
        if self.found_key is None and empties and self._key in (None, *empties):
            self.found_key, self.empty = empties[0] if self._key is None else self._key, True
        if self.found_key is not None:
            return
        if self._key is not None:
            listed = ", ".join(repr(k) for k in keys[:10]) or "none"
            raise FileProblem(f"the JSON object has no key {self._key!r} (its keys: {listed})")
        listed = ", ".join(repr(k) for k in keys[:10]) + (", ..." if len(keys) > 10 else "")
        what = (f"its records may be the array under {deeper}: set json_key = \"{deeper}\" "
                f"for the job" if deeper else
                "put the records, one record too, in an array ([{...}, {...}]): the whole "
                "file, or the value of one of its keys")
        raise FileProblem(f"not a list of records: a JSON object without an array of objects "
                          f"among its values (its keys: {listed or 'none'}); {what}", line=1)

    def _members(self, keys: list[str]) -> Iterator[str]:
        """The keys of the object at the current position, in order (each also appended
        to ``keys``), the parser at each one's value as it is given; past the object's
        closing brace at the end."""
        self._expect("{", "'{'")
        if self._peek() == "}":
            self._advance(self._pos + 1)
            return
        while True:
            if self._peek() != '"':
                raise self._fail("not valid JSON: expected a key in double quotes")
            key, _ = self._value()
            keys.append(key)
            self._expect(":", "':'")
            yield key
            if self._expect(",}", "',' or '}'") == "}":
                return

    def _down(self, path: list[str], trail: str) -> Iterator[Element]:
        """The object at the current position on the way down json_key's ``path`` (what is
        left of it; ``trail``: the keys taken to get here): the records of the array its
        last key names."""
        keys: list[str] = []
        for key in self._members(keys):
            here, last = key == path[0] and self.found_key is None, len(path) == 1
            if here and last and self._peek() == "[":
                line = self._line
                self.found_key = f"{trail}.{key}"
                self._advance(self._pos + 1)
                if self._peek() == "]":
                    self._advance(self._pos + 1)
                    self.empty = True
                else:
                    yield from self._records(line=line)
            elif here and not last and self._peek() == "{":
                yield from self._down(path[1:], f"{trail}.{key}")
            else:
                value, _ = self._value()
                if here:
                    raise self._fail(f"the value under {trail + '.' + key!r} is "
                                     f"{kind_of(value)}, not an "
                                     f"{'array of records' if last else 'object'}")
        if self.found_key is None:
            listed = ", ".join(repr(k) for k in keys[:10]) or "none"
            raise FileProblem(f"the JSON object has no key {self._key!r} (under {trail!r}, "
                              f"its keys: {listed})")
