"""The alert outbox: messages and heartbeat pings waiting to be delivered, and what
became of them (table ``alert_outbox``, migration ``009_alert_outbox``).

A row is ``pending`` until it is ``sent``, ``failed`` for good (its last error kept), or
``merged`` into a summary of a burst. ``due_at`` is when it may next be tried.
A sender takes a lane (a channel's messages, a job's pings) in ``alert_lanes``
(migration ``020_alert_lanes``) before it delivers from it: of two processes sending
at once, one sends each message.
:class:`~trayjobs.store.RunStore` inherits these methods.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

__all__ = ["OutboxMixin", "OUTBOX_STATES"]

OUTBOX_STATES = ("pending", "sent", "failed", "merged")


def _row(r: dict[str, Any]) -> dict[str, Any]:
    r = dict(r)
    r["data"] = json.loads(r["data"]) if r.get("data") else {}
    return r


class OutboxMixin:
    def outbox_add(self, rows: Iterable[dict[str, Any]]) -> int:
        """Queue messages (keys: channel, event, job, run_id, dedupe, title, body, data,
        due_at); one commit. A message whose ``dedupe`` is already queued is not added
        again. Returns how many were added."""
        now = self.now()
        values = [(r["channel"], r["event"], r.get("job"), r.get("run_id"), r.get("dedupe"),
                   r.get("title"), r.get("body"),
                   json.dumps(r["data"]) if r.get("data") else None,
                   r.get("created_at", now), r.get("due_at", now)) for r in rows]
        if not values:
            return 0
        with self.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO alert_outbox (channel, event, job, run_id, dedupe, title,"
                " body, data, created_at, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
            return conn.total_changes - before

    def outbox_lane_hold(self, lane: str, owner: str, until: float) -> bool:
        """Take ``lane`` for ``owner`` until ``until`` (or hold it longer, if ``owner``
        has it): False while another owner holds it and its time has not passed."""
        return self._execute(
            "INSERT INTO alert_lanes (lane, owner, until) VALUES (?, ?, ?) ON CONFLICT (lane)"
            " DO UPDATE SET owner = excluded.owner, until = excluded.until"
            " WHERE alert_lanes.owner = excluded.owner OR alert_lanes.until < ?",
            (lane, owner, until, self.now())).rowcount > 0

    def outbox_lane_free(self, lane: str, owner: str) -> None:
        """Let ``lane`` go, if ``owner`` still holds it."""
        self._execute("DELETE FROM alert_lanes WHERE lane = ? AND owner = ?", (lane, owner))

    def outbox_pending(self, channel: str | None = None, *,
                       due_by: float | None = None) -> list[dict[str, Any]]:
        """Pending messages, oldest first: every one, or those of ``channel`` (that may go
        by ``due_by``)."""
        where, params = ["state = 'pending'"], []
        if channel is not None:
            where.append("channel = ?")
            params.append(channel)
        if due_by is not None:
            where.append("due_at <= ?")
            params.append(due_by)
        return [_row(r) for r in self._query(
            "SELECT * FROM alert_outbox INDEXED BY alert_outbox_pending WHERE "
            + " AND ".join(where) + " ORDER BY id", params)]

    def outbox_heads(self) -> list[dict[str, Any]]:
        """Per channel with pending messages, the oldest one's ``channel``, ``id`` and
        ``due_at``: a channel's messages go in order, so the head says when the channel
        is due. Read off the pending index, a step per channel: the messages waiting
        behind a dead channel's head cost nothing here, however many."""
        return self._query(
            "WITH RECURSIVE lane(channel) AS ("
            " SELECT min(channel) FROM alert_outbox WHERE state = 'pending'"
            " UNION ALL SELECT (SELECT min(channel) FROM alert_outbox WHERE state = 'pending'"
            "  AND channel > lane.channel) FROM lane WHERE lane.channel IS NOT NULL)"
            " SELECT o.channel, o.id, o.due_at FROM lane JOIN alert_outbox o ON o.id = ("
            " SELECT id FROM alert_outbox WHERE state = 'pending' AND channel = lane.channel"
            " ORDER BY id LIMIT 1)")

    def outbox_update(self, ids: Iterable[int], **fields: Any) -> None:
        ids = [int(i) for i in ids]
        if not ids:
            return
        cols = ", ".join(f"{k} = ?" for k in fields)
        self._execute(f"UPDATE alert_outbox SET {cols} WHERE id IN ({', '.join('?' * len(ids))})",
                      (*fields.values(), *ids))

    def outbox_tried(self, row_id: int, *, error: str, due_at: float | None) -> None:
        """One more failed try: pending again at ``due_at``, or failed for good (None)."""
        self._execute("UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?,"
                      " due_at = coalesce(?, due_at), state = ? WHERE id = ?",
                      (error[:2000], due_at, "pending" if due_at is not None else "failed",
                       row_id))

    def outbox_retry_now(self, now: float, *, channels: Iterable[str] | None = None) -> int:
        """Pending messages that failed before are tried again at ``now`` (a restart; a
        channel whose settings changed): all, or those of ``channels``."""
        where, params = "", [now, now]
        if channels is not None:
            channels = list(channels)
            if not channels:
                return 0
            where = f" AND channel IN ({', '.join('?' * len(channels))})"
            params += channels
        return self._execute("UPDATE alert_outbox SET due_at = ? WHERE state = 'pending' AND"
                             " attempts > 0 AND due_at > ?" + where, params).rowcount

    def outbox_revive(self, now: float, *, channels: Iterable[str], since: float) -> int:
        """Messages of ``channels`` queued since ``since`` and given up after a try are
        pending again, due at ``now`` (their channel's URL fixed); how many."""
        channels = list(channels)
        if not channels:
            return 0
        return self._execute("UPDATE alert_outbox SET state = 'pending', due_at = ? WHERE"
                             " state = 'failed' AND attempts > 0 AND created_at >= ? AND"
                             f" channel IN ({', '.join('?' * len(channels))})",
                             [now, since, *channels]).rowcount

    def outbox_log(self, *, run_id: int | None = None, channel: str | None = None,
                   dedupe: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Messages, newest first (of one run, one channel, or the one of this
        ``dedupe``)."""
        where, params = [], []
        if run_id is not None:
            where.append("o.run_id = ?")
            params.append(run_id)
        if channel is not None:
            where.append("o.channel = ?")
            params.append(channel)
        if dedupe is not None:
            where.append("o.dedupe = ?")
            params.append(dedupe)
        # A message summed up went only if its summary did: each row says how that went
        # (``summary_state``, ``summary_error``), else a run's alert read "sent" while the
        # summary waited or failed.
        sql = ("SELECT o.*, s.state AS summary_state, s.last_error AS summary_error"
               " FROM alert_outbox o LEFT JOIN alert_outbox s ON s.id = o.merged_into")
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_row(r) for r in self._query(sql + " ORDER BY o.id DESC LIMIT ?",
                                             (*params, limit))]

    def outbox_sent_since(self, channel: str, job: str, since: float) -> list[float]:
        """When the channel's messages about ``job`` sent since ``since`` went, newest
        first."""
        return [r["sent_at"] for r in self._query(
            "SELECT sent_at FROM alert_outbox WHERE channel = ? AND job = ? AND state = 'sent'"
            " AND sent_at >= ? ORDER BY sent_at DESC", (channel, job, since))]

    def outbox_get(self, row_id: int) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM alert_outbox WHERE id = ?", (row_id,))
        return _row(rows[0]) if rows else None

    def channel_health(self) -> dict[str, dict[str, Any]]:
        """Per channel, its latest message that was tried: whether it went, its error."""
        return {r["channel"]: r for r in self._query(
            "SELECT channel, state, last_error, attempts, sent_at, created_at, max(id) AS id"
            " FROM alert_outbox WHERE attempts > 0 OR state = 'sent' GROUP BY channel")}

    def last_success_at(self, job: str) -> float | None:
        """When ``job``'s newest successful run ended."""
        rows = self._query("SELECT finished_at FROM runs INDEXED BY runs_job_succeeded WHERE"
                           " job = ? AND state = 'succeeded' ORDER BY id DESC LIMIT 1", (job,))
        return rows[0]["finished_at"] if rows else None

    def previous_outcome(self, job: str, before_id: int) -> str | None:
        """How ``job``'s last run before ``before_id`` that succeeded or failed ended."""
        rows = self._query("SELECT state FROM runs WHERE job = ? AND id < ? AND state IN"
                           " ('succeeded', 'failed') ORDER BY id DESC LIMIT 1", (job, before_id))
        return rows[0]["state"] if rows else None
