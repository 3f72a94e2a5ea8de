"""``{ empty = true }``: empty files, or (when the job targets folders) empty folders."""

from __future__ import annotations

import os

from pydantic import Field

from .base import Filter, FilterEnv, Predicate
from .registry import register_filter

# A folder holding only these is empty for a person; they travel with it to the trash.
DESKTOP_METADATA = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".localized", ".directory"})


def folder_is_empty(path: str, gone: set[str]) -> bool:
    """Nothing in ``path`` but desktop metadata and what this run already removed."""
    try:
        with os.scandir(path) as it:
            for e in it:
                if e.name not in DESKTOP_METADATA and e.path not in gone:
                    return False
    except OSError:
        return False  # unreadable: never call it empty
    return True


@register_filter
class EmptyFilter(Filter):
    """Files of size zero; with ``targets = "folders"``, folders with nothing in them."""

    name = "empty"
    cost = 2

    empty: bool = Field(True, description="true: match empty files (or folders); false: non-empty ones.")

    def compile(self, env: FilterEnv) -> Predicate:
        if env.folders:
            def test(e):
                return folder_is_empty(e.path, env.gone)
        else:
            def test(e):
                return e.is_file(follow_symlinks=False) and e.stat(follow_symlinks=False).st_size == 0
        if self.empty:
            return test
        return lambda e: not test(e)

    def describe(self) -> str:
        return "empty" if self.empty else "not empty"
