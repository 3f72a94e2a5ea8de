"""``{ extension = ["zip", "dmg"] }``: by extension, in any case."""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import Filter, FilterEnv, Predicate
from .registry import register_filter


def _normal(ext: str) -> str:
    return "." + ext.strip().lstrip(".").lower()


@register_filter
class ExtensionFilter(Filter):
    """Names ending in one of some extensions."""

    name = "extension"
    cost = 0

    extension: str | list[str] = Field(description="An extension such as 'zip' or a list of them; the dot "
                                                   "is optional, case is ignored, 'tar.gz' works.")

    @field_validator("extension")
    @classmethod
    def _valid(cls, v):
        exts = [v] if isinstance(v, str) else v
        if not exts or any(_normal(x) == "." or "/" in x for x in exts):
            raise ValueError(f"extension {v!r}: give one or more extensions such as 'pdf' or ['zip', 'dmg']")
        return v

    def compile(self, env: FilterEnv) -> Predicate:
        exts = tuple(_normal(x) for x in ([self.extension] if isinstance(self.extension, str)
                                          else self.extension))
        return lambda e: e.name.lower().endswith(exts)

    def describe(self) -> str:
        return f"extension {self.extension!r}"
