"""Whole numbers a REAL column would round: beyond ±2**53.

A column whose values are integers and numbers with a fraction is REAL, and a REAL
holds whole numbers exactly only up to 2**53 (9,007,199,254,740,992): the id
9007199254740993 would come back as 9007199254740992. So a column that would turn
REAL while it holds (or gets) a larger whole number becomes TEXT instead, where every
value keeps its digits, as an integer beyond 64 bits does.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from .store import q

__all__ = ["SAFE", "first_big", "table_has_big"]

SAFE = 2**53
_CANONICAL_INT = re.compile(r"-?[1-9][0-9]*")
_DIGITS = len(str(SAFE))  # a shorter integer is never beyond it


def first_big(values: list[Any], *, text: bool) -> int | None:
    """Index of the first whole number beyond ±2**53 among a batch column's ``values``
    (CSV text, or JSON values), or None. Cheap when there is none: one pass in C."""
    if text:
        if max(map(len, values), default=0) < _DIGITS:
            return None
        for j, v in enumerate(values):
            if len(v) >= _DIGITS and _CANONICAL_INT.fullmatch(v) and abs(int(v)) > SAFE:
                return j
        return None
    if int not in set(map(type, values)):
        return None
    for j, v in enumerate(values):
        if type(v) is int and abs(v) > SAFE:
            return j
    return None


def table_has_big(conn: sqlite3.Connection, table: str, column: str, *,
                  schema: str = "main") -> Any:
    """A whole number beyond ±2**53 that ``column`` of the table holds, or None."""
    # Not abs(): it overflows on -2**63.
    c = q(column)
    row = conn.execute(f"SELECT {c} FROM {schema}.{q(table)} WHERE typeof({c}) = 'integer' "
                       f"AND ({c} > {SAFE} OR {c} < -{SAFE}) LIMIT 1").fetchone()
    return row[0] if row else None
