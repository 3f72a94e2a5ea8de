"""One job: the keys every job has (:class:`JobCommon`), the validated job
(:class:`JobConfig`) and its run parameters."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationError, field_validator

from ..alerts.spec import DeliverSpec, check_ping
from ..conditions import effective as _effective_conditions
from ..kinds.base import KindParams, empty_dict, empty_list
from ..kinds.registry import builtin_names, get_kind
from ..schedule import Cron, CronError, Interval
from ..secrets import SecretRef
from .base import Duration, HOOK_KEYS, MIN_EVERY, RunParam, _Strict
from .messages import _messages, _secret_here, _shown
from .settings import Settings
from .tables import RetryPolicy, WatchSpec, When

__all__ = ["JobCommon", "JobConfig", "parse_param_value"]


class JobCommon(_Strict):
    kind: str = Field(description="What the job does: " + ", ".join(builtin_names())
                      + ", or a kind an installed plug-in adds (`trayjobs kinds`).")
    description: str = Field("", description="A line of your own about the job.")
    tags: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]] = Field(
        default_factory=empty_list, description="Words of your own to group jobs by, e.g. "
        "`[\"home\", \"money\"]`: the Jobs, Activity and Metrics pages filter by them.")
    enabled: bool = Field(True, description="Off: the job keeps its settings but never runs by itself.")
    every: Duration | None = Field(None, description=(
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
        "queue", description="When a run is due while the previous one still runs: skip it, "
                             "queue it (one queued run stands for every slot due meanwhile), "
                             "or run both.")
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
        if v is not None and v <= 0:  # "0s", 0: in words that say what to write
            raise ValueError("an interval of 0 would start runs one after another without "
                             "a pause; write one of at least '1s', e.g. every = \"15m\"")
        if v is not None and v < MIN_EVERY:
            raise ValueError(f"every {v:g} s is more often than once a second; the shortest "
                             f"interval is '1s'")
        return v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        from ..cluster import check_host
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
                                 f"true or false (got {_shown(value)}){_secret_here(value)}")
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
        from ..errors import UserError
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
    from ..errors import UserError
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
