"""``{ size = ">100 MB" }``: by size; ``"> 1 MB, < 1 GiB"`` for a range."""

from __future__ import annotations

import operator
import re

from pydantic import Field, field_validator

from ....durations import parse_size
from .base import Filter, FilterEnv, Predicate
from .registry import register_filter

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "=": operator.eq, "==": operator.eq}
_UNITS = {"b", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "tib"}
_PART = re.compile(r"^\s*(<=|>=|==|<|>|=)?\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.I)


def parse_conditions(text: str) -> list[tuple[str, int]]:
    """``[(">", 100_000_000)]`` for ``">100 MB"``; ``ValueError`` naming the text otherwise."""
    conditions = []
    for part in str(text).split(","):
        m = _PART.match(part)
        if not m:
            raise ValueError(f"size {text!r}: write e.g. '>100 MB', '<1 KiB' or '>1 MB, <1 GB'")
        op, number, unit = m.groups()
        if not op:
            raise ValueError(f"size {text!r}: start with <, <=, >, >= or =")
        if unit and unit.lower() not in _UNITS:
            raise ValueError(f"size {text!r}: unknown unit {unit!r}; "
                             f"use B, KB, MB, GB, TB (x1000) or KiB, MiB, GiB, TiB (x1024)")
        conditions.append((op, parse_size(f"{number} {unit}")))
    return conditions


@register_filter
class SizeFilter(Filter):
    """Files (or folders, by their total content) of a size."""

    name = "size"
    cost = 1

    size: str = Field(description="A comparison such as '>100 MB' or '<1 KiB'; several joined by commas "
                                  "must all hold. KB/MB/GB count 1000s, KiB/MiB/GiB 1024s.")

    @field_validator("size")
    @classmethod
    def _valid(cls, v: str) -> str:
        parse_conditions(v)
        return v

    def compile(self, env: FilterEnv) -> Predicate:
        checks = [(_OPS[op], n) for op, n in parse_conditions(self.size)]
        if env.folders:
            def size_of(e):
                return env.folder_size(e.path)
        else:
            def size_of(e):
                return e.stat(follow_symlinks=False).st_size
        if len(checks) == 1:
            (op, n), = checks
            return lambda e: op(size_of(e), n)
        return lambda e: all(op(size_of(e), n) for op, n in checks)

    def describe(self) -> str:
        return f"size {self.size.strip()}"
