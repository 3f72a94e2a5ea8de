"""``ac_power`` and ``battery_above``: read from UPower (``OnBattery``, and the
``Percentage`` of its DisplayDevice, the battery the desktop shows)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .base import MET, Condition, Facts, Verdict

__all__ = ["AcPower", "BatteryAbove"]


def _battery(power: dict[str, Any]) -> str:
    pct = power.get("percentage")
    return f" ({pct:.0f} %)" if pct is not None else ""


class AcPower(Condition):
    key = "ac_power"
    annotation = bool
    description = ("true: only on mains power, never on battery. false: also on battery, "
                   "whatever the setting `pause_on_battery` says.")
    source = "power"

    def check(self, value: Any, facts: Facts, now: float) -> Verdict:
        power = facts.get("power")
        if power is None:
            return Verdict(None, f"power state unknown: {facts.why_unknown('power')}")
        if power.get("on_battery"):
            return Verdict(False, f"on battery{_battery(power)}")
        return MET

    def describe(self, value: Any) -> str:
        return "on AC power"


class BatteryAbove(Condition):
    key = "battery_above"
    # Above 100 % a battery never is: such a job's runs would wait for ever.
    annotation = Annotated[int, Field(ge=0, le=99)]
    description = ("Only while the battery is charged above this many percent (0-99); "
                   "a computer without a battery always is.")
    source = "power"

    def check(self, value: Any, facts: Facts, now: float) -> Verdict:
        power = facts.get("power")
        if power is None:
            return Verdict(None, f"battery level unknown: {facts.why_unknown('power')}")
        pct = power.get("percentage")
        if pct is None or pct > value:  # no battery at all: nothing runs low
            return MET
        return Verdict(False, f"battery at {pct:.0f} %, not above {value} %")

    def describe(self, value: Any) -> str:
        return f"battery above {value} %"
