"""Column names and column types.

Types form a ladder, ``empty < integer < real < text``: a column's type is the
lowest rung that holds every value seen so far, and only ever moves up.

CSV values are strings; a whole batch column is checked at once by joining
it and matching one regular expression (C speed), and only a batch that fails
is looked at value by value. JSON values arrive typed, so the check is the set
of their Python types. An integer is the canonical text of a 64-bit number
("42", "-7", not "007" or "+7": those would lose their spelling), a real a plain
decimal ("3.14", "-0.5", "1e-3"); everything else is text.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Iterable

from .problems import NumberTooLarge, lost_to_zero, printable

__all__ = ["TYPES", "wider", "sql_type", "type_of_declared", "table_name_for", "Namer",
           "IMPORT_ID", "classify_text", "fits_text", "scan_text", "misfits_text",
           "classify_value", "fits_value", "scan_values", "misfits_values", "sql_value", "fold"]

TYPES = ("empty", "integer", "real", "text")
_RANK = {t: i for i, t in enumerate(TYPES)}
#: The provenance column every imported table gets.
IMPORT_ID = "_import_id"
_RESERVED = {IMPORT_ID, "rowid", "oid", "_rowid_"}
_MAX_NAME = 128
_SEP = "\x1f"

# Possessive quantifiers (no backtracking) make these several times faster; the column
# patterns only ever say "yes, all fit" or send the batch to the value-by-value check.
_INT = r"(?:-?[1-9][0-9]{0,17}+|0)"  # 18 digits always fit in 64 bits
_REAL = r"(?:-?+(?:(?:[1-9][0-9]*+|0)(?:\.[0-9]++)?+|\.[0-9]++)(?:[eE][+-]?+[0-9]{1,2}+)?+)"
_INT_COLUMN = re.compile(f"{_INT}?+(?:{_SEP}{_INT}?+)*+")
# Also takes integers of any length; scan_text sends values of 19+ characters (which might
# be such integers, text when they do not fit 64 bits) to the value-by-value check.
_REAL_COLUMN = re.compile(f"{_REAL}?+(?:{_SEP}{_REAL}?+)*+")
# Most real columns hold plain decimals ("-12.50"): this narrower pattern is a third
# faster, and the full one above still catches exponents and leading dots.
_DECIMAL = r"(?:-?+(?:[1-9][0-9]*+|0)(?:\.[0-9]++)?+)"
_DECIMAL_COLUMN = re.compile(f"{_DECIMAL}?+(?:{_SEP}{_DECIMAL}?+)*+")
_REAL_ONE = re.compile(r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_CANONICAL_INT = re.compile(r"0|-?[1-9][0-9]*")
# What SQLite itself turns into a number: surrounding ASCII spaces, a sign, leading zeros.
_LOOSE_INT = re.compile(r"[ \t\n\r\f\v]*[+-]?[0-9]+[ \t\n\r\f\v]*")
_LOOSE_REAL = re.compile(r"[ \t\n\r\f\v]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                         r"[ \t\n\r\f\v]*")
_INT64 = range(-2**63, 2**63)
_NAME_JUNK = re.compile("[\x00-\x1f\x7f\ufeff\ud800-\udfff]+")
#: What a row would be set aside for (see :func:`.readers.odd_reason`), and a JSON key
#: with a lone surrogate (``"\\ud800"``), which SQLite cannot take as a name.
_NAME_ODD = re.compile("[\x00\ud800-\udfff]")
_TABLE_JUNK = re.compile(r"[^\w]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def wider(a: str, b: str) -> str:
    return a if _RANK[a] >= _RANK[b] else b


def sql_type(t: str) -> str:
    return {"integer": "INTEGER", "real": "REAL"}.get(t, "TEXT")


def type_of_declared(declared: str) -> str:
    """Our rung for a column SQLite declared as ``declared`` (by SQLite's affinity rules).

    A column of NUMERIC affinity (NUMERIC, DECIMAL, DATE, BOOLEAN...; never one the importer
    makes) holds numbers as numbers and any other text as it is: no value needs it wider,
    so it is "text" here and never rebuilt as TEXT."""
    d = declared.upper()
    if "INT" in d:
        return "integer"
    if any(k in d for k in ("CHAR", "CLOB", "TEXT")) or not d or "BLOB" in d:
        return "text"
    if any(k in d for k in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "text"  # NUMERIC affinity


def fold(name: str) -> str:
    """How SQLite compares identifiers: ASCII letters without case."""
    return name.translate(_ASCII_LOWER)


def table_name_for(path: Path) -> str:
    """``Bank Export-2024.csv.gz`` -> ``bank_export_2024``."""
    name = path.name
    if name.lower().endswith(".gz") and len(name) > 3:
        name = name[:-3]
    stem, dot, ext = name.rpartition(".")
    if dot and stem and len(ext) <= 9:
        name = stem
    name = _TABLE_JUNK.sub("_", name).strip("_").lower()[:64] or "data"
    if name[0].isdigit() or name.startswith("sqlite_"):
        name = "t_" + name
    return name


class Namer:
    """Turns header cells / JSON keys into unique column names, noting every change."""

    def __init__(self) -> None:
        self._taken: set[str] = set()
        #: The next suffix to try per base: a header repeating one name thousands of times
        #: ("a,a,a,...") then takes linear time, not a search from ``_2`` for every column.
        self._next: dict[str, int] = {}
        self.notes: list[str] = []
        #: The notes of names that lost a NUL or bytes that did not decode: the header is
        #: damaged as a row set aside would be, so the run warns (the rest are log lines).
        self.damaged: list[str] = []

    def name(self, raw: str, position: int) -> str:
        """A new column's name: a header that repeats an earlier one gets its own."""
        cleaned = _NAME_JUNK.sub(" ", str(raw)).strip()[:_MAX_NAME]
        base = cleaned or f"column_{position}"
        name = base
        if fold(name) in _RESERVED:
            name = base = f"{base}_2"
        n = self._next.get(fold(base), 2)
        while fold(name) in self._taken:
            name = f"{base}_{n}"
            n += 1
        self._next[fold(base)] = n
        self._taken.add(fold(name))
        if not cleaned:
            self.notes.append(f"column {position} has no name: called it {name}")
        elif name != cleaned:
            self.notes.append(f"column {position} {cleaned!r} repeats an earlier name or a "
                              f"reserved one: called it {name}")
        elif cleaned != raw:
            self.notes.append(f"column {position} {raw!r}: called it {name}")
        odd = _NAME_ODD.search(str(raw))
        if odd:
            char = odd.group()
            what = ("a NUL byte" if char == "\x00" else
                    "bytes that are not text in the file's encoding"
                    if "\udc80" <= char <= "\udcff" else
                    "text that is not valid Unicode (a lone surrogate)")
            shown = printable(str(raw), limit=60)
            self.damaged.append(f"column {position}'s name '{shown}' holds {what}: called "
                                f"it {name}")
            self.notes[-1] = self.damaged[-1]
        return name

    def names(self, raws: Iterable[str]) -> list[str]:
        return [self.name(r, i) for i, r in enumerate(raws, start=1)]


# ---- text values (CSV, TSV) -------------------------------------------------------------

def classify_text(value: str) -> str:
    if not value:
        return "empty"
    if _CANONICAL_INT.fullmatch(value):
        return "integer" if int(value) in _INT64 else "text"
    if _REAL_ONE.fullmatch(value):
        number = float(value)
        # Beyond a float's range either way (1e400, 1e-400): kept as written.
        if math.isfinite(number) and not lost_to_zero(value, number):
            return "real"
    return "text"


def scan_text(values: list[str], level: str) -> str:
    """The type a column at ``level`` needs to hold ``values`` as well."""
    if level == "text":
        return level
    joined = _SEP.join(values)
    if level == "empty" and len(joined) == len(values) - 1:
        return level  # every value empty
    if joined.count(_SEP) == len(values) - 1:  # no value holds the separator itself
        if level in ("empty", "integer") and _INT_COLUMN.fullmatch(joined):
            return "integer"
        if ((_DECIMAL_COLUMN.fullmatch(joined) or _REAL_COLUMN.fullmatch(joined))
                and max(map(len, values)) < 19):
            return "real"
    for value in values:
        level = wider(level, classify_text(value))
        if level == "text":
            break
    return level


def fits_text(value: str, t: str) -> bool:
    """Whether ``value`` can be stored as ``t`` without losing anything but spelling."""
    if not value or t == "text":
        return True
    if t == "integer":
        return bool(_LOOSE_INT.fullmatch(value)) and int(value) in _INT64
    return bool(_LOOSE_REAL.fullmatch(value)) and math.isfinite(float(value))


def misfits_text(values: list[str], t: str) -> list[int]:
    """Indexes of the values that do not fit an explicitly set type."""
    if t == "text":
        return []
    joined = _SEP.join(values)
    pattern = _INT_COLUMN if t == "integer" else _REAL_COLUMN
    if joined.count(_SEP) == len(values) - 1 and pattern.fullmatch(joined) and (
            t == "integer" or max(map(len, values)) < 19):
        return []
    return [i for i, v in enumerate(values) if not fits_text(v, t)]


# ---- typed values (JSON) ----------------------------------------------------------------

_NONE = type(None)
_AS_INTEGER = {_NONE, int, bool}
_AS_REAL = _AS_INTEGER | {float}
_NESTED = (dict, list)
_INFINITIES = (math.inf, -math.inf)


def _no_infinity(values: list[Any], kinds: set[type]) -> None:
    """Raise :class:`NumberTooLarge` where a float is infinite: a JSON number such as
    ``1e400`` read by the fast decoder. A sum in C tells for most batches."""
    if kinds <= _AS_REAL:
        try:
            total = sum(filter(None, values))
            if total - total == 0:  # finite: no infinity (inf - inf, and nan, are not 0)
                return
        except OverflowError:  # an integer beyond a float's range beside floats
            pass
    if math.inf in values or -math.inf in values:
        raise NumberTooLarge()


def classify_value(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "integer"
    if isinstance(value, int):
        return "integer" if value in _INT64 else "text"
    if isinstance(value, float):
        return "real"
    return "text"


def scan_values(values: list[Any], level: str) -> tuple[str, bool]:
    """``(type, convert)``: the type needed for ``values``, and whether some need
    :func:`sql_value` first (lists, objects, integers beyond 64 bits, floats in a text
    column)."""
    kinds = set(map(type, values))
    if float in kinds:
        _no_infinity(values, kinds)
    convert = bool(kinds & {dict, list})
    if int in kinds:
        # min/max in C first (None, 0 and False filtered out); look closer only if that
        # range reaches past 64 bits, or when other types make min/max impossible.
        suspect = True
        if kinds <= _AS_REAL:
            nonzero = list(filter(None, values))
            suspect = bool(nonzero) and (max(nonzero) >= 2**63 or min(nonzero) < -2**63)
        if suspect and any(type(v) is int and v not in _INT64 for v in values):
            return "text", True
    if level == "text" or kinds <= {_NONE}:
        return level, convert or (level == "text" and float in kinds)
    if kinds <= _AS_INTEGER and level in ("empty", "integer"):
        return "integer", convert
    if kinds <= _AS_REAL:
        return wider(level, "real"), convert
    return "text", convert or float in kinds


def fits_value(value: Any, t: str) -> bool:
    if value is None or t == "text":
        return True
    if isinstance(value, str):
        return fits_text(value, t)
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return t == "real" or value in _INT64
    if isinstance(value, float):
        return math.isfinite(value) and (t == "real" or value.is_integer())
    return False


def misfits_values(values: list[Any], t: str) -> list[int]:
    if t == "text":
        return []
    kinds = set(map(type, values))
    if float in kinds:
        _no_infinity(values, kinds)
    if kinds <= ({_NONE, bool} | ({int, float} if t == "real" else set())):
        return []
    return [i for i, v in enumerate(values) if not fits_value(v, t)]


def sql_value(value: Any, t: str) -> Any:
    """A JSON value as SQLite should store it in a column of type ``t``."""
    if isinstance(value, _NESTED):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return float(value) if t == "real" else str(value)
    if isinstance(value, float):
        if value in _INFINITIES:
            raise NumberTooLarge()
        if t == "integer" and value.is_integer():
            return int(value)
        if t == "text":  # SQLite would write it with 15 digits: 0.1 + 0.2 as "0.3"
            return repr(value)
    return value
