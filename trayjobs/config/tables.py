"""The tables inside a job: ``retry``, ``watch`` and ``when``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, create_model, field_validator, model_validator

from ..conditions import CONDITIONS
from ..places import danger, expand, problem, refusal
from .base import DEFAULT_IGNORE, Duration, _Strict

__all__ = ["RetryPolicy", "WatchSpec", "When"]


class RetryPolicy(_Strict):
    attempts: int = Field(3, ge=1, le=100, description="Attempts in all, the first included.")
    backoff: Duration = Field(30.0, ge=0, description="Wait before the 2nd attempt; doubles after each failure.")
    max_backoff: Duration = Field(3600.0, ge=0, description="Longest wait between attempts "
                                  "(without it: 1h, or the backoff where that is longer).")
    jitter: bool = Field(True, description="Randomise each wait by up to ±25 % so retries do not bunch up.")

    @model_validator(mode="after")
    def _cap_not_below_backoff(self) -> "RetryPolicy":
        # Both written, the cap below the first wait: every wait would be the cap, and the
        # backoff written would never be waited. (One of them alone meets the other's
        # default, which says nothing of what was meant.)
        if {"backoff", "max_backoff"} <= self.model_fields_set and \
                self.max_backoff < self.backoff:
            from pydantic_core import InitErrorDetails
            from ..durations import format_duration
            error = ValueError(
                f"{format_duration(self.max_backoff)} is shorter than backoff "
                f"({format_duration(self.backoff)}), so every wait would be "
                f"{format_duration(self.max_backoff)}; give a max_backoff of at least the "
                f"backoff")
            raise ValidationError.from_exception_data(type(self).__name__, [InitErrorDetails(
                type="value_error", loc=("max_backoff",), input=self.max_backoff,
                ctx={"error": error})])
        if "max_backoff" not in self.model_fields_set and self.backoff > self.max_backoff:
            # backoff = "2h" alone means waits of 2 h and more, not the default cap's 1 h.
            object.__setattr__(self, "max_backoff", self.backoff)
        return self


class WatchSpec(_Strict):
    folder: str = Field(description="The folder to watch, written in full: `~` is your home, "
                                    "$VARIABLES are expanded.")
    patterns: list[str] = Field(["*"], description="File name globs that trigger the job.")
    recursive: bool = Field(False, description="Watch sub-folders too.")
    settle: Duration = Field(1.0, ge=0, le=3600, description="Quiet time (size and mtime unchanged) before a file counts as complete.")
    ignore: list[str] = Field(default_factory=lambda: list(DEFAULT_IGNORE),
                              description="Names never treated as input (partial downloads, temp and hidden files).")
    allow_dangerous_location: bool = Field(
        False, description="Allow watching /, the home folder itself, a folder holding it, and "
                           "system folders.")

    @field_validator("patterns")
    @classmethod
    def _some_pattern(cls, v: list[str]) -> list[str]:
        if not v or not any(p.strip() for p in v):
            raise ValueError("with no pattern no file matches, and the watch would never start "
                             "the job: leave patterns out to watch every file, or name some, "
                             "e.g. [\"*.csv\"]")
        return v

    @field_validator("folder")
    @classmethod
    def _usable_folder(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a watched folder needs a path")
        why = problem(v)
        if why:
            raise ValueError(f"{v!r} {why}")
        return v

    @model_validator(mode="after")
    def _safe_folder(self) -> "WatchSpec":
        # A job whose files are moved aside (import) would sweep up the whole folder.
        why = None if self.allow_dangerous_location else danger(self.folder)
        if why:
            raise refusal(type(self).__name__, "folder", self.folder, why, " in the watch table")
        return self

    @property
    def path(self) -> Path:
        return Path(expand(self.folder))


#: A job's ``when`` table: one optional key per run condition of the registry.
When = create_model("When", __base__=_Strict, **{
    key: (cond.annotation | None, Field(None, description=cond.description))
    for key, cond in CONDITIONS.items()})
