"""The run conditions, by the key each is written under in a job's ``when`` table."""

from __future__ import annotations

from .base import Condition
from .cpu import CpuBelow
from .idle import Idle
from .network import Network
from .paths import PathExists
from .power import AcPower, BatteryAbove

__all__ = ["CONDITIONS", "get_condition", "condition_keys"]

#: In the order the reference and the job editor list them.
CONDITIONS: dict[str, Condition] = {c.key: c for c in (
    AcPower(), BatteryAbove(), Network(), Idle(), PathExists(), CpuBelow())}


def get_condition(key: str) -> Condition:
    try:
        return CONDITIONS[key]
    except KeyError:
        raise KeyError(f"no condition {key!r} (conditions: {', '.join(CONDITIONS)})") from None


def condition_keys() -> list[str]:
    return list(CONDITIONS)
