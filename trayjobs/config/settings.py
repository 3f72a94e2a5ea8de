"""``[settings]``: the app's own options."""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import Duration, _Strict

__all__ = ["Settings"]


class Settings(_Strict):
    workers: int = Field(2, ge=1, le=16, description="How many runs may execute at once.")
    notify_failures: bool = Field(True, description="Desktop notification when a run fails for good.")
    notify_success: bool = Field(False, description="Desktop notification when a run succeeds.")
    notify_warnings: bool = Field(True, description="Desktop notification when a run succeeds "
                                                    "with warnings (rejected rows, skipped files...).")
    quiet_hours: str | None = Field(None, description="No notifications in this span, e.g. '22:00-07:00'.")
    keep_days: int = Field(90, ge=1, le=36_500, description=(
        "Runs older than this are removed from the history, with the output folders they "
        "left in the data folder's outputs/."))
    keep_runs: int = Field(100_000, ge=100, le=1_000_000_000,
                           description="At most this many runs are kept in the history.")
    keep_failed_days: int = Field(365, ge=1, le=36_500, description="Failed runs are kept this long.")
    catchup_delay: Duration = Field(60.0, ge=0, description="After the machine wakes up, wait this long before catching up missed runs.")
    pause_on_battery: bool = Field(False, description=(
        "Jobs wait while the computer runs on battery (as if each had `when = { ac_power = "
        "true }`); a job's `ac_power = false` runs anyway."))
    only_unmetered: bool = Field(False, description=(
        "Jobs wait for an unmetered network (as if each had `when = { network = "
        "\"unmetered\" }`); a job's `network = \"any\"` runs anyway."))


    @field_validator("quiet_hours")
    @classmethod
    def _span(cls, v: str | None) -> str | None:
        from ..alerts.quiet import check_span  # the same words as a channel's quiet hours
        return None if v is None else check_span(v)
