"""``path_exists = "/mnt/backup"``: a file, folder or mounted volume is there.

Mounting and unmounting wake the check at once (the engine follows the mount table);
a plain file appearing is noticed at the next look, every :attr:`PathExists.recheck`
seconds while a run waits on it.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import AfterValidator

from ..places import expand, problem
from .base import MET, Condition, Facts, Verdict

__all__ = ["PathExists"]


def _usable(v: str) -> str:
    if not v.strip():
        raise ValueError("empty; give a path, e.g. \"/mnt/backup\"")
    why = problem(v)
    if why:
        raise ValueError(f"{v!r} {why}")
    return v


class PathExists(Condition):
    key = "path_exists"
    annotation = Annotated[str, AfterValidator(_usable)]
    description = ('Only while this file, folder or mounted volume is there, e.g. '
                   '"/mnt/backup" (`~` and $VARIABLES are expanded).')
    recheck = 30.0

    def check(self, value: Any, facts: Facts, now: float) -> Verdict:
        if os.path.exists(expand(value)):
            return MET
        return Verdict(False, f"{value} is not there")

    def describe(self, value: Any) -> str:
        return f"{value} is there"
