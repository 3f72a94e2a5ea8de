"""What several engines sharing one history agree on through it (migration
``013_cluster``): which of them is the scheduler (table ``leader``), the slots of each
schedule (a compare-and-set on ``job_state``), the control messages they pass without a
Redis server (table ``control``), and where pinned runs may go (``runs.host``).
:class:`~trayjobs.store.RunStore` inherits these methods.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

__all__ = ["ClusterMixin", "LEAD", "CONTROL_KEEP"]

#: The name of the one lead there is: the scheduler's.
LEAD = "scheduler"
#: Seconds a control message is kept (readers are engines that look every few seconds).
CONTROL_KEEP = 600.0


class ClusterMixin:
    # -- the scheduler's lead --------------------------------------------------------------

    def take_lead(self, worker_id: int, *, lease: float, now: float | None = None
                  ) -> int | None:
        now = self.now() if now is None else now
        # One statement: insert the row, or take it over if it is free, expired, held by
        # a worker that is no longer running, or ours already (a renewal); and only by a
        # worker that is itself running with its lease not up.
        rows = self._query(
            "INSERT INTO leader (name, worker_id, token, expires_at)"
            " SELECT :name, :w, 1, :until WHERE EXISTS (SELECT 1 FROM workers m"
            "  WHERE m.id = :w AND m.state = 'running' AND m.heartbeat_at + m.lease >= :now)"
            " ON CONFLICT (name) DO UPDATE SET"
            " token = CASE WHEN leader.worker_id = excluded.worker_id THEN leader.token"
            "  ELSE leader.token + 1 END,"
            " worker_id = excluded.worker_id, expires_at = excluded.expires_at"
            " WHERE leader.worker_id = excluded.worker_id OR leader.worker_id IS NULL"
            "  OR leader.expires_at < :now OR NOT EXISTS (SELECT 1 FROM workers w"
            "  WHERE w.id = leader.worker_id AND w.state = 'running'"
            "  AND w.heartbeat_at + w.lease >= :now)"
            " RETURNING token", {"name": LEAD, "w": worker_id, "until": now + lease,
                                 "now": now})
        return rows[0]["token"] if rows else None

    def release_lead(self, worker_id: int) -> bool:
        return self._execute("UPDATE leader SET worker_id = NULL, expires_at = 0"
                             " WHERE name = ? AND worker_id = ?",
                             (LEAD, worker_id)).rowcount == 1

    def lead(self, *, now: float | None = None) -> dict[str, Any] | None:
        now = self.now() if now is None else now
        rows = self._query(
            "SELECT l.worker_id, l.token, l.expires_at, w.host, w.pid,"
            " (l.worker_id IS NOT NULL AND l.expires_at >= :now) AS held"
            " FROM leader l LEFT JOIN workers w ON w.id = l.worker_id WHERE l.name = :name",
            {"name": LEAD, "now": now})
        if not rows:
            return None
        row = rows[0]
        row["held"] = bool(row["held"])
        return row

    # -- the slots of the schedules --------------------------------------------------------

    def advance_schedule(self, job: str, *, seen: tuple[float | None, str | None],
                         next_run_at: float, schedule_spec: str | None,
                         last_due_at: float | None = None, token: int | None = None) -> bool:
        was_next, was_spec = seen
        cols = {"next_run_at": next_run_at, "schedule_spec": schedule_spec}
        if last_due_at is not None:
            cols["last_due_at"] = last_due_at
        # The slot as this scheduler saw it, still there; and, fenced, only while this
        # scheduler's token is the lead's (a former holder finds its token stale).
        where = "job_state.next_run_at IS ? AND job_state.schedule_spec IS ?"
        cond = [was_next, was_spec]
        if token is not None:
            where += " AND EXISTS (SELECT 1 FROM leader WHERE name = ? AND token = ?)"
            cond += [LEAD, token]
        if was_next is None:
            # Never planned (no row yet, or one a pause made): insert it or fill it in; of
            # two inserting at once the second finds the first's slot and changes nothing.
            names = ["job", *cols]
            sql = (f"INSERT INTO job_state ({', '.join(names)}) VALUES"
                   f" ({', '.join('?' * len(names))}) ON CONFLICT (job) DO UPDATE SET"
                   f" {', '.join(f'{c} = excluded.{c}' for c in cols)} WHERE {where}"
                   f" RETURNING job")
            params = [job, *cols.values(), *cond]
        else:
            sql = (f"UPDATE job_state SET {', '.join(f'{c} = ?' for c in cols)}"
                   f" WHERE job = ? AND {where} RETURNING job")
            params = [*cols.values(), job, *cond]
        return bool(self._query(sql, params))

    # -- control messages --------------------------------------------------------------------

    def send_control(self, message: dict[str, Any], *, now: float | None = None) -> int:
        now = self.now() if now is None else now
        with self.transaction() as conn:
            conn.execute("DELETE FROM control WHERE created_at < ?", (now - CONTROL_KEEP,))
            return conn.execute("INSERT INTO control (created_at, message) VALUES (?, ?)"
                                " RETURNING id", (now, json.dumps(message))).fetchone()[0]

    def controls(self, after_id: int, *, limit: int = 500) -> list[dict[str, Any]]:
        rows = self._query("SELECT id, created_at, message FROM control WHERE id > ?"
                           " ORDER BY id LIMIT ?", (after_id, limit))
        for r in rows:
            r["message"] = json.loads(r["message"])
        return rows

    def last_control_id(self) -> int:
        return self._query("SELECT coalesce(max(id), 0) AS m FROM control")[0]["m"]

    # -- pinned runs -------------------------------------------------------------------------

    def stranded(self, hosts: Iterable[str]) -> list[dict[str, Any]]:
        from . import _decode
        hosts = list(hosts)
        out = f" AND host NOT IN ({', '.join('?' * len(hosts))})" if hosts else ""
        return [_decode(r) for r in self._query(
            f"SELECT * FROM runs WHERE state = 'queued' AND host IS NOT NULL{out}"
            f" ORDER BY id", hosts)]
