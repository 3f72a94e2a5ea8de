"""``{ regex = "^IMG_\\d+" }``: a regular expression found in the name (or path).

Patterns run on the ``regex`` package rather than ``re``: it takes a ``timeout``.
With ``re`` a pattern such as ``^(a|aa)+$`` tries every way of splitting a long
name and can run for hours on one file, holding the whole cleanup until its
timeout or a cancel. A match that takes longer than :data:`MATCH_TIMEOUT`
stops the run (see :class:`PatternTooSlow`): a filter that cannot decide must
never pick a file, and skipping would let the next such name hold the run again.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, field_validator

from ....errors import JobFailed
from .base import Filter, FilterEnv, Predicate
from .registry import register_filter

__all__ = ["MATCH_TIMEOUT", "PatternTooSlow", "RegexFilter"]

#: Seconds one name may take: an ordinary pattern needs microseconds for a name.
MATCH_TIMEOUT = 1.0


class PatternTooSlow(JobFailed):
    """A ``regex`` filter's pattern did not finish on one name in time."""

    def __init__(self, pattern: str, text: str) -> None:
        shown = text if len(text) <= 60 else text[:57] + "..."
        shown = shown.encode("unicode_escape", "backslashreplace").decode("ascii")
        super().__init__(
            f"regex filter {pattern!r} took more than {MATCH_TIMEOUT:g} s on {shown!r} and was "
            f"stopped; the run stops here so that no file is picked by a filter that cannot decide. "
            f"A repeat inside a repeat, such as (a+)+ or (a|aa)*, can take forever on some names: "
            f"write the pattern without one (e.g. ^a+$)", retry=False)


@register_filter
class RegexFilter(Filter):
    """Names (or paths) in which a regular expression is found."""

    name = "regex"
    cost = 0

    regex: str = Field(description="A Python regular expression searched for in the name; "
                                   "anchor it with ^ and $ to match the whole name. A match that takes "
                                   f"over {MATCH_TIMEOUT:g} s on one name stops the run.")
    on: Literal["name", "path"] = Field("name", description="Search the file's name, or its path "
                                                          "relative to the location (with '/').")
    case_sensitive: bool = Field(False, description="Tell upper and lower case apart.")

    @field_validator("regex")
    @classmethod
    def _valid(cls, v: str) -> str:
        import regex as regex_engine  # ~30 ms: paid by the jobs that have a regex filter
        try:
            regex_engine.compile(v)
        except regex_engine.error as exc:
            raise ValueError(f"regex {v!r}: {exc}") from None
        return v

    def compile(self, env: FilterEnv) -> Predicate:
        import regex as regex_engine
        pattern = self.regex
        search = regex_engine.compile(pattern, 0 if self.case_sensitive else regex_engine.I).search

        def found(text: str) -> bool:
            try:
                return search(text, timeout=MATCH_TIMEOUT) is not None
            except TimeoutError:
                raise PatternTooSlow(pattern, text) from None

        if self.on == "name":
            return lambda e: found(e.name)

        def on_path(e):
            rel = e.path[len(env.root) + 1:]
            return found(rel if os.sep == "/" else rel.replace(os.sep, "/"))
        return on_path

    def caution(self) -> str | None:
        from .backtrack import nested_repeat
        found = nested_repeat(self.regex)
        if found is None:
            return None
        part, what = found
        return (f"regex {self.regex!r} has {what}, {part!r}: on some names it can take very "
                f"long, and a match that takes over {MATCH_TIMEOUT:g} s stops the run; write it "
                f"with one repeat if you can (e.g. ^a+$ for ^(a+)+$ or ^(a|aa)+$)")

    def describe(self) -> str:
        return f"{self.on} ~ /{self.regex}/"
