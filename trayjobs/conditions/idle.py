"""``idle = "5m"``: the person has not used the computer for that long, as logind
says (``IdleHint`` and ``IdleSinceHint`` of its Manager, which the desktop keeps)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator

from ..durations import format_duration, parse_duration
from .base import MET, Condition, Facts, Verdict

__all__ = ["Idle"]


class Idle(Condition):
    key = "idle"
    annotation = Annotated[float, BeforeValidator(parse_duration)]
    description = ('Only once nobody has used the computer for this long, e.g. "5m" '
                   "(the desktop tells logind when it goes idle).")
    source = "idle"

    def check(self, value: Any, facts: Facts, now: float) -> Verdict:
        idle = facts.get("idle")
        if idle is None:
            return Verdict(None, f"idle time unknown: {facts.why_unknown('idle')}")
        if not idle.get("idle"):
            return Verdict(False, "the computer is in use")
        since = idle.get("since") or now
        if now - since >= value:
            return MET
        return Verdict(False, f"idle for {format_duration(max(0.0, now - since))} of "
                              f"{format_duration(value)}", recheck_at=since + value)

    def describe(self, value: Any) -> str:
        return f"idle for {format_duration(value)}"
