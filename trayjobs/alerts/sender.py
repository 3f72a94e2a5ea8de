"""The threads that deliver the outbox: off the engine's path, with retries and backoff,
quiet hours, and bursts summed up in one message; each channel (and each job's heartbeat
pings) on a thread of its own, so one slow or dead server delays no other.

Each channel's messages go in the order they were queued: one that waits for its next
try holds those behind it, so a channel never gets a "recovered" before its "failed".
When a message comes due, the others of its channel queued within the gathering window
go with it; :data:`BURST` or more become one summary ("5 jobs failed in the last
minute"), each marked ``merged`` into it. Reports (attachments) are never merged.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any, Callable

from ..errors import StoreUnreachable, UserError
from .channels import DeliveryError, Message, channel_for
from .channels.ping import ping
from .channels.redact import redact
from .compose import summary_message
from .quiet import quiet_end

__all__ = ["Sender", "BURST", "resolve_url"]

log = logging.getLogger(__name__)

#: This many messages of a channel due together become one summary.
BURST = 3
PING = "ping"
#: A channel told of a job :data:`BURST` times within this many seconds: the next
#: messages about it wait for this long after the last one went, and go as one summary
#: (a job failing every few seconds makes a few messages a minute, not one per run).
FLOOD_WINDOW = 60.0
#: Messages a summary never swallows.
UNMERGED = ("report", "summary")
#: How long past a send's own timeout a sender holds the lane it sends from: one that
#: died lets go of it after that (see RunStore.outbox_lane_hold).
LANE_SPARE = 60.0
#: A channel's settings changed: its messages given up within this many seconds before
#: go with the new ones.
REVIVE_WITHIN = 86400.0
#: How long a lane another process holds is left before it is looked at again.
ELSEWHERE_WAIT = 1.0


def resolve_url(value: Any, *, ping: bool = False) -> str:
    """A channel's or ping's URL: the text, or the value of the named secret.

    A secret's value is checked for the shape the config checks a URL written in it
    for: one that is no URL (the password stored instead of the whole URL) would be
    quoted whole by the error, as the scheme Apprise does not know or the address urllib
    cannot reach, and none of it is blanked out (a URL's secrets are its parts)."""
    if isinstance(value, str):
        return value
    from ..secrets import get_secret
    from .spec import looks_like_url
    url = get_secret(value.secret).strip()
    if not looks_like_url(url, http=ping):
        what = ("http:// or https:// URL" if ping
                else "notification URL (such as mailtos://, ntfy://, json://)")
        raise DeliveryError(f"the secret {value.secret!r} holds no {what}: it should hold "
                            f"the whole URL, password and all (its value is not shown "
                            f"here); store it again with: trayjobs secret set "
                            f"{value.secret}")  # tried again: stored anew, it goes
    return url


class Sender:
    def __init__(self, store, config: Callable[[], Any], *, clock: Callable[[], float] = time.time,
                 gather: float = 2.0, backoff: float = 30.0, max_backoff: float = 3600.0,
                 tries: int = 12, ping_tries: int = 4, timeout: float = 30.0,
                 on_problem: Callable[[str, str | None], None] | None = None,
                 on_change: Callable[[list[dict[str, Any]]], None] | None = None,
                 extra: Callable[[float], float | None] | None = None) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.gather = gather
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.tries = tries
        self.ping_tries = ping_tries
        self.timeout = timeout
        self.on_problem = on_problem
        #: Told the rows whose delivery changed (sent, tried, held, merged, given up).
        self.on_change = on_change
        #: More work on this thread (the stale timer): called with now, returns when next.
        self.extra = extra
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._busy: dict[tuple[str, str | None], threading.Thread] = {}  # lanes sending now
        self._done = False  # a lane finished since the look-out last looked
        #: Lanes another process was delivering, and (monotonic) when to look again.
        self._elsewhere: dict[tuple[str, str | None], float] = {}
        self._problems: dict[str, str | None] = {}
        self._problems_lock = threading.Lock()
        import os
        import socket
        import uuid
        #: Who this sender is to the other processes delivering from the same outbox.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        #: Each channel's settings (and the jobs' pings) as last seen: see _follow_config.
        self._seen: dict[str, Any] | None = None

    # -- the threads -------------------------------------------------------------------
    #
    # One thread looks at what is due and hands each due lane (a channel, or one job's
    # heartbeat pings) to a thread of its own, so a channel whose server takes seconds to
    # answer, or never does, holds up nothing but itself: a ``/start`` ping goes out while
    # a slow mail server is still being talked to. A lane has one thread at a time, which
    # keeps its messages in order; the look-out skips a busy lane until it is done.

    def start(self) -> None:
        self._stopping = False
        self.store.outbox_retry_now(self.clock())  # a restart: what failed before goes now
        self._thread = threading.Thread(target=self._loop, name="trayjobs-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for lane in list(self._busy.values()):
            lane.join(max(0.0, deadline - time.monotonic()))

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _loop(self) -> None:
        while not self._stopping:
            try:
                now = self.clock()
                self._follow_config(self.config(), now)
                nxt_extra = self.extra(now) if self.extra is not None else None
                with self._cond:
                    busy = set(self._busy)
                lanes, nxt = self._due(now, busy=busy)
                for lane, rows in lanes:
                    self._hand_over(lane, rows)
                nxt = min((t for t in (nxt, nxt_extra) if t is not None), default=None)
            except StoreUnreachable as exc:  # they wait in the outbox; the engine says why
                log.warning("alerts wait for the run history: %s", exc)
                nxt = self.clock() + 30
            except Exception:  # a locked store or a bug must not end alerting
                log.exception("alerts: delivering failed")
                nxt = self.clock() + 30
            wait = 60.0 if nxt is None else min(60.0, max(0.0, nxt - self.clock()))
            with self._cond:
                if not self._stopping and not self._done:
                    self._cond.wait(wait + 0.005)
                self._done = False

    def _hand_over(self, lane: tuple[str, str | None], rows: list[dict[str, Any]] | None) -> None:
        def work() -> None:
            try:
                self._deliver(self.config(), lane, rows, self.clock(), False)
            except Exception:
                log.exception("alerts: delivering to %s failed", lane[0])
            finally:
                with self._cond:
                    self._busy.pop(lane, None)
                    self._done = True  # the look-out sees this lane's next due time
                    self._cond.notify_all()

        name = f"trayjobs-alerts-{lane[0]}" + (f"-{lane[1]}" if lane[1] else "")
        thread = threading.Thread(target=work, name=name, daemon=True)
        with self._cond:
            self._busy[lane] = thread
        thread.start()

    # -- one round ---------------------------------------------------------------------

    def run_once(self, now: float | None = None, *, flush: bool = False,
                 timeout: float | None = None) -> float | None:
        """Deliver what is due at ``now`` on this thread, lane after lane (``flush``:
        everything pending, gathering window and quiet hours aside: a foreground command
        about to exit; ``timeout``: each send's, instead of the sender's). Returns when
        something is due next."""
        now = self.clock() if now is None else now
        cfg = self.config()
        self._follow_config(cfg, now)
        nxt_extra = self.extra(now) if self.extra is not None else None
        lanes, _ = self._due(now, flush=flush)
        for lane, rows in lanes:
            if self._stopping:
                break
            self._deliver(cfg, lane, rows, now, flush, timeout)
        _, nxt = self._due(now)
        due = [t for t in (nxt, nxt_extra) if t is not None]
        return min(due) if due else None

    def _follow_config(self, cfg, now: float) -> None:
        """A channel whose settings changed (its URL fixed, its secret named anew), or a
        job's ping: its messages waiting for their next try go now, not after a backoff
        of up to an hour that was about the old URL."""
        seen = {**{name: spec for name, spec in cfg.alerts.items()},
                PING: {name: job.common.ping for name, job in cfg.jobs.items()
                       if job.common.ping is not None}}
        before, self._seen = self._seen, seen
        if before is None:
            return  # the first look: start() tried them all again already
        changed = [name for name, spec in seen.items() if before.get(name, spec) != spec]
        if not changed:
            return
        # Those given up on the old URL (a refusal no retry changes: a 404, a redirect
        # that drops the message, a mail server wanting STARTTLS) go too: they are what
        # showed the URL was wrong. Not those of days ago: news that old is no news; nor
        # a heartbeat's pings: a "/start" of hours ago would tell the monitor of a run now.
        revived = self.store.outbox_revive(now, channels=[c for c in changed if c != PING],
                                           since=self.store.now() - REVIVE_WITHIN)
        if self.store.outbox_retry_now(now, channels=changed) or revived:
            log.info("alerts: settings of %s changed: their waiting messages go now",
                     ", ".join(sorted(changed)))

    def _due(self, now: float, *, flush: bool = False, busy: set = frozenset()
             ) -> tuple[list[tuple[tuple[str, str | None], list | None]], float | None]:
        """The lanes due at ``now``, with the rows already read for them (a job's pings),
        and when the first of the others is due. Only each channel's oldest message is
        read: the others wait behind it."""
        lanes: list[tuple[tuple[str, str | None], list | None]] = []
        later: list[float] = []
        with self._cond:
            mono = time.monotonic()
            self._elsewhere = {k: t for k, t in self._elsewhere.items() if t > mono}
            elsewhere = dict(self._elsewhere)
        if elsewhere:  # another process delivers them: looked at again in a moment
            busy = set(busy) | set(elsewhere)
            later.append(now + min(elsewhere.values()) - mono)
        heads = self.store.outbox_heads()
        for head in heads:
            if head["channel"] == PING or (head["channel"], None) in busy:
                continue
            due = head["due_at"] if flush or head["due_at"] <= now else self._due_at(head)
            if flush or due <= now:
                lanes.append(((head["channel"], None), None))
            else:
                later.append(due)
        if any(h["channel"] == PING for h in heads):
            # Pings are few (each run's two, given up after a few tries): read them all.
            by_job: dict[str | None, list[dict[str, Any]]] = {}
            for row in self.store.outbox_pending(PING):
                by_job.setdefault(row["job"], []).append(row)
            for job, rows in by_job.items():
                if (PING, job) in busy:
                    continue
                if flush or rows[0]["due_at"] <= now:
                    lanes.append(((PING, job), rows))
                else:
                    later.append(rows[0]["due_at"])
        return lanes, min(later, default=None)

    def _due_at(self, head: dict[str, Any]) -> float:
        """When the channel whose head is not due yet is due. A head waiting for its next
        try keeps those behind it waiting, in order; one held for quiet hours or to be
        summed up lets those behind it go when they are due: an urgent failure goes at
        once, not at the quiet hours' end."""
        row = self.store.outbox_get(head["id"])
        if row is None or row["attempts"] or not (row["data"].get("held")
                                                  or row["data"].get("gathered")):
            return head["due_at"]
        return min((r["due_at"] for r in self.store.outbox_pending(head["channel"])),
                   default=head["due_at"])

    def _deliver(self, cfg, lane: tuple[str, str | None], rows: list[dict[str, Any]] | None,
                 now: float, flush: bool, timeout: float | None = None) -> None:
        channel = lane[0]
        timeout = self.timeout if timeout is None else timeout
        # Another process may deliver from this outbox at the same time (the app and a
        # foreground command flushing at its end; an old and a new leader): the lane is
        # taken first, and held a send's timeout ahead before each send, so each message
        # goes once; its rows are read once it is held.
        key = channel if lane[1] is None else f"{channel}:{lane[1]}"

        def hold(longest: float = 0.0) -> bool:
            """Hold the lane past the next send (``longest``: how long it may take, where
            its URL asks for waits longer than ``timeout``)."""
            return self.store.outbox_lane_hold(
                key, self.owner, self.store.now() + max(timeout, longest) + LANE_SPARE)

        if not hold():
            log.info("alerts: another trayjobs is delivering %s", key)
            with self._cond:
                self._elsewhere[lane] = time.monotonic() + ELSEWHERE_WAIT
            return
        try:
            if channel == PING:
                rows = [r for r in self.store.outbox_pending(PING) if r["job"] == lane[1]]
                self._pings(cfg, rows, now, flush, timeout, hold)
            else:
                # What may go with the head: the messages due within the gathering window.
                due_by = None if flush or channel not in cfg.alerts else now + self.gather
                rows = self.store.outbox_pending(channel, due_by=due_by)
                if rows:
                    self._messages(cfg, channel, rows, now, flush, timeout, hold)
        finally:
            self.store.outbox_lane_free(key, self.owner)

    def _pings(self, cfg, rows: list[dict[str, Any]], now: float, flush: bool,
               timeout: float, hold: Callable[[], bool]) -> None:
        blocked: set[str] = set()  # a job whose earlier ping waits: its later ones wait too
        for row in rows:
            job = row["job"]
            if job in blocked or (row["due_at"] > now and not flush):
                blocked.add(job)
                continue
            spec = cfg.jobs.get(job)
            url = spec.common.ping if spec is not None else None
            if url is None:
                self.store.outbox_update([row["id"]], state="failed", attempts=row["attempts"] + 1,
                                         last_error=f"the job {job!r} has no ping any more")
                self._changed([row])
                continue
            if not hold():
                return  # held too long: another sender has the lane now
            base = None
            try:
                base = resolve_url(url, ping=True)
                ping(base, row["event"], timeout=min(timeout, 10.0))
            except Exception as exc:
                if self._failed(row, exc, PING, self.ping_tries, now, url=base):
                    blocked.add(job)
                continue
            self._sent([row], now, PING)

    def _messages(self, cfg, channel: str, rows: list[dict[str, Any]], now: float,
                  flush: bool, timeout: float, hold: Callable[[], bool]) -> None:
        spec = cfg.alerts.get(channel)
        if spec is None:
            self.store.outbox_update([r["id"] for r in rows], state="failed",
                                     last_error=f"the channel {channel!r} is no longer in "
                                                f"the config")
            self._changed(rows)
            return
        if min(r["due_at"] for r in rows) > now and not flush:
            return
        batch = [r for r in rows if flush or r["due_at"] <= now + self.gather]
        held_until = None if flush else quiet_end(spec.quiet_hours, datetime.fromtimestamp(now))
        if held_until is not None:
            urgent = [r for r in batch if r["data"].get("urgent")]
            held = [r for r in batch if not r["data"].get("urgent")]
            until = held_until.timestamp()
            for r in held:
                if r["due_at"] < until:
                    self.store.outbox_update([r["id"]], due_at=until,
                                             data=_json({**r["data"], "held": True}))
            self._changed(held)
            batch = urgent
        if not flush:
            batch = self._hold_flood(channel, batch, now)
        merge = [r for r in batch if r["event"] not in UNMERGED]
        quiet = any(r["data"].get("held") for r in merge)
        gathered = any(r["data"].get("gathered") for r in merge)
        if len(merge) >= BURST or ((quiet or gathered) and len(merge) >= 2):
            batch = [r for r in batch if r["event"] in UNMERGED] + [self._summarise(channel, merge, quiet, now)]
        for row in batch:
            if self._stopping or not hold():
                return
            url = None
            try:
                url = resolve_url(spec.url)
                channel_obj = channel_for(url)
                # A URL's own waits (?rto=) may make the send outlast the hold: held
                # for as long, no other process takes the lane and sends it again.
                longest = channel_obj.longest(timeout)
                if longest > timeout + LANE_SPARE and not hold(longest):
                    return
                channel_obj.send(self._message(row, spec, channel_obj), timeout=timeout)
            except Exception as exc:
                self._failed(row, exc, channel, self.tries, now, url=url)
                return  # the rest of the channel waits behind it, in order
            self._sent([row], now, channel)

    def _hold_flood(self, channel: str, batch: list[dict[str, Any]],
                    now: float) -> list[dict[str, Any]]:
        """The batch less the messages held back because the channel already told of
        their job a burst's worth of times in the last :data:`FLOOD_WINDOW`: those wait
        for that long after its last one, to go together as one summary. Urgent ones,
        reports and other jobs' messages go as they come."""
        held, sent_of = [], {}
        for r in batch:
            if (r["event"] in UNMERGED or not r.get("job") or r["data"].get("urgent")
                    or r["data"].get("gathered")):
                continue
            if r["job"] not in sent_of:
                sent_of[r["job"]] = self.store.outbox_sent_since(channel, r["job"],
                                                                 now - FLOOD_WINDOW)
            sent = sent_of[r["job"]]
            if len(sent) >= BURST:
                until = max(sent[0] + FLOOD_WINDOW, r["due_at"])
                self.store.outbox_update([r["id"]], due_at=until,
                                         data=_json({**r["data"], "gathered": True}))
                held.append(r)
        if not held:
            return batch
        self._changed(held)
        ids = {r["id"] for r in held}
        return [r for r in batch if r["id"] not in ids]

    def _summarise(self, channel: str, rows: list[dict[str, Any]], quiet: bool,
                   now: float) -> dict[str, Any]:
        title, body = summary_message(rows, quiet=quiet, now=now)
        key = f"{channel}:summary:{rows[0]['id']}"
        self.store.outbox_add([{"channel": channel, "event": "summary", "title": title,
                                "body": body, "dedupe": key, "created_at": now, "due_at": now,
                                "data": {"of": [r["id"] for r in rows]}}])
        # Found by its key: the engine may queue other messages of the channel meanwhile.
        (summary,) = self.store.outbox_log(channel=channel, dedupe=key, limit=1)
        self.store.outbox_update([r["id"] for r in rows], state="merged",
                                 merged_into=summary["id"])
        self._changed(rows)
        return summary

    def _message(self, row: dict[str, Any], spec, channel) -> Message:
        data = row["data"]
        body, html, attach = row["body"] or "", None, list(data.get("attach") or [])
        if attach and not getattr(channel, "carries_files", channel.attachments):
            import os
            body += (f"\n\nNot attached, this channel carries no files: "
                     f"{', '.join(os.path.basename(p) for p in attach)}. They are on the "
                     f"computer that ran the job.")
            attach = []
        if attach:
            attach, note = _fit(attach, spec.max_bytes)
            if note:
                body += f"\n\n{note}"
        if data.get("html"):
            html, note = _html_body(data["html"], spec.max_bytes)
            if note:
                body += f"\n\n{note}"
        return Message(title=row["title"] or "", body=body, html=html, attach=attach,
                       failure=row["event"] in ("failure", "stale"))

    # -- outcomes ----------------------------------------------------------------------

    def _sent(self, rows: list[dict[str, Any]], now: float, channel: str) -> None:
        for r in rows:
            self.store.outbox_update([r["id"]], state="sent", sent_at=now,
                                     attempts=r["attempts"] + 1, last_error=None)
        self._changed(rows)
        self._problem(channel, None)

    def _failed(self, row: dict[str, Any], exc: Exception, channel: str, tries: int,
                now: float, url: str | None = None) -> bool:
        """Record a failed try; True while it will be tried again. An unforeseen error
        may quote the channel's URL: its secrets are blanked out as a channel's are."""
        # A channel's words, or ours (a secret not stored) are said as they are; only an
        # unforeseen error is named by its class.
        said = isinstance(exc, (DeliveryError, UserError))
        text = str(exc) if said else f"{type(exc).__name__}: {exc}"
        if url:
            text = redact(text, url)
        attempt = row["attempts"] + 1
        again = attempt < tries and getattr(exc, "retry", True)
        due = now + min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) if again else None
        self.store.outbox_tried(row["id"], error=text, due_at=due)
        self._changed([row])
        log.warning("alert %s to %s: try %d failed: %s%s", row["id"], channel, attempt, text,
                    "" if again else " (given up)")
        self._problem(channel, text)
        return again

    def _changed(self, rows: list[dict[str, Any]]) -> None:
        if self.on_change is not None and rows:
            try:
                self.on_change(rows)
            except Exception:
                log.exception("alerts: telling a delivery failed")

    def _problem(self, channel: str, text: str | None) -> None:
        with self._problems_lock:  # one job's ping lane and another's may tell at once
            if self._problems.get(channel) == text:
                return
            self._problems[channel] = text
        if self.on_problem is not None:
            self.on_problem(channel, text)


def _json(value: Any) -> str:
    import json
    return json.dumps(value)


def _html_body(path: str, limit: int) -> tuple[str | None, str | None]:
    """The report's HTML as the message's body, read only when it is within ``limit``
    (the channel's ``max_attachment``): a mail's body is no place for gigabytes. A page
    in another encoding than UTF-8 goes with its odd bytes replaced, rather than never.
    Else None, and a note saying why the text goes instead."""
    import os
    name = os.path.basename(path)
    try:
        path = _on_disk(path)
        size = os.path.getsize(path)
        if size > limit:
            return None, (f"The report's page {name} ({_size(size)}) is too big for this "
                          f"channel's body (at most {_size(limit)}): it is on the computer "
                          f"that ran the job.")
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit + 1), None
    except OSError:
        return None, f"The report's page {name} is no longer there."


def _on_disk(path: str) -> str:
    """A run's output as its file is named: the history keeps a name that is not UTF-8
    with its bytes escaped (``caf\\xe9.pdf``), which is another name on disk."""
    import os
    from ..textfmt import unescape_bytes
    if os.path.lexists(path):
        return path
    return unescape_bytes(path)


def _fit(paths: list[str], limit: int) -> tuple[list[str], str | None]:
    """The files that fit within ``limit`` bytes together, in order, and a note naming
    those left out (and those that are gone)."""
    import os
    kept, left, gone, total = [], [], [], 0
    for p in paths:
        try:
            p = _on_disk(p)
            size = os.path.getsize(p)
        except OSError:
            gone.append(os.path.basename(p))
            continue
        if total + size > limit:
            left.append(f"{os.path.basename(p)} ({_size(size)})")
            continue
        kept.append(p)
        total += size
    notes = []
    if left:
        notes.append(f"Not attached, too big for this channel (at most {_size(limit)} "
                     f"in all): {', '.join(left)}. They are on the computer that ran the job.")
    if gone:
        notes.append(f"Not attached, no longer there: {', '.join(gone)}.")
    return kept, " ".join(notes) or None


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB"):
        if n < 1000 or unit == "MB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"
