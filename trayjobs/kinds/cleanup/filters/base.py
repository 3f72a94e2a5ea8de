"""What every filter is: a small params model that compiles to a predicate.

A filter is one TOML table naming it (``{ age = "older than 30d" }``) plus an
optional ``not = true``. ``compile`` turns the validated model into a plain
function of an ``os.DirEntry``, built once per run, so that scanning costs
one call per file and no parsing.
"""

from __future__ import annotations

from abc import abstractmethod

import os
from dataclasses import dataclass, field
from typing import Callable, ClassVar

from pydantic import Field

from ..fsops import tree_sizes
from ..spec import Spec

__all__ = ["Filter", "FilterEnv", "Predicate"]

Predicate = Callable[[os.DirEntry], bool]


@dataclass
class FilterEnv:
    """What predicates may consult while a run scans."""

    now: float
    folders: bool = False                       # the run's targets are folders
    root: str = ""                              # the location being scanned
    gone: set[str] = field(default_factory=set)  # paths this run removed
    sizes: dict[str, int] = field(default_factory=dict)  # of folders, worked out once

    def folder_size(self, path: str) -> int:
        """Bytes below the folder ``path``; its sub-folders' sizes are kept from the same walk."""
        if path not in self.sizes:
            self.sizes.update(tree_sizes(path))
        return self.sizes[path]

    def changed(self, path: str) -> None:
        """Something below the folder ``path`` was acted on: its size is worked out afresh."""
        self.sizes.pop(path, None)


class Filter(Spec):
    #: the key that names the filter in a job's ``filters`` list
    name: ClassVar[str]
    #: 0: looks at the name only, 1: needs the file's stat, 2: lists a folder
    cost: ClassVar[int] = 1

    negate: bool = Field(False, alias="not", description="Match what this filter does not match.")

    @abstractmethod
    def compile(self, env: FilterEnv) -> Predicate:
        """The test for one item, built once per run (globs and patterns compiled here)."""

    @abstractmethod
    def describe(self) -> str:
        """The filter in words, for previews and logs."""

    def caution(self) -> str | None:
        """What may go wrong with this filter, though it is valid (a pattern that can take
        very long on some names): ``trayjobs check`` and the job editor warn of it."""
        return None

    def predicate(self, env: FilterEnv) -> Predicate:
        test = self.compile(env)
        if self.negate:
            return lambda e: not test(e)
        return test

    def __str__(self) -> str:
        return ("not " if self.negate else "") + self.describe()
