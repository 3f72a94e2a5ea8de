"""The workers: every process that runs jobs, with the lease that keeps its runs its own
(table ``workers``, migration ``012_workers``).

A worker registers as it starts, beats (``heartbeat_at``) every few seconds while it
lives and says it stopped on a clean stop. Its lease is ``lease`` seconds past its last
heartbeat: a run it claimed (``runs.worker_id``) is left alone until then, whichever
machine looks. Times are those of the writer's clock, as everywhere in the store.
:class:`~trayjobs.store.RunStore` inherits these methods.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["WorkersMixin", "WORKER_STATES", "LOST"]

#: ``running`` while it beats; ``stopped`` after a clean stop; ``lost`` once another
#: worker saw its lease expire and took its runs back.
WORKER_STATES = ("running", "stopped", "lost")
LOST = "lost"

# A worker as read: its row, whether its lease is up at ``now``, and its running runs.
_WORKER_SQL = ("SELECT w.*, (w.state = 'running' AND w.heartbeat_at + w.lease < :now)"
               " AS expired, (SELECT count(*) FROM runs r WHERE r.state = 'running'"
               " AND r.worker_id = w.id) AS runs FROM workers w")


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A worker row as shown: ``state`` is ``lost`` as soon as its lease is up."""
    row = dict(row)
    row["expired"] = bool(row["expired"])
    if row["expired"]:
        row["state"] = LOST
    return row


class WorkersMixin:
    def register_worker(self, *, host: str, pid: int, version: str, mode: str,
                        lease: float, now: float | None = None,
                        machine: str | None = None, problem: str | None = None) -> int:
        now = self.now() if now is None else now
        with self.transaction() as conn:
            return conn.execute(
                "INSERT INTO workers (host, pid, version, mode, started_at, heartbeat_at,"
                " lease, state, machine, problem) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)"
                " RETURNING id",
                (host, pid, version, mode, now, now, lease, machine, problem)).fetchone()[0]

    def set_worker_problem(self, worker_id: int, problem: str | None) -> None:
        self._execute("UPDATE workers SET problem = ? WHERE id = ?", (problem, worker_id))

    def beat(self, worker_id: int, *, now: float | None = None) -> bool:
        now = self.now() if now is None else now
        # One indexed UPDATE of one row: the cheapest write there is.
        return self._execute("UPDATE workers SET heartbeat_at = ? WHERE id = ?"
                             " AND state = 'running'", (now, worker_id)).rowcount == 1

    def stop_worker(self, worker_id: int, *, now: float | None = None) -> None:
        now = self.now() if now is None else now
        self._execute("UPDATE workers SET state = 'stopped', heartbeat_at = ?, stopped_at = ?"
                      " WHERE id = ? AND state = 'running'", (now, now, worker_id))

    def mark_worker_lost(self, worker_id: int, *, now: float | None = None) -> bool:
        now = self.now() if now is None else now
        return self._execute("UPDATE workers SET state = 'lost', stopped_at = ? WHERE id = ?"
                             " AND state = 'running'", (now, worker_id)).rowcount == 1

    def get_worker(self, worker_id: int, *, now: float | None = None) -> dict[str, Any] | None:
        now = self.now() if now is None else now
        rows = self._query(f"{_WORKER_SQL} WHERE w.id = :id", {"now": now, "id": worker_id})
        return _shown(rows[0]) if rows else None

    def ended_before_loss(self, worker_id: int, *, window: float) -> list[dict[str, Any]]:
        """The runs ``worker_id`` ended in its last ``window`` seconds of heartbeats: those
        whose end a crash may have cut off before it was told (alerts, pings)."""
        from . import FINAL_STATES, _decode
        final = ", ".join(f"'{s}'" for s in FINAL_STATES)
        rows = self._query(
            f"SELECT r.* FROM runs r JOIN workers w ON w.id = r.worker_id WHERE w.id = ?"
            f" AND r.state IN ({final}) AND r.finished_at >= w.heartbeat_at - ?"
            f" ORDER BY r.id", (worker_id, window))
        return [_decode(r) for r in rows]

    def workers(self, *, since: float | None = None,
                now: float | None = None) -> list[dict[str, Any]]:
        now = self.now() if now is None else now
        where = "" if since is None else " WHERE w.state = 'running' OR w.heartbeat_at >= :since"
        rows = self._query(f"{_WORKER_SQL}{where} ORDER BY w.id DESC",
                           {"now": now, "since": since})
        return [_shown(r) for r in rows]

    def running_runs(self, *, now: float | None = None) -> list[dict[str, Any]]:
        now = self.now() if now is None else now
        from . import _decode
        rows = self._query(
            "SELECT r.*, w.id AS w_id, w.host AS w_host, w.pid AS w_pid, w.state AS w_state,"
            " w.mode AS w_mode, w.heartbeat_at AS w_heartbeat_at, w.lease AS w_lease,"
            " w.machine AS w_machine,"
            " (w.state = 'running' AND w.heartbeat_at + w.lease < :now) AS w_expired"
            " FROM runs r LEFT JOIN workers w ON w.id = r.worker_id"
            " WHERE r.state = 'running' ORDER BY r.id", {"now": now})
        out = []
        for r in rows:
            w = {k[2:]: r.pop(k) for k in list(r) if k.startswith("w_")}
            r = _decode(r)
            if w["id"] is not None:
                w["expired"] = bool(w["expired"])
                r["worker"] = _shown(w)
            else:
                r["worker"] = None
            out.append(r)
        return out
