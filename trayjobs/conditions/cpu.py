"""``cpu_below = 50``: the machine is not busy: the load of the last minute, per core,
is below this many percent. No service announces load, so a waiting run looks again
every :attr:`CpuBelow.recheck` seconds (and only while one waits)."""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import Field

from .base import MET, Condition, Facts, Verdict

__all__ = ["CpuBelow", "cpu_load"]


def cpu_load() -> float | None:
    """The 1-minute load average as a percentage of all cores; None where unknown."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
    return 100.0 * load / (os.cpu_count() or 1)


class CpuBelow(Condition):
    key = "cpu_below"
    annotation = Annotated[float, Field(gt=0, le=100)]
    description = ("Only while the computer is not busy: its load over the last minute, "
                   "as a percentage of all its cores, is below this.")
    recheck = 15.0

    def check(self, value: Any, facts: Facts, now: float) -> Verdict:
        load = cpu_load()
        if load is None:
            return Verdict(None, "CPU load unknown on this system")
        if load < value:
            return MET
        return Verdict(False, f"CPU busy ({load:.0f} %, waiting for below {value:g} %)")

    def describe(self, value: Any) -> str:
        return f"CPU below {value:g} %"
