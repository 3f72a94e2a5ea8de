"""``{ name = "*.tmp" }``: the file's name matches one of some glob patterns."""

from __future__ import annotations

import fnmatch
import re

from pydantic import Field, field_validator

from .base import Filter, FilterEnv, Predicate
from .registry import register_filter


def glob_matcher(patterns: list[str], *, case_sensitive: bool):
    """One compiled ``match`` for all ``patterns`` (``*``, ``?``, ``[abc]`` as in a shell)."""
    joined = "|".join(fnmatch.translate(p) for p in patterns)
    return re.compile(joined, 0 if case_sensitive else re.I).match


@register_filter
class NameFilter(Filter):
    """Names that match a glob pattern."""

    name = "name"
    cost = 0

    name_: str | list[str] = Field(alias="name", description="A glob such as '*.tmp' or 'Screenshot *', "
                                                           "or a list of them (any may match).")
    case_sensitive: bool = Field(False, description="Tell upper and lower case apart.")

    @field_validator("name_")
    @classmethod
    def _valid(cls, v):
        pats = [v] if isinstance(v, str) else v
        if not pats or any(not p or "/" in p for p in pats):
            raise ValueError(f"name {v!r}: give one or more non-empty patterns for the file name "
                             f"(no '/'; use 'exclude' or 'regex' with on = 'path' for paths)")
        return v

    def compile(self, env: FilterEnv) -> Predicate:
        pats = [self.name_] if isinstance(self.name_, str) else list(self.name_)
        match = glob_matcher(pats, case_sensitive=self.case_sensitive)
        return lambda e: match(e.name) is not None

    def describe(self) -> str:
        return f"name {self.name_!r}"
