"""``{ regex = "^IMG_\\d+" }``: a regular expression found in the name (or path)."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import Field, field_validator

from .base import Filter, FilterEnv, Predicate
from .registry import register_filter


@register_filter
class RegexFilter(Filter):
    """Names (or paths) in which a regular expression is found."""

    name = "regex"
    cost = 0

    regex: str = Field(description="A Python regular expression searched for in the name; "
                                   "anchor it with ^ and $ to match the whole name.")
    on: Literal["name", "path"] = Field("name", description="Search the file's name, or its path "
                                                          "relative to the location (with '/').")
    case_sensitive: bool = Field(False, description="Tell upper and lower case apart.")

    @field_validator("regex")
    @classmethod
    def _valid(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"regex {v!r}: {exc}") from None
        return v

    def compile(self, env: FilterEnv) -> Predicate:
        search = re.compile(self.regex, 0 if self.case_sensitive else re.I).search
        if self.on == "name":
            return lambda e: search(e.name) is not None

        def on_path(e):
            rel = e.path[len(env.root) + 1:]
            return search(rel if os.sep == "/" else rel.replace(os.sep, "/")) is not None
        return on_path

    def describe(self) -> str:
        return f"{self.on} ~ /{self.regex}/"
