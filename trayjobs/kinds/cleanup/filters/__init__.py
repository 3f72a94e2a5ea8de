"""Filters: one small module each, registered by the key a job uses for them.

``FilterSpec`` is the pydantic type of one entry of a job's ``filters``
list: it picks the filter model by the key the table names, so an unknown
or misspelt filter, or a bad value, is reported with its own name.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Tag

from . import age, empty, extension, name, regex, size  # noqa: F401  (they register themselves)
from .base import Filter, FilterEnv, Predicate
from .registry import FILTERS

__all__ = ["FILTERS", "Filter", "FilterEnv", "FilterSpec", "Predicate", "combine"]


def _which(value: Any) -> str | None:
    if isinstance(value, Filter):
        return value.name
    if isinstance(value, dict):
        keys = [k for k in value if k in FILTERS]
        return keys[0] if len(keys) == 1 else None
    return None


FilterSpec = Annotated[
    Union[tuple(Annotated[cls, Tag(key)] for key, cls in FILTERS.items())],
    Discriminator(
        _which, custom_error_type="filter",
        custom_error_message="a filter is a table naming exactly one of: " + ", ".join(sorted(FILTERS))
        + ", plus optional settings, e.g. { age = \"older than 30d\" } or { size = \">1 GB\", not = true }"),
]


def combine(filters: list[Filter], match: Literal["all", "any", "none"], env: FilterEnv) -> Predicate:
    """One predicate for the job: cheap filters are asked first (the result is the same)."""
    preds = [f.predicate(env) for f in sorted(filters, key=lambda f: f.cost)]
    if not preds:
        return lambda e: True
    if len(preds) == 1:
        only = preds[0]
        return (lambda e: not only(e)) if match == "none" else only
    if match == "all":
        if len(preds) == 2:
            a, b = preds
            return lambda e: a(e) and b(e)
        return lambda e: all(p(e) for p in preds)
    if match == "any":
        return lambda e: any(p(e) for p in preds)
    return lambda e: not any(p(e) for p in preds)
