"""The filters a job may name, by key."""

from __future__ import annotations

from .base import Filter

__all__ = ["FILTERS", "register_filter"]

FILTERS: dict[str, type[Filter]] = {}


def register_filter(cls: type[Filter]) -> type[Filter]:
    if cls.name in FILTERS:
        raise ValueError(f"filter {cls.name!r} is registered twice")
    FILTERS[cls.name] = cls
    return cls
