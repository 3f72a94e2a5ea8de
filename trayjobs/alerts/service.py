"""Alerts in the process that runs jobs: the engine's events become outbox rows, and a
sender thread delivers them.

:meth:`Alerts.on_event` runs on the engine's threads as runs start and end: it only
works out which messages a run makes and writes them in one insert (about a tenth of a
millisecond), never waiting on a network; a config without alerts costs a dict lookup.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from ..engine.events import AlertChanged, EventBus, Notice, RunChanged
from ..kinds.registry import resumes_after_crash
from .compose import messages_for_run, missed_message
from .sender import PING, Sender
from .stale import stale_rows

__all__ = ["Alerts", "send_test", "waiting_go_now"]

log = logging.getLogger(__name__)

#: Seconds a foreground command's last sends wait for a server, each.
FLUSH_TIMEOUT = 10.0
#: How often the stale timer looks at least (it also wakes when a job comes due).
STALE_EVERY = 300.0


class Alerts:
    def __init__(self, store, config: Callable[[], Any], *, bus: EventBus | None = None,
                 clock: Callable[[], float] = time.time, **sender_options: Any) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.bus = bus
        self.sender = Sender(store, config, clock=clock, on_problem=self._problem,
                             on_change=self._changed, extra=self._stale, **sender_options)
        self._started = False
        if bus is not None:
            bus.subscribe(self.on_event)

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.sender.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._started:
            self._started = False
            self.sender.stop(timeout)

    def flush(self) -> None:
        """Deliver what is pending now, on this thread (a foreground command's end)."""
        try:
            # A server that never answers keeps the command from ending for this long
            # per channel, not the 30 s a thread of the app or a worker may wait: what
            # does not go is kept for the next app or worker to send.
            self.sender.run_once(flush=True, timeout=FLUSH_TIMEOUT)
        except Exception:
            log.exception("alerts: delivering failed")

    # -- on the engine's threads ---------------------------------------------------------

    def on_event(self, ev: Any) -> None:
        if not isinstance(ev, RunChanged) or ev.remote:
            return  # another machine's run: its engine writes its alerts
        cfg = self.config()
        run = ev.run
        job = cfg.jobs.get(run["job"])
        if job is None or not (cfg.alerts or job.common.ping):
            return
        rows: list[dict[str, Any]] = []
        state, now = run["state"], self.clock()
        if ev.final and (state in ("succeeded", "failed") or _left_interrupted(run, job)):
            rows = messages_for_run(cfg, job, run,
                                    lambda: self.store.previous_outcome(run["job"], run["id"]))
            for r in rows:
                r["due_at"] = now + self.sender.gather  # a burst is gathered into one
            if job.common.ping:
                rows.append(self._ping(run, "success" if state == "succeeded" else "fail",
                                       now))
        elif state == "running" and run.get("attempt") == 1 and job.common.ping:
            rows.append(self._ping(run, "start", now))
        elif _missed(run):
            rows = missed_message(cfg, job, run)
            for r in rows:
                r["due_at"] = now + self.sender.gather
        if rows and self.store.outbox_add(rows):
            self._changed(rows)
            self.sender.wake()

    @staticmethod
    def _ping(run: dict[str, Any], what: str, now: float) -> dict[str, Any]:
        return {"channel": PING, "event": what, "job": run["job"], "run_id": run["id"],
                "dedupe": f"ping:{what}:run:{run['id']}", "due_at": now}

    # -- on the sender's thread ----------------------------------------------------------

    def _stale(self, now: float) -> float | None:
        cfg = self.config()
        rows, nxt = stale_rows(cfg, self.store, now)
        if rows:
            self.store.outbox_add([dict(r, due_at=now) for r in rows])
        return min(nxt, now + STALE_EVERY) if nxt is not None else None

    def _changed(self, rows: list[dict[str, Any]]) -> None:
        """A run's deliveries changed: told on the bus (the run's details follow them)."""
        if self.bus is not None:
            for key in {(r.get("run_id"), r["channel"]) for r in rows}:
                self.bus.emit(AlertChanged(*key))

    def _problem(self, channel: str, text: str | None) -> None:
        if self.bus is None:
            return
        name = "heartbeat pings" if channel == PING else f"alert channel {channel!r}"
        if text is None:
            self.bus.emit(Notice("info", f"{name}: delivering again",
                                 {"alert_channel": channel, "ok": True}))
        else:
            self.bus.emit(Notice("error", f"{name}: {text}",
                                 {"alert_channel": channel, "ok": False}))


def _left_interrupted(run: dict[str, Any], job) -> bool:
    """An interrupted run (trayjobs stopped or died while it went) that is not run again:
    its kind is not safe to repeat, so this is how it ends, and it is told as a failure.
    One that is resumed ends, and is told, as its resumed run."""
    return run["state"] == "interrupted" and not resumes_after_crash(job)


def _missed(run: dict[str, Any]) -> bool:
    """A run the scheduler made for slots it missed (``catch-up``), or one recorded as
    ``skipped`` for them: both carry the scheduler's "missed N runs since ..." note."""
    note = run.get("note") or ""
    return ((run["trigger"] == "catch-up" and run["state"] == "queued" and not run.get("attempt"))
            or (run["trigger"] == "schedule" and run["state"] == "skipped"
                and note.startswith("missed")))


def send_test(cfg, name: str, *, timeout: float = 30.0) -> str:
    """Send a test message to the channel ``name`` now; returns what was done, or raises
    :class:`~trayjobs.errors.UserError` with the channel's exact error."""
    from ..errors import UserError
    from .channels import Message, channel_for
    from .sender import resolve_url
    spec = cfg.alerts.get(name)
    if spec is None:
        known = ", ".join(sorted(cfg.alerts)) or "none; add one as [alerts.NAME]"
        raise UserError(f"there is no alert channel {name!r} (channels: {known})")
    url = None
    try:
        url = resolve_url(spec.url)
        channel = channel_for(url)
        channel.send(Message(title="trayjobs test message",
                             body=f"This is a test of the alert channel {name!r}. If you "
                                  f"read this, alerts reach you here."), timeout=timeout)
    except UserError as exc:
        raise UserError(f"alert channel {name!r}: {exc}") from None
    except Exception as exc:
        from .channels.redact import redact
        said = redact(str(exc), url) if url else str(exc)
        raise UserError(f"alert channel {name!r}: the test message was not sent: {said}") from None
    return f"sent a test message to {name!r}"


def waiting_go_now(store, name: str, *, now: float | None = None) -> str:
    """After a test message went: the channel works now (its secret stored at last, its
    server back), so its messages waiting for another try are due at once rather than
    after the backoff of up to an hour their failures earned. Returns what to add to the
    test's "sent" ("" when none waited)."""
    from .sender import REVIVE_WITHIN
    now = time.time() if now is None else now
    n = store.outbox_retry_now(now, channels=[name])
    # And those given up on a refusal no retry would change (a 404, a login refused):
    # the test shows it changed. Not those of days ago: news that old is no news.
    gone = store.outbox_revive(now, channels=[name], since=store.now() - REVIVE_WITHIN)
    said = []
    if n:
        said.append(f"{n} message{'s' * (n != 1)} waiting for another try")
    if gone:
        said.append(f"{gone} message{'s' * (gone != 1)} given up before")
    if not said:
        return ""
    return f"; {' and '.join(said)} {'goes' if n + gone == 1 else 'go'} now"
