"""What reading the jobs file gives: :class:`Config`, its jobs, settings and mistakes."""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..alerts.spec import ChannelSpec
from ..cluster import ClusterSpec
from ..errors import ConfigError
from .job import JobConfig
from .settings import Settings

__all__ = ["Config"]


@dataclass
class Config:
    path: Path | None
    settings: Settings = field(default_factory=Settings)
    jobs: dict[str, JobConfig] = field(default_factory=dict)
    #: The ``[alerts.NAME]`` channels that are valid.
    alerts: dict[str, ChannelSpec] = field(default_factory=dict)
    #: ``[cluster]``: the shared servers (a Redis queue), read when jobs start running.
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    errors: list[ConfigError] = field(default_factory=list)
    #: The text read (empty when there is no file).
    text: str = field(default="", repr=False)
    #: Nothing in the file could be used: it cannot be read, or is not TOML at all.
    unreadable: bool = False
    #: The file is unreadable and these are the jobs of its last good version, saved then.
    kept_from: float | None = None

    def kept_note(self) -> str | None:
        """When the file cannot be used at all: which version's jobs are in use instead."""
        if self.kept_from is None:
            return None
        from ..textfmt import when
        jobs = f"{len(self.jobs)} job{'s' if len(self.jobs) != 1 else ''}"
        return (f"{self.path}: cannot be used as it is; using the last good version from "
                f"{when(self.kept_from)} until it is fixed ({jobs})")

    def job(self, name: str) -> JobConfig:
        """The job called ``name``. Typed with other Unicode characters that look the same
        (``é`` as ``e`` and an accent, as macOS and some terminals write it) it is the same
        name, as in the file (see :func:`parse_config`)."""
        job = self.jobs.get(name)
        if job is not None:
            return job
        nfc = unicodedata.normalize("NFC", name)
        for other, job in self.jobs.items():
            if unicodedata.normalize("NFC", other) == nfc:
                return job
        for mistake in self.errors:  # in the file, but left out: say why, not that it is not there
            if mistake.job is not None and unicodedata.normalize("NFC", mistake.job) == nfc:
                raise ConfigError(f"this job is left out until its mistake is fixed: {mistake.message}",
                                  file=mistake.file, job=mistake.job, key=mistake.key,
                                  line=mistake.line) from None
        if self.unreadable and self.errors:  # the file may well define it: say what is wrong
            first = self.errors[0]
            raise ConfigError(f"there is no job called {name!r} while the file cannot be read: "
                              f"{first.message}", file=first.file, line=first.line)
        raise ConfigError(f"there is no job called {name!r}{_other_jobs(nfc, self.jobs)}")


#: Jobs listed by name when the one asked for is not there; more would fill the screen.
_LISTED_JOBS = 12


def _other_jobs(name: str, jobs: dict[str, Any], *, listed: bool = True) -> str:
    """What to say of the jobs there are, after "there is no job called NAME": the one
    meant, if a name differs only in case or by a slip of the keyboard, else (``listed``)
    a few."""
    if not jobs:
        return " (no jobs are defined)" if listed else ""
    folded = {n.casefold(): n for n in jobs}
    close = [folded[name.casefold()]] if name.casefold() in folded else [
        folded[n] for n in difflib.get_close_matches(name.casefold(), list(folded), n=3)]
    if close:
        return f"; did you mean {' or '.join(repr(n) for n in close)}?"
    if not listed:
        return ""
    names = sorted(jobs)
    if len(names) <= _LISTED_JOBS:
        return f" (jobs: {', '.join(names)})"
    return f" ({len(names):,} jobs; `trayjobs jobs` lists them)"
