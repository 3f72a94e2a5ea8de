"""What the config says about alerts: ``[alerts.NAME]`` channels and the alert keys of a job.

Parsing stays cheap (no delivery library is imported when a config loads): a channel's URL
is checked for its shape here, and in full by :func:`trayjobs.alerts.check.check_alerts`
(``trayjobs check``) and when it is used.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..durations import parse_duration
from ..secrets import SecretRef
from .quiet import check_span

__all__ = ["ChannelSpec", "DeliverSpec", "EVENTS", "DEFAULT_ON", "FINISHED_EVENTS",
           "check_url", "check_ping", "looks_like_url", "channel_wants", "job_matches"]

#: What a channel may be told of. ``always`` is every finished run (failure, warning,
#: success); ``report`` is a job's ``deliver`` and needs no ``on``.
EVENTS = ("failure", "recovered", "warning", "success", "always", "missed", "stale")
FINISHED_EVENTS = ("failure", "warning", "success")
DEFAULT_ON = ["failure", "recovered", "warning", "missed", "stale"]
Event = Literal["failure", "recovered", "warning", "success", "always", "missed", "stale"]

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://(\S|$)")


def _masked(value: str) -> str:
    """``value`` as an error may echo it: a password before an ``@`` blanked out (the
    error goes to ``trayjobs check``, the log and the window's status bar). The password
    ends at the last ``@`` ahead of the query: one holding an ``@`` or a ``:`` of its own
    (not yet percent-encoded) is blanked whole, not from its last ``@`` on."""
    value = value.strip()
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    at = rest.partition("?")[0].rfind("@")
    user, colon, _ = rest[:max(at, 0)].partition(":")
    if at < 0 or not colon:
        return value
    return f"{scheme}{sep}{user}:…{rest[at:]}"


def looks_like_url(value: str, *, http: bool = False) -> bool:
    """``value`` has the shape of an alert URL (``scheme://...``), or with ``http`` of a
    heartbeat's (``http://`` or ``https://``)."""
    value = value.strip()
    return bool(re.match(r"^https?://\S+$", value) if http else _SCHEME.match(value))


def check_url(value: str) -> str:
    """An alert URL's shape: ``scheme://...``; the scheme's own rules are checked later."""
    if not looks_like_url(value):
        raise ValueError(f"{_masked(value)!r} is not a notification URL; write e.g. "
                         f"\"mailtos://user:password@example.com\", \"ntfy://my-topic\" or "
                         f"\"json://example.com/hook\", or {{ secret = \"NAME\" }}")
    return value.strip()


def check_ping(value: str) -> str:
    if not looks_like_url(value, http=True):
        raise ValueError(f"{_masked(value)!r}: a heartbeat is pinged over HTTP; write e.g. "
                         f"\"https://hc-ping.com/YOUR-UUID\"")
    from .channels.urlshape import GARBLED, bad_port, garbled
    if garbled(value.strip()):
        # Not echoed: where its password ends cannot be told.
        raise ValueError(f"the heartbeat URL is not usable as written: {GARBLED}")
    port = bad_port(value.strip(), http=True)
    if port is not None:
        raise ValueError(f"{_masked(value)!r}: the port {port!r} is none: a port is a "
                         f"number from 1 to 65535")
    return value.strip().rstrip("/")


class _Strict(BaseModel):
    # strict: a number or true/false must be TOML's own, not text (see trayjobs.config)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True,
                              defer_build=True)


class ChannelSpec(_Strict):
    """One ``[alerts.NAME]`` table: where messages go and which ones."""

    url: str | SecretRef = Field(description="Where messages go: an Apprise URL "
                                 "(`mailtos://`, `ntfy://`, `json://`, `slack://`, `tgram://`, "
                                 "...), or `{ secret = \"NAME\" }` for one kept in the keyring.")
    on: list[Event] = Field(default_factory=lambda: list(DEFAULT_ON), description=(
        "The events sent: failure, recovered, warning, success, always (every finished "
        "run), missed, stale."))
    jobs: list[str] = Field(default_factory=lambda: ["*"], description=(
        "The jobs it covers, by name or tag; `\"*\"` is every job. A job's own `alerts` "
        "list wins."))
    quiet_hours: str | None = Field(None, description=(
        "Messages are held in this span, e.g. '22:00-07:00', and sent as one summary at "
        "its end; failures of `urgent` jobs still go at once."))
    urgent: list[str] = Field(default_factory=list, description=(
        "Jobs (names or tags) whose failures are sent even in quiet hours."))
    max_attachment: str = Field("10MB", description=(
        "Attachments larger than this (all together) are left out, with a note saying so."))

    @field_validator("url")
    @classmethod
    def _url(cls, v: Any) -> Any:
        return check_url(v) if isinstance(v, str) else v

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        return None if v is None else check_span(v)

    @field_validator("jobs", "urgent")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        if any(not n.strip() for n in v):
            raise ValueError("give job names or tags, not empty text")
        return v

    @field_validator("max_attachment")
    @classmethod
    def _size(cls, v: str) -> str:
        parse_size(v)
        return v

    @property
    def max_bytes(self) -> int:
        return parse_size(self.max_attachment)


class DeliverSpec(_Strict):
    """A job's ``deliver``: send what each successful run wrote to a channel."""

    to: list[str] = Field(description="The channel (or channels) the files go to: names of "
                                      "`[alerts.NAME]` tables.")
    attach: list[str] = Field(default_factory=lambda: ["pdf"], description=(
        "Which of the run's files to attach, by extension, e.g. [\"pdf\", \"csv\"]."))
    body: Literal["html", "summary"] = Field("html", description=(
        "The message's text: the run's HTML file where the channel shows HTML (mail), "
        "or the run's summary."))

    @field_validator("to", mode="before")
    @classmethod
    def _one(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("attach")
    @classmethod
    def _ext(cls, v: list[str]) -> list[str]:
        return [e.strip().lstrip(".").lower() for e in v]


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$", re.I)


def parse_size(text: str) -> int:
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a size; write e.g. '10MB' or '500KB'")
    unit = {"b": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3}[(m.group(2) or "b").lower()]
    return int(float(m.group(1)) * unit)


def job_matches(patterns: list[str], job: str, tags: list[str]) -> bool:
    # "café" typed as "e" and an accent is the same name (see trayjobs.config).
    job, tags = _nfc(job), [_nfc(t) for t in tags]
    return any(p == "*" or _nfc(p) == job or _nfc(p) in tags for p in patterns)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def channel_wants(spec: ChannelSpec, event: str) -> bool:
    on = set(spec.on)
    if "always" in on:
        on |= set(FINISHED_EVENTS)
    return event in on


def stale_seconds(value: Any) -> float:
    return parse_duration(value)
