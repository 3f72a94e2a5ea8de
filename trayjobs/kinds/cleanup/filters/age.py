"""``{ age = "older than 30d" }``: by modified, created or accessed time."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from ....durations import parse_duration
from .base import Filter, FilterEnv, Predicate
from .registry import register_filter

_AGE = re.compile(r"^\s*(older|newer)\s+than\s+(.+?)\s*$", re.I)


def parse_age(text: str) -> tuple[bool, float]:
    """``(older, seconds)`` for ``"older than 30d"``; ``ValueError`` naming the text otherwise."""
    m = _AGE.match(text)
    if not m:
        raise ValueError(f"age {text!r}: write e.g. 'older than 30d' or 'newer than 2h'")
    try:
        seconds = parse_duration(m.group(2))
    except ValueError:
        raise ValueError(f"age {text!r}: {m.group(2)!r} is not a duration; "
                         f"use s, m, h, d or w, e.g. '30d' or '1h30m'") from None
    return m.group(1).lower() == "older", seconds


def _created(st) -> float:
    # Linux reports no creation time through stat; the inode change time is never
    # earlier than it, so "older than" by created stays on the safe side.
    return getattr(st, "st_birthtime", st.st_ctime)


@register_filter
class AgeFilter(Filter):
    """Files older or newer than a duration."""

    name = "age"
    cost = 1

    age: str = Field(description="'older than 30d' or 'newer than 2h' (units s, m, h, d, w).")
    time: Literal["modified", "created", "accessed"] = Field(
        "modified", description="Which time of the file to compare: last modified, created or accessed.")

    @field_validator("age")
    @classmethod
    def _valid(cls, v: str) -> str:
        parse_age(v)
        return v

    def compile(self, env: FilterEnv) -> Predicate:
        older, seconds = parse_age(self.age)
        cutoff = env.now - seconds
        if self.time == "modified":
            if older:
                return lambda e: e.stat(follow_symlinks=False).st_mtime < cutoff
            return lambda e: e.stat(follow_symlinks=False).st_mtime >= cutoff
        get = _created if self.time == "created" else (lambda st: st.st_atime)
        if older:
            return lambda e: get(e.stat(follow_symlinks=False)) < cutoff
        return lambda e: get(e.stat(follow_symlinks=False)) >= cutoff

    def describe(self) -> str:
        return f"{self.time} {self.age.strip()}"
