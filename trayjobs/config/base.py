"""What the parts of the jobs file share: its limits, the keys named across it, and
the strict base of its tables."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from ..durations import parse_duration

__all__ = ["Duration", "RunParam", "OUTPUT_FOLDER_KEYS", "HOOK_KEYS", "HOOK_OUTCOMES", "MAX_NESTING", "PATH_KEYS", "MIN_EVERY", "MAX_FILE_BYTES", "DEFAULT_IGNORE"]


def _duration(v: Any) -> float:
    return parse_duration(v)


Duration = Annotated[float, BeforeValidator(_duration)]


#: A run parameter's value: a TOML scalar.
RunParam = str | bool | int | float


#: The params of a job kind that name folders the job moves its input files into; a
#: relative one is taken beside each file.
OUTPUT_FOLDER_KEYS = ("processed_dir", "failed_dir")


_LEAVE = "leave"  # such a folder's value that keeps the files where they are


#: The keys that start other jobs after a run ends, and the outcomes each one follows.
HOOK_KEYS = ("then", "on_failure", "always")


HOOK_OUTCOMES = {"then": ("succeeded",), "on_failure": ("failed",),
                 "always": ("succeeded", "failed", "cancelled")}


#: Tables and lists inside a job (or [settings]) nest at most this deep: deeper ones are
#: mistakes, and reading them recurses (a few hundred levels end Python's recursion).
MAX_NESTING = 32


#: Keys of job kinds that name a file or folder: an empty text is none (it would mean the
#: current folder of whatever process runs the job).
PATH_KEYS = ("folder", "path", "cwd", "file", "database", "template") + OUTPUT_FOLDER_KEYS


#: The shortest ``every``, in seconds.
MIN_EVERY = 1.0


#: The largest jobs file read: a real one is a few kilobytes, and reading one is validating
#: every job in it (a 5 MB file of 70,000 jobs takes seconds).
MAX_FILE_BYTES = 10 * 1024 * 1024


DEFAULT_IGNORE = ["*.part", "*.crdownload", "*.tmp", "*.temp", "*.partial", "*.download",
                  "~$*", ".~lock*", ".*", "*.swp", "*~"]


class _Strict(BaseModel):
    # strict: a bool, int or float must be one in the file ("no" is not false, "2" not 2);
    # keys that take text for a value (durations) convert it in their own validators first.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True,
                              defer_build=True)
