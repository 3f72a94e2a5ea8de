"""What a command job is made of: the program, where and with what it runs."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field, field_validator

from ...places import relative
from ...schedule import crontab_line
from ...secrets import SecretRef
from ..base import KindParams, empty_dict
from ..memory import DESCRIPTION as MEMORY, check_max_memory

__all__ = ["CommandParams", "SecretRef", "Command"]

#: A list is the program and its arguments; a string is run by ``/bin/sh -c``.
Command = list[str] | str


class CommandParams(KindParams):
    command: Command = Field(
        description="The program and its arguments as a list (`~` expanded in each, "
                    "`\"{files}\"` becomes the input files), or one string run by `/bin/sh -c`.")
    cwd: str = Field("~", description="The folder the program runs in, in full; `~` is your home.")
    env: dict[str, str | SecretRef] = Field(
        default_factory=empty_dict,
        description="Extra environment variables; a value may be `{ secret = \"name\" }`.")
    success_codes: list[int] = Field(
        default_factory=lambda: [0], min_length=1,
        description="Exit codes that count as success, e.g. `[0, 24]` for rsync.")
    retry_codes: list[int] | None = Field(
        None, min_length=1,
        description="Only these exit codes are tried again (as `retry` says), e.g. `[75]`, "
                    "sysexits' \"try again later\"; any other exit code, or a death by a "
                    "signal, is final at once (a timeout is still tried again). Unset: every "
                    "failure is tried again.")
    dry_run_command: Command | None = Field(
        None, description="What `--dry-run` runs instead (e.g. the same with `--dry-run`); "
                          "without it a dry run is refused.")
    resume: Literal["report", "rerun"] = Field(
        "report", description="After a crash: report the run as interrupted, or run it again.")
    kill_grace: float = Field(
        5.0, ge=0, le=60, description="Seconds between TERM and KILL when a run is cancelled "
                                      "or times out, and for what the program left running "
                                      "in the background when it ends.")
    max_memory: str | None = Field(None, description=MEMORY + " Each process of the program "
                                   "is held to it on its own.")
    log_head: int = Field(1_000_000, ge=0, description="Bytes of output kept from the start.")
    log_tail: int = Field(1_000_000, ge=0, description="Bytes of output kept from the end.")

    @field_validator("command", "dry_run_command")
    @classmethod
    def _not_empty(cls, v: Command | None) -> Command | None:
        if v is not None and (not v or (isinstance(v, str) and not v.strip())
                              or (isinstance(v, list) and not v[0].strip())):
            raise ValueError("give the program to run, e.g. [\"rsync\", \"-a\", \"~/src/\", \"/dst/\"]")
        if v is not None and any("\0" in part for part in ([v] if isinstance(v, str) else v)):
            raise ValueError("a program's arguments cannot hold a NUL character (\\u0000)")
        return v

    @field_validator("command")
    @classmethod
    def _no_crontab_line(cls, v: Command) -> Command:
        line = crontab_line(v) if isinstance(v, str) else None
        if line is not None:
            fields, rest = line
            schedule = "at_login = true" if fields is None else f"cron = {json.dumps(fields)}"
            raise ValueError(f"this is a whole crontab line, which the shell would run as a "
                             f"program named {json.dumps(v.split()[0])}: write its schedule "
                             f"as {schedule} and the command alone, "
                             f"command = {json.dumps(rest)}")
        return v

    @field_validator("max_memory", mode="before")
    @classmethod
    def _memory(cls, v):
        return check_max_memory(v)

    @field_validator("cwd")
    @classmethod
    def _in_full(cls, v: str) -> str:
        why = relative(v)
        if why:
            raise ValueError(f"{v!r} {why}")
        return v

    @field_validator("env")
    @classmethod
    def _names(cls, v: dict[str, str | SecretRef]) -> dict[str, str | SecretRef]:
        for name, value in v.items():
            if not name or "=" in name or "\0" in name:
                raise ValueError(f"{name!r} cannot be an environment variable's name: write a "
                                 f"name without '=', such as API_TOKEN")
            if isinstance(value, str) and "\0" in value:
                raise ValueError(f"the value of {name} cannot hold a NUL character (\\u0000)")
        return v

    @field_validator("success_codes", "retry_codes")
    @classmethod
    def _codes(cls, v: list[int] | None, info) -> list[int] | None:
        wrong = [c for c in v or () if not 0 <= c <= 255]
        if wrong:
            raise ValueError(f"{', '.join(map(str, wrong))}: a program's exit code is 0 to 255 "
                             + ("(one killed by a signal is not a success)"
                                if info.field_name == "success_codes" else
                                "(a death by a signal is never tried again once retry_codes "
                                "is set)"))
        success = info.data.get("success_codes") or ()
        both = sorted(set(v or ()) & set(success)) if info.field_name == "retry_codes" else []
        if both:
            raise ValueError(f"{', '.join(map(str, both))}: in success_codes too, so never "
                             f"tried again; take {'them' if len(both) > 1 else 'it'} out of "
                             f"one of the two")
        return v
