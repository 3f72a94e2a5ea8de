"""The jobs file: ``trayjobs.toml`` in the config dir, read into validated jobs.

One broken job never stops the others from loading: each job is validated on
its own and its problems are collected as :class:`~trayjobs.errors.ConfigError`
values that name the file, the line, the job and the key. ``trayjobs check``
and the window show them.
"""

from __future__ import annotations

import difflib
import errno
import math
import os
import re
import stat
import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Discriminator, Field,
                      StringConstraints, Tag, ValidationError, create_model, field_validator,
                      model_validator)

from .alerts.spec import ChannelSpec, DeliverSpec, check_ping
from .conditions import CONDITIONS
from .conditions import effective as _effective_conditions
from .durations import parse_duration
from .errors import ConfigError
from .kinds.base import COMMON_KEYS, KindParams, empty_dict, empty_list
from .kinds.registry import builtin_names, get_kind, kind_names
from .places import danger, expand, problem, refusal
from .schedule import Cron, CronError, Interval
from .cluster import ClusterSpec, parse_cluster
from .secrets import SecretRef

__all__ = ["Config", "JobConfig", "Settings", "RetryPolicy", "WatchSpec", "When", "load_config",
           "parse_config", "parse_param_value", "check_jobs", "hook_cycles", "DEFAULT_IGNORE",
           "HOOK_KEYS", "HOOK_OUTCOMES", "OUTPUT_FOLDER_KEYS", "MAX_NESTING", "PATH_KEYS",
           "MAX_FILE_BYTES", "MIN_EVERY", "read_jobs_file"]


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
            from .durations import format_duration
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


class JobCommon(_Strict):
    kind: str = Field(description="What the job does: " + ", ".join(builtin_names())
                      + ", or a kind an installed plug-in adds (`trayjobs kinds`).")
    description: str = Field("", description="A line of your own about the job.")
    tags: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]] = Field(
        default_factory=empty_list, description="Words of your own to group jobs by, e.g. "
        "`[\"home\", \"money\"]`: the Jobs, Activity and Metrics pages filter by them.")
    enabled: bool = Field(True, description="Off: the job keeps its settings but never runs by itself.")
    every: Duration | None = Field(None, gt=0, description=(
        "Run at this interval, e.g. '15m', '2h', '1d' (at least '1s')."))
    cron: str | None = Field(None, description="Run on a 5-field cron schedule in local time, e.g. '0 9 * * mon-fri'.")
    at_login: bool = Field(False, description="Run once each time trayjobs starts (at login when autostart is on).")
    watch: WatchSpec | None = Field(None, description="Run when files arrive in a folder.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="How failed attempts are retried.")
    timeout: Duration | None = Field(None, gt=0, description="Stop an attempt that runs longer than this, e.g. '30m'.")
    priority: int = Field(0, ge=-100, le=100, description="Higher runs first when several runs wait.")
    host: str | None = Field(None, min_length=1, max_length=200, description=(
        "In a cluster (`[cluster]`), only workers on this host run the job, e.g. `\"nas\"` "
        "(the host name, or `[cluster] host`); its runs wait, saying so, while that host has "
        "no worker. Not set: any worker; runs on files (watched folders, `--file`, drops) "
        "go to the host they were started on. Without a cluster every run runs here."))
    overlap: Literal["skip", "queue", "parallel"] = Field(
        "queue", description="When a run is due while the previous one still runs: skip it, queue it, or run both.")
    missed: Literal["skip", "once", "all"] = Field(
        "once", description="Scheduled runs missed while the app was closed or the machine slept: skip them, run once, or run each.")
    then: list[str] = Field(default_factory=empty_list, description="Jobs to run after this one succeeds "
                                                          "(with or without warnings).")
    on_failure: list[str] = Field(
        default_factory=empty_list, description="Jobs to run after this one fails for good (after its "
                                          "last attempt, never after one that is retried).")
    always: list[str] = Field(
        default_factory=empty_list, description="Jobs to run after this one ends, whether it "
                                          "succeeded, failed or was cancelled.")
    notify: Literal["failure", "always", "never"] = Field(
        "failure", description="Desktop notifications for this job's final failures (and "
                               "successes with warnings, as Settings say), every finished run, "
                               "or never.")
    alerts: list[str] | None = Field(None, description=(
        "The alert channels (`[alerts.NAME]`) told about this job, whatever their `jobs` say; "
        "`[]` silences it. Unset: the channels whose `jobs` cover it."))
    ping: str | SecretRef | None = Field(None, description=(
        "A heartbeat URL (healthchecks.io style) pinged at each run: URL/start when it "
        "starts, URL when it succeeds, URL/fail when it fails for good."))
    stale_after: Duration | None = Field(None, gt=0, description=(
        "Alert when the job has had no successful run for this long, e.g. '3d', even when "
        "it never runs at all (paused, or the computer slept through every slot)."))
    deliver: DeliverSpec | None = Field(None, description=(
        "Send the files each successful run writes, e.g. "
        "`{ to = \"me\", attach = [\"pdf\"] }`: a report by mail."))
    when: When = Field(default_factory=When, description=(
        "Run conditions: a due run waits (state `waiting`, with the reason) until they all "
        "hold, e.g. `{ ac_power = true, network = \"unmetered\" }`; see Conditions. Runs "
        "started by hand do not wait."))
    when_unknown: Literal["run", "wait"] = Field(
        "run", description="When a condition cannot be told (its service is missing): run "
                           "anyway (and say so), or wait.")
    max_wait: Duration | None = Field(None, gt=0, description=(
        "Wait for the conditions at most this long, e.g. '2d'; then the run starts anyway "
        "and its log says why."))
    inhibit_sleep: bool | Literal["block", "delay"] = Field(False, description=(
        "Keep the computer from going to sleep while a run is going (a logind inhibitor "
        "lock: true or \"block\" holds sleep off, \"delay\" only delays it a few seconds)."))
    params: dict[str, RunParam] = Field(
        default_factory=empty_dict,
        description="The job's run parameters and their defaults, e.g. "
                    "`{ month = \"last_month\", dry = false }`; `trayjobs run JOB --param "
                    "month=2026-10` sets one for one run. The job gets them as `ctx.params`.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                Cron(v)
            except CronError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("every")
    @classmethod
    def _every(cls, v: float | None) -> float | None:
        # Below a second the scheduler would start runs as fast as it can, a core spent on
        # nothing but filling the history.
        if v is not None and v < MIN_EVERY:
            raise ValueError(f"every {v:g} s is more often than once a second; the shortest "
                             f"interval is '1s'")
        return v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        from .cluster import check_host
        return None if v is None else check_host(v)

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, v: Any) -> Any:
        for key, value in (v.items() if isinstance(v, dict) else ()):
            if not key.strip() or "=" in key:  # `--param KEY=VALUE` could not set it
                raise ValueError(f"parameter {key!r}: give it a name{' without =' * bool(key.strip())}"
                                 f", such as month, so that --param month=2026-10 can set it")
            if not isinstance(value, (str, bool, int, float)):
                raise ValueError(f"parameter {key!r}: give its default as text, a number, "
                                 f"true or false (got {_shown(value)})")
        return v

    @field_validator("ping")
    @classmethod
    def _ping(cls, v: Any) -> Any:
        return check_ping(v) if isinstance(v, str) else v

    @field_validator(*HOOK_KEYS, mode="before")
    @classmethod
    def _hooks(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def hooks(self) -> list[tuple[str, str]]:
        """``(key, job)`` for every job this one's hooks name, in the order written."""
        return [(key, name) for key in HOOK_KEYS for name in getattr(self, key)]


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
        from .alerts.quiet import check_span  # the same words as a channel's quiet hours
        return None if v is None else check_span(v)


_COMMON_FIELDS = frozenset(JobCommon.model_fields)


@dataclass(frozen=True)
class JobConfig:
    """One validated job."""

    name: str
    common: JobCommon
    params: KindParams
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def __getattr__(self, item: str) -> Any:  # job.retry, job.every, ... read through
        if item in _COMMON_FIELDS:
            return getattr(self.common, item)
        raise AttributeError(item)

    @property
    def schedule(self) -> Interval | Cron | None:
        if self.common.cron:
            return Cron(self.common.cron)
        if self.common.every:
            return Interval(self.common.every)
        return None

    @property
    def schedule_spec(self) -> str:
        """A stable text for the schedule: a change of it resets the stored next run."""
        if self.common.cron:
            return f"cron:{self.common.cron}"
        if self.common.every:
            return f"every:{self.common.every}"
        return ""

    def conditions(self, settings: Settings | None = None) -> dict[str, Any]:
        """The conditions this job's runs wait for: ``when``, over the defaults of
        ``settings`` (``pause_on_battery``, ``only_unmetered``)."""
        s = settings or Settings()
        return _effective_conditions(self.common.when.model_dump(exclude_none=True),
                                     pause_on_battery=s.pause_on_battery,
                                     only_unmetered=s.only_unmetered)

    @property
    def sleep_mode(self) -> str | None:
        """The inhibitor lock a run holds: ``block``, ``delay``, or None."""
        value = self.common.inhibit_sleep
        return "block" if value is True else value or None

    def trigger_text(self) -> str:
        """The triggers in plain words, e.g. "Weekdays at 09:00 · watches ~/Inbox"."""
        parts = []
        if self.schedule:
            parts.append(self.schedule.describe())
        if self.common.watch:
            parts.append(f"When files arrive in {self.common.watch.folder}")
        if self.common.at_login:
            parts.append("At login")
        return " · ".join(parts) or "Manual"

    def params_json(self, run_params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The kind's params as JSON; ``run_params`` may set the keys the kind lets a run
        change (a report's ``period``)."""
        data = self.params.model_dump(mode="json", by_alias=True)
        if run_params:
            own = get_kind(self.kind).run_params
            data.update({k: v for k, v in run_params.items() if k in own})
        return data

    def param_keys(self) -> list[str]:
        """The keys ``--param`` may set: the job's ``params`` and what the kind allows."""
        return sorted(set(self.common.params) | get_kind(self.kind).run_params)

    def run_params(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """One run's parameters: the job's ``params`` with ``overrides`` (text as typed on the
        command line, or values). ``UserError`` for a key the job does not declare or a
        value of the wrong type."""
        from .errors import UserError
        out = dict(self.common.params)
        keys = self.param_keys()
        for key, value in (overrides or {}).items():
            if key not in keys:
                declared = ", ".join(keys) or "none; declare them with params = { ... }"
                raise UserError(f"job {self.name!r} has no parameter {key!r} "
                                f"(its parameters: {declared})")
            out[key] = _param_value(self.name, key, value, self.common.params.get(key))
        if any(k in get_kind(self.kind).run_params for k in out):
            try:
                get_kind(self.kind).parse_params(self.params_json(out))
            except ValidationError as exc:
                msg = "; ".join(f"parameter {loc!r}: {m}" if loc else m
                                for loc, m in _messages(exc, get_kind(self.kind).Params))
                raise UserError(f"job {self.name!r}: {msg}") from None
        return out


def parse_param_value(text: str) -> RunParam:
    """A value typed on the command line: a TOML scalar (``false``, ``3``, ``2.5``,
    ``"quoted"``) when it is one, else the text itself."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    return value if isinstance(value, (str, bool, int, float)) else text


def _param_value(job: str, key: str, value: Any, default: Any) -> RunParam:
    """``value`` given for ``key``, of the type of the job's default for it."""
    from .errors import UserError
    if default is None:  # one of the kind's own keys (a report's period): the kind checks it
        return value
    if isinstance(default, str):
        return value if isinstance(value, str) else str(value)  # --param month=2026 is "2026"
    typed = value
    if isinstance(value, str):
        value = parse_param_value(value)
    ok = (isinstance(value, bool) if isinstance(default, bool) else
          isinstance(value, int) and not isinstance(value, bool) if isinstance(default, int) else
          isinstance(value, (int, float)) and not isinstance(value, bool))
    # nan and inf are no numbers here, as in the config file: a job would compute with them
    # silently, and the run's stored params would not be valid JSON.
    ok = ok and not (isinstance(value, float) and not math.isfinite(value))
    if not ok:
        what = {bool: "true or false", int: "a whole number",
                float: "a finite number"}[type(default)]
        raise UserError(f"job {job!r}: parameter {key!r} must be {what} (got "
                        f"{typed if isinstance(typed, str) else _shown(typed)!r})")
    return float(value) if isinstance(default, float) else value


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
        from .textfmt import when
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


def load_config(path: str | Path, *, last_good: str | Path | None = None,
                cache: str | Path | None = None) -> Config:
    """Read and validate the jobs file; a missing file is an empty config. When the file
    cannot be used at all (not TOML, not UTF-8, unreadable) and ``last_good`` holds a copy
    of its last good text, that copy's jobs are returned with the file's errors and
    ``kept_from`` set to when the copy was saved. With ``cache`` (a file), the result is
    kept there and reused while the file and what its validation depended on are
    unchanged (see :mod:`trayjobs.config_cache`)."""
    path = Path(path)
    if cache is not None:
        from .config_cache import cached_config
        return cached_config(path, Path(cache),
                             lambda: load_config(path, last_good=last_good))
    cfg = _load(path)
    if not cfg.unreadable or last_good is None:
        return cfg
    try:
        good_text = Path(last_good).read_text(encoding="utf-8")
        saved = Path(last_good).stat().st_mtime
    except (OSError, UnicodeDecodeError):
        return cfg
    good = parse_config(good_text, path=path)
    if good.unreadable:
        return cfg
    good.errors = cfg.errors + good.errors
    good.unreadable, good.kept_from = True, saved
    return good


_NOT_A_FILE = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
               (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
               (stat.S_ISSOCK, "a socket"))


def read_jobs_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the jobs file, read by everything that reads it. ``OSError`` (with a
    reason to show) for anything but a regular file of at most :data:`MAX_FILE_BYTES`,
    without blocking: a named pipe would wait for a writer for ever, and a device such as
    ``/dev/zero`` would be read until memory runs out."""
    # O_NONBLOCK: opening a named pipe for reading otherwise waits for a writer.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = next((w for test, w in _NOT_A_FILE if test(mode)), "not a regular file")
            raise OSError(errno.EINVAL, f"it is {what}; the jobs file must be a plain text "
                                        f"file", str(path))
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OSError(errno.EFBIG, f"it is larger than {MAX_FILE_BYTES // 2**20} MB, far more "
                                   f"than a jobs file holds; is it the right file?", str(path))
    return data


def _load(path: Path) -> Config:
    fname = str(path)
    try:
        data = read_jobs_file(path)
    except FileNotFoundError:
        if path.is_symlink():
            return Config(path=path, unreadable=True, errors=[ConfigError(
                f"a broken link: it points to {os.readlink(path)}, which does not exist",
                file=fname)])
        return Config(path=path)
    except OSError as exc:
        return Config(path=path, unreadable=True, errors=[ConfigError(
            f"cannot read the file: {exc.strerror or exc}", file=fname)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return Config(path=path, unreadable=True, errors=[ConfigError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {column} "
            f"cannot be read; save the file as UTF-8", file=fname, line=line)])
    return parse_config(text, path=path)


def parse_config(text: str, *, path: Path | None = None) -> Config:
    fname = str(path) if path else "<config>"
    # A byte order mark is how some editors say "UTF-8"; it is not part of the TOML.
    body = text[1:] if text.startswith("\ufeff") else text
    try:
        data = tomllib.loads(body)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        hint = ""
        if re.search(r"\r(?!\n)", body):  # TOML ends lines with LF or CRLF only
            hint = ("; lines here end with a carriage return alone (old Mac style): save the "
                    "file with LF (Unix) or CRLF (Windows) line ends")
        return Config(path=path, text=text, unreadable=True, errors=[ConfigError(
            f"not valid TOML: {exc}{hint}", file=fname, line=int(m.group(1)) if m else None)])
    except RecursionError:  # the parser recurses into each nested array and inline table
        return Config(path=path, text=text, unreadable=True, errors=[ConfigError(
            f"values nested too deeply to read; tables and lists nest at most "
            f"{MAX_NESTING} levels", file=fname)])
    cfg = Config(path=path, text=text)
    locate = _Locator(body)

    tables = ["settings", "jobs", "alerts", "cluster"]
    for key in sorted(set(data) - set(tables)):
        close = difflib.get_close_matches(key.casefold(), tables, n=1, cutoff=0.75)
        hint = f"; did you mean [{close[0]}]?" if close else ""
        cfg.errors.append(ConfigError(
            f"unknown top-level table{hint}; use [settings], [jobs.NAME], [alerts.NAME] or "
            f"[cluster]", file=fname, key=key, line=locate.top(key)))

    settings_raw = data.get("settings", {})
    hostile = _hostile(settings_raw) if isinstance(settings_raw, dict) else []
    for loc, msg in hostile:
        cfg.errors.append(ConfigError(msg, file=fname, key=f"settings.{loc}",
                                      line=locate.key(["settings"], loc)))
    try:
        if not hostile:
            cfg.settings = Settings.model_validate(settings_raw)
    except ValidationError as exc:
        for loc, msg in _messages(exc, Settings):
            cfg.errors.append(ConfigError(msg, file=fname, key=f"settings.{loc}" if loc else "settings",
                                          line=locate.key(["settings"], loc)))

    jobs = data.get("jobs", {})
    if not isinstance(jobs, dict):
        cfg.errors.append(ConfigError("write each job as a table: [jobs.NAME]", file=fname,
                                      key="jobs", line=locate.top("jobs")))
        jobs = {}
    written: dict[str, str] = {}  # each name as NFC: the first job that has it
    for name, raw in jobs.items():
        same = written.setdefault(unicodedata.normalize("NFC", name), name)
        try:
            if same != name:  # "café" typed two ways: no one can tell which is meant
                raise _JobErrors([("", f"the name looks the same as job {same!r}, only "
                                       f"written with other Unicode characters; rename one")])
            cfg.jobs[name] = _parse_job(name, raw)
        except _JobErrors as errs:
            for loc, msg in errs.items:
                cfg.errors.append(ConfigError(msg, file=fname, job=_shown_name(name),
                                              key=loc or None,
                                              line=locate.key(["jobs", name], loc)))
    for name, job in cfg.jobs.items():
        for key, other in job.common.hooks():
            if other not in jobs:
                cfg.errors.append(ConfigError(f"{key!r} names {other!r}, which is not a job"
                                              f"{_other_jobs(other, jobs, listed=False)}",
                                              file=fname, job=name, key=key,
                                              line=locate.key(["jobs", name], key)))
    from .alerts.config import parse_alerts
    parse_alerts(cfg, data.get("alerts", {}), fname=fname, locate=locate,
                 raw_jobs=data.get("jobs"))
    if "cluster" in data:
        parse_cluster(cfg, data["cluster"], fname=fname, locate=locate)
    # A job that starts itself again, directly or through others, would run for ever: the
    # jobs on such a loop are refused (they do not run), the others keep working.
    for name, (key, cycle) in sorted(hook_cycles(cfg.jobs).items()):
        del cfg.jobs[name]
        cfg.errors.append(ConfigError(
            f"a loop of jobs that would start each other for ever: "
            f"{' -> '.join(cycle)}; remove one of these hooks", file=fname, job=name, key=key,
            line=locate.key(["jobs", name], key)))
    # A chain longer than the engine follows is cut at run MAX_CHAIN + 1: said here, before
    # a run, on each job that starts such a chain and that no hook starts itself.
    for name, (key, chain) in sorted(long_hook_chains(cfg.jobs).items()):
        cfg.errors.append(ConfigError(
            f"its hooks start a chain of {len(chain)} jobs one after another "
            f"({chain[0]} -> {chain[1]} -> ... -> {chain[-1]}); runs stop after the "
            f"{MAX_CHAIN}th started this way: start the rest from a job of its own",
            file=fname, job=name, key=key, line=locate.key(["jobs", name], key)))
    return cfg


#: Runs started by hooks one after another (``parent_run`` links), at most: the engine
#: stops a chain there, whatever the config said when it was checked.
MAX_CHAIN = 20


def long_hook_chains(jobs: dict[str, "JobConfig"]) -> dict[str, tuple[str, list[str]]]:
    """The jobs no hook names whose hooks start more than :data:`MAX_CHAIN` runs one after
    another: for each, the key of its first hook on the longest chain and that chain.
    ``jobs`` has no loops (see :func:`hook_cycles`)."""
    edges = {name: [(k, o) for k, o in job.common.hooks() if o in jobs]
             for name, job in jobs.items()}
    longest: dict[str, tuple[int, str | None, str | None]] = {}  # job: (jobs, key, next)
    for root in edges:  # depth first without recursion: a config may chain many jobs
        work = [root]
        while work:
            node = work[-1]
            if node in longest:
                work.pop()
                continue
            todo = [o for _, o in edges[node] if o not in longest]
            if todo:
                work.extend(todo)
                continue
            work.pop()
            best = max(((longest[o][0] + 1, k, o) for k, o in edges[node]),
                       key=lambda t: t[0], default=(1, None, None))
            longest[node] = best
    named = {o for outs in edges.values() for _, o in outs}
    out: dict[str, tuple[str, list[str]]] = {}
    for name in edges:
        if name in named or longest[name][0] <= MAX_CHAIN + 1:
            continue
        chain, node = [name], name
        while longest[node][2] is not None:
            node = longest[node][2]
            chain.append(node)
        out[name] = (longest[name][1], chain)
    return out


def hook_cycles(jobs: dict[str, "JobConfig"]) -> dict[str, tuple[str, list[str]]]:
    """The jobs on a loop of ``then``/``on_failure``/``always`` hooks: for each, the key of
    its hook that leads round the loop and the loop itself from that job, e.g.
    ``("then", ["a", "b", "a"])``."""
    edges = {name: [(k, o) for k, o in job.common.hooks() if o in jobs]
             for name, job in jobs.items()}
    # Tarjan's strongly connected components, iteratively: a config may chain many jobs.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i][1]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.add(member)
                    if member == node:
                        break
                components.append(comp)
    out: dict[str, tuple[str, list[str]]] = {}
    for comp in components:
        for name in comp:
            loop = _loop_through(name, comp, edges)
            if loop is not None:
                out[name] = loop
    return out


def _loop_through(start: str, comp: set[str], edges) -> tuple[str, list[str]] | None:
    """The shortest loop from ``start`` back to it inside ``comp`` (breadth first), with
    the key of ``start``'s hook that begins it."""
    came: dict[str, tuple[str, str]] = {}  # job: (key, job whose hook with that key named it)
    frontier = [start]
    while frontier:
        ahead = []
        for node in frontier:
            for key, other in edges[node]:
                if other not in comp:
                    continue
                if other == start:
                    path, first_key = [start], key
                    while node != start:
                        path.append(node)
                        first_key, node = came[node]
                    path.append(start)
                    return first_key, path[::-1]
                if other not in came:
                    came[other] = (key, node)
                    ahead.append(other)
        frontier = ahead
    return None


def check_jobs(cfg: Config, *, notes: list[str] | None = None) -> list[ConfigError]:
    """What would stop valid jobs from running, found without running them (a python job's
    missing file, an unknown secret): the kinds' own checks, for ``trayjobs check``.
    What could not be checked is said once in ``notes`` (secrets, when no keyring answers)."""
    from .secrets import SecretError, secret_exists, secret_refs
    fname = str(cfg.path) if cfg.path else "<config>"
    locate = _Locator(cfg.text)
    errors = []
    for name, job in cfg.jobs.items():
        for key, msg in get_kind(job.kind).problems(job.params):
            errors.append(ConfigError(msg, file=fname, job=name, key=key or None,
                                      line=locate.key(["jobs", name], key)))
    if notes is not None:
        notes.extend(f"job {name!r}, key {key!r}: {other!r} is disabled (enabled = false), so "
                     f"this hook does not start it"
                     for name, job in cfg.jobs.items() for key, other in job.common.hooks()
                     if other in cfg.jobs and not cfg.jobs[other].enabled)
        notes.extend(f"job {name!r}, key 'max_wait': its runs wait for no condition (no "
                     f"'when', and no pause_on_battery or only_unmetered in [settings]), so "
                     f"max_wait has nothing to cut short"
                     for name, job in cfg.jobs.items()
                     if job.common.max_wait is not None and not job.conditions(cfg.settings))
    refs = [(name, key, secret) for name, job in cfg.jobs.items()
            for key, secret in secret_refs(job.params)]
    try:
        for name, key, secret in refs:
            if not secret_exists(secret):
                errors.append(ConfigError(
                    f"there is no secret {secret!r} in the system keyring; store it with "
                    f"`trayjobs secret set {secret}`", file=fname, job=name, key=key,
                    line=locate.key(["jobs", name], key)))
    except SecretError as exc:
        if notes is not None:
            notes.append(f"secrets were not checked: {exc}")
    return errors


class _JobErrors(Exception):
    def __init__(self, items: list[tuple[str, str]]):
        self.items = items


def _parse_job(name: str, raw: Any) -> JobConfig:
    if not isinstance(raw, dict):
        raise _JobErrors([("", "a job must be a table: [jobs.NAME] with keys under it")])
    if name and not name.strip():  # " " has a character, but none anyone can see
        raise _JobErrors([("", "a job name cannot be only spaces; give it a name you can "
                               "see and type, e.g. [jobs.backup]")])
    if not name or len(name) > 100:
        raise _JobErrors([("", f"a job name must be 1-100 characters (this one has "
                               f"{len(name)})")])
    unseen = next((c for c in name if _unseen(c)), None)
    if unseen is not None:
        # A terminal obeys them: `trayjobs runs` would print colours or move the cursor,
        # and a right-to-left override shows the name backwards.
        raise _JobErrors([("", f"a job name cannot hold control characters (it holds "
                               f"{ascii(unseen)}); rename the job")])
    hostile = _hostile(raw)
    if hostile:  # not handed on: validating them recurses, or fails in confusing words
        raise _JobErrors(hostile)
    common_raw = {k: v for k, v in raw.items() if k in COMMON_KEYS}
    kind_raw = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
    errors: list[tuple[str, str]] = []
    common = kind_cls = params = None
    if "kind" not in raw:
        errors.append(("kind", "missing; say what the job does, e.g. kind = \"import\" "
                               f"(kinds: {', '.join(kind_names())})"))
    elif not isinstance(raw["kind"], str):
        errors.append(("kind", f"write the kind's name in quotes, e.g. kind = \"demo\" (got "
                               f"{_shown(raw['kind'])}; kinds: {', '.join(kind_names())})"))
    else:
        try:
            kind_cls = get_kind(raw["kind"])
        except (KeyError, ImportError) as exc:  # a KeyError's str() is its message's repr
            errors.append(("kind", str(exc.args[0] if exc.args else exc)))
    try:
        common = JobCommon.model_validate(common_raw)
    except ValidationError as exc:
        errors.extend((loc, msg) for loc, msg in _messages(exc, JobCommon) if loc != "kind")
    blank = _blank_paths(kind_raw)
    errors.extend(blank)
    if kind_cls is not None and not blank:
        try:
            params = kind_cls.parse_params(kind_raw)
        except ValidationError as exc:
            errors.extend(_messages(exc, kind_cls.Params, kind=kind_cls.name))
    if common is not None and common.cron and common.every:
        errors.append(("cron", "give either 'every' or 'cron', not both"))
    if common is not None and common.watch is not None and params is not None:
        errors.extend(_output_folders(common.watch, params))
    if common is not None and params is not None:
        errors.extend(_kind_params_in_params(kind_cls, params, common.params))
    if errors:
        raise _JobErrors(errors)
    return JobConfig(name=name, common=common, params=params, raw=raw)


def _kind_params_in_params(kind_cls, params: KindParams, defaults: dict[str, Any]
                           ) -> list[tuple[str, str]]:
    """``params`` that set one of the kind's own keys (a report's ``period``) set it for
    every run: checked here as the kind checks that key, not first when each run starts."""
    own = {k: v for k, v in defaults.items() if k in kind_cls.run_params}
    if not own:
        return []
    try:
        kind_cls.parse_params({**params.model_dump(mode="json", by_alias=True), **own})
    except ValidationError as exc:
        return [(f"params.{loc}" if loc else "params", msg)
                for loc, msg in _messages(exc, kind_cls.Params, kind=kind_cls.name)]
    return []


_BIDI_CONTROLS = frozenset({"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})


def _unseen(c: str) -> bool:
    """Whether ``c`` is a control character: C0/C1 controls and the bidi overrides."""
    return unicodedata.category(c) == "Cc" or unicodedata.bidirectional(c) in _BIDI_CONTROLS


def _shown_name(name: str) -> str:
    """A job name as a message may print it: control characters escaped."""
    return "".join(ascii(c)[1:-1] if _unseen(c) else c for c in name)


def _output_folders(watch: WatchSpec, params: KindParams) -> list[tuple[str, str]]:
    """Relative folders the watched files are moved into, checked where the files arrive
    (absolute ones the kind's params check themselves)."""
    if getattr(params, "allow_dangerous_location", False):
        return []
    errors = []
    for key in OUTPUT_FOLDER_KEYS:
        value = getattr(params, key, None)
        if (not isinstance(value, str) or value == _LEAVE
                or os.path.isabs(os.path.expandvars(os.path.expanduser(value)))):
            continue
        why = danger(expand(value, str(watch.path)))
        if why:
            errors.append((key, f"{value!r} in {watch.folder} {why}; set "
                                f"allow_dangerous_location = true if you really mean it"))
    return errors


def _hostile(raw: Any) -> list[tuple[str, str]]:
    """Values no option takes, found without recursing: NaN or infinity (TOML allows
    ``nan`` and ``inf``) and tables or lists nested more than :data:`MAX_NESTING` deep."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[list[str], Any]] = [([], raw)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            found.append((".".join(loc), f"not a number (got {value})"))
        elif isinstance(value, (dict, list)):
            if len(loc) > MAX_NESTING:
                found.append((loc[0], f"nested more than {MAX_NESTING} levels deep"))
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend(([*loc, str(k)], v) for k, v in items)
    return sorted(set(found))


def _blank_paths(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Paths no kind can use: empty ones, and ``~name/…`` of a user there is not (which
    ``Path.expanduser`` raises a RuntimeError for, wherever the kind expands it)."""
    errors = []
    for key in PATH_KEYS:
        # A list of paths (a python job's ``path = ["", ...]``) is looked at one by one.
        values = raw[key] if isinstance(raw.get(key), list) else [raw.get(key)]
        texts = [v for v in values if isinstance(v, str)]
        if any(not v.strip() for v in texts):
            errors.append((key, "empty; give a path, e.g. \"~/Inbox\""))
            continue
        for v in texts:
            if v.startswith("~") and os.path.expanduser(v).startswith("~"):
                errors.append((key, f"{v!r} cannot be used: there is no user "
                                    f"{v[1:].split('/')[0]!r}; write ~/… for a path in your "
                                    f"own home"))
                break
    return errors


def _shown(value: Any, width: int = 40) -> str:
    """``value`` as the file writes it (``true``, ``1979-05-27``, not Python's ``True`` or
    ``datetime.date(1979, 5, 27)``), cut short: a value in a message may be megabytes long."""
    text = _as_toml(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def _as_toml(value: Any, depth: int = 0) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, time)):  # a datetime is a date
        return value.isoformat()
    if depth < 3 and isinstance(value, list):
        return "[" + ", ".join(_as_toml(v, depth + 1) for v in value[:20]) + "]"
    if depth < 3 and isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_as_toml(v, depth + 1)}"
                                for k, v in list(value.items())[:20]) + " }"
    return repr(value)


_TYPE_WORDS = {
    "string_type": "write text in quotes",
    "int_type": "write a whole number", "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_type": "write a number", "float_parsing": "write a number",
    "bool_type": "write true or false", "bool_parsing": "write true or false",
    "list_type": "write a list in brackets, e.g. [\"a\", \"b\"]",
    "finite_number": "not a number",
}
#: Text that reads as true or false: what lax validation took for them.
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "y": True, "t": True, "1": True,
               "false": False, "no": False, "off": False, "n": False, "f": False, "0": False}


def _unquoted(kind_of: str, where, value: Any) -> str:
    """For text where a bool or number belongs (``enabled = "no"``, ``workers = "2"``):
    the line to write instead, e.g. ``, e.g. enabled = false``; else nothing."""
    if not isinstance(value, str) or not where or isinstance(where[-1], int):
        return ""
    text = value.strip()
    if kind_of.startswith("bool"):
        meant = _BOOL_WORDS.get(text.lower())
        shown = None if meant is None else "true" if meant else "false"
    else:
        try:
            number = int(text) if kind_of.startswith("int") else float(text)
        except ValueError:
            return ""
        shown = _as_toml(number) if math.isfinite(number) else None
        if isinstance(number, float) and number.is_integer() and shown is not None:
            shown = str(int(number))  # cpu_below = 50: a float key takes a whole number too
    return "" if shown is None else f" without quotes, e.g. {where[-1]} = {shown}"


_LENGTH_WORDS = {
    "string_too_short": lambda n: "empty; write some text" if n == 1 else f"at least {n} characters",
    "string_too_long": lambda n: f"at most {n} characters",
    "too_short": lambda n: "add at least one" if n == 1 else f"add at least {n}",
    "too_long": lambda n: f"at most {n} entries",
}
_BOUND_WORDS = {"less_than_equal": ("le", "at most"), "greater_than_equal": ("ge", "at least"),
                "less_than": ("lt", "less than"), "greater_than": ("gt", "more than")}


def _messages(exc: ValidationError, model: type[BaseModel], *, kind: str | None = None):
    """Pydantic errors as (dotted key, plain message) pairs: no class names, and what to
    write instead.

    A value that may be of several types (``ping``: text or ``{ secret = "..." }``) gets an
    error from each type that refused it, at its key with the type's name added
    (``ping.SecretRef``). These become one message at the real key that names every type
    that would do; when the value got into one type's table, only that table's errors."""
    out: list[tuple[str, str | None]] = []  # (key, message); None: a union's refusals go here
    refused: dict[str, list[dict]] = {}      # a union's key: the errors of its types
    entered: set[str] = set()                # unions whose value got into a type's table
    for err in exc.errors():
        loc = err["loc"]
        tags = _walk(model, loc)[0]
        if not tags:
            out.append(_message(err, loc, model, kind))
            continue
        real = tuple(p for i, p in enumerate(loc) if i not in tags)
        at = ".".join(str(p) for i, p in enumerate(loc[:max(tags)]) if i not in tags)
        if max(tags) < len(loc) - 1:
            entered.add(at)
            out.append(_message(err, real, model, kind))
        else:
            if at not in refused:
                out.append((at, None))
            refused.setdefault(at, []).append(err)
    for key, msg in out:
        if msg is not None:
            yield key, msg
        elif key not in entered:
            yield key, _either(refused[key], model)


def _either(errs: list[dict], model: type[BaseModel]) -> str:
    """One message for a value that each type of a union refused: the types that would do."""
    ways = []
    for err in errs:
        if err["type"] == "literal_error":
            ways.append(f"one of {err['ctx']['expected']}")
        elif err["type"] in ("model_type", "model_attributes_type", "dict_type"):
            member = _walk(model, err["loc"])[1]
            table = member if isinstance(member, type) and issubclass(member, BaseModel) else None
            ways.append(f"a table such as {_example(table)}")
        elif err["type"] in _TYPE_WORDS:
            ways.append(_TYPE_WORDS[err["type"]].removeprefix("write "))
        else:
            return _message(err, err["loc"][:-1], model, None)[1]
    got = errs[0].get("input")
    shown = "" if isinstance(got, (dict, list)) else f" (got {_shown(got)})"
    return "write " + ", or ".join(dict.fromkeys(ways)) + shown


def _walk(model: type[BaseModel], loc) -> tuple[set[int], Any]:
    """The places in ``loc`` (an error's location) that name a type of a union instead of
    a key (``ping.str``), and the type found at its end (None where it cannot be told). A
    union told apart by a key (a cleanup action's ``move``) is left alone: its tag is that
    key."""
    tags: set[int] = set()
    tp: Any = model
    for i, part in enumerate(loc):
        keyed = False
        while get_origin(tp) is Annotated:
            keyed = keyed or any(isinstance(m, Discriminator) for m in tp.__metadata__)
            tp = get_args(tp)[0]
        members = [a for a in get_args(tp) if a is not type(None)] \
            if get_origin(tp) in (Union, UnionType) else [tp]
        if len(members) > 1:  # ``part`` names a member; what follows is inside it
            if not keyed:
                tags.add(i)
            tp = next((m for m in members if _tag(m) == part), None)
        else:
            tp = _step(members[0], part)
        if tp is None:
            break
    return tags, tp


def _tag(tp: Any) -> str | None:
    """The name pydantic gives a union's member in an error's location."""
    if get_origin(tp) is Annotated:
        return next((m.tag for m in tp.__metadata__ if isinstance(m, Tag)), None)
    return getattr(tp, "__name__", None)


def _step(tp: Any, part: Any) -> Any:
    """The type of ``part`` (a key, a list index) in a value of type ``tp``; None when
    that cannot be told."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        fld = next((f for n, f in tp.model_fields.items() if part in (n, f.alias)), None)
        if fld is None:
            return None
        # pydantic keeps a field's Annotated[...] extras apart: a Discriminator among them
        # says how its union is told apart.
        return Annotated[(fld.annotation, *fld.metadata)] if fld.metadata else fld.annotation
    args = get_args(tp)
    if get_origin(tp) in (list, tuple, set, frozenset) and args:
        return args[0]
    if get_origin(tp) is dict and len(args) == 2:
        return args[1]
    return None


def _message(err: dict, where, model: type[BaseModel], kind: str | None) -> tuple[str, str]:
    """One pydantic error as (dotted key, plain message), the key being ``where``."""
    loc = ".".join(str(p) for p in where)
    kind_of = err["type"]
    msg = err["msg"]
    if kind_of == "extra_forbidden":
        parent = [str(p) for p in where[:-1] if not isinstance(p, int)]
        return loc, _unknown_key(str(where[-1]), _model_at(model, where[:-1]),
                                 parent=".".join(parent), kind=kind)
    if kind_of == "missing":
        msg = "missing (required)"
    elif kind_of == "value_error":
        msg = str(err.get("ctx", {}).get("error", msg))
    elif kind_of == "literal_error":
        msg = f"{_shown(err['input'])} is not one of the choices: {err['ctx']['expected']}"
    elif kind_of in ("model_type", "model_attributes_type", "dict_type"):
        msg = f"write a table such as {_example(_model_at(model, where))}"
    elif kind_of in _TYPE_WORDS:
        msg = _TYPE_WORDS[kind_of] + _unquoted(kind_of, where, err.get("input"))
    elif kind_of in _LENGTH_WORDS:
        ctx = err.get("ctx", {})
        msg = _LENGTH_WORDS[kind_of](ctx.get("min_length", ctx.get("max_length")))
    elif kind_of in _BOUND_WORDS:
        name, words = _BOUND_WORDS[kind_of]
        bound = err.get("ctx", {}).get(name)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)  # "at most 3600", not "3600.0"
        msg = f"{words} {bound}"
    if kind_of not in ("missing", "value_error", "literal_error", "string_too_short") \
            and "input" in err and not isinstance(err["input"], (dict, list)):
        msg = f"{msg} (got {_shown(err['input'])})"
    return loc, msg


def _unknown_key(key: str, where: type[BaseModel] | None, *, parent: str,
                 kind: str | None) -> str:
    import difflib
    top = not parent
    own = _keys(where) if where is not None else []
    candidates = own + (sorted(COMMON_KEYS) if top and kind else [])
    # Only a close spelling is a useful guess; anything looser names unrelated keys.
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    if where is None:
        return "unknown key (not an option here)"
    if top and kind:
        return (f"unknown key; a {kind} job's own keys are {', '.join(own) or 'none'}, "
                f"besides those of every job ({', '.join(sorted(COMMON_KEYS))})")
    return f"unknown key; {parent or 'this table'} takes {', '.join(own)}"


def _keys(model: type[BaseModel]) -> list[str]:
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _model_at(model: type[BaseModel] | None, path) -> type[BaseModel] | None:
    """The model a value at ``path`` (an error's location) is validated by, when there is
    exactly one: list indexes are passed over; ``None`` where it cannot be told."""
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        fld = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if fld is None:
            return None
        found = _models_in(fld.annotation)
        model = found[0] if len(found) == 1 else None
    return model


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    if getattr(tp, "__origin__", None) is dict:
        return []  # its keys are names of the user's own, not fields
    return [m for arg in get_args(tp) for m in _models_in(arg)]


def _example(model: type[BaseModel] | None) -> str:
    """A one-key table for ``model``, its default (or a placeholder) as the value."""
    if model is None:
        return "{ key = value }"
    name, fld = next(iter(model.model_fields.items()))
    default = fld.default
    if isinstance(default, (bool, int, float, str)):
        value = ("true" if default else "false") if isinstance(default, bool) else (
            f'"{default}"' if isinstance(default, str) else str(default))
    else:
        value = '"…"' if fld.annotation is str else "…"
    return f"{{ {fld.alias or name} = {value} }}"


class _Locator:
    """Finds the line of a table or key in the TOML text (1-based), best effort."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    @staticmethod
    def _split(header: str) -> list[str]:
        return [p.strip().strip('"\'') for p in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', header)]

    def top(self, key: str) -> int | None:
        for i, line in enumerate(self.lines, 1):
            m = self._HEADER.match(line)
            if m and self._split(m.group(1))[:1] == [key]:
                return i
            if re.match(rf"^\s*{re.escape(key)}\s*=", line):
                return i
        return None

    def key(self, table: list[str], dotted: str) -> int | None:
        parts = [p for p in dotted.split(".") if p and not p.isdigit()] if dotted else []
        first = parts[0] if parts else None
        in_table = False
        header_line = None
        for i, line in enumerate(self.lines, 1):
            m = self._HEADER.match(line)
            if m:
                path = self._split(m.group(1))
                in_table = path[:len(table)] == table
                if in_table and header_line is None:
                    header_line = i
                if in_table and first and path[len(table):len(table) + 1] == [first]:
                    return i
                continue
            if in_table and first and re.match(rf"^\s*[\"']?{re.escape(first)}[\"']?\s*=", line):
                return i
        return header_line
