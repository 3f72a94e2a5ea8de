"""Runs the history keeps as running whose worker is gone, as lists show them.

A run's worker may die without a word (a kill -9, a crash, the machine switched off). The
run stays ``running`` in the history until an engine notices and ends it ``interrupted``
(see :mod:`trayjobs.engine.recovery`): at its next heartbeat if one runs, else when the app
or ``trayjobs worker`` next starts. Until then a list that said "running" would not tell
the truth: this says which runs those are and why, and changes nothing (the ending is the
engine's, exactly once). Qt-free: ``trayjobs runs`` and ``show`` use it.
"""

from __future__ import annotations

from typing import Any

from .textfmt import when

__all__ = ["lost_workers", "lost_info", "lost_note", "lost_state", "SHOWN_STATE"]

#: How a run whose worker is gone is shown in place of ``running``.
SHOWN_STATE = "running?"


def lost_state(text: str) -> str:
    """A running run's state in words (``running 42 %``) as shown once its worker is gone:
    ``running? 42 %``."""
    return SHOWN_STATE + text.removeprefix("running")


def lost_workers(store, runs: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Run id -> its worker's row, for each running run of ``runs`` whose worker is gone:
    its lease is up, it stopped, or it was a process of this machine that no longer
    exists."""
    from .engine.lease import worker_state
    ids = {r["worker_id"] for r in runs if r["state"] == "running" and r.get("worker_id")}
    workers = {i: store.get_worker(i) for i in ids}
    return {r["id"]: workers[r["worker_id"]] for r in runs
            if r["state"] == "running" and workers.get(r.get("worker_id")) is not None
            and worker_state(workers[r["worker_id"]]) != "running"}


def lost_info(run: dict[str, Any], worker: dict[str, Any]) -> dict[str, Any]:
    """What ``--json`` says of it (``worker_lost``): the worker's host, pid and mode, when
    it was last heard of, and whether its process is gone (else it is there but does not
    answer: stopped or hung, or of another machine)."""
    return {"host": worker["host"], "pid": worker["pid"], "mode": worker.get("mode"),
            "last_heard_at": _last_heard(run, worker), "process_gone": _process_gone(worker)}


def lost_note(run: dict[str, Any], worker: dict[str, Any], *, consumer: bool) -> str:
    """E.g. "its worker was gone at 22:31: ended when trayjobs next starts" (it was
    killed or crashed). ``consumer``: whether an app or worker runs this home's jobs now
    (it ends the run at its next heartbeat). Short: a list shows 70 characters."""
    at = when(_last_heard(run, worker))
    if _process_gone(worker):
        then = "the running app or worker ends it" if consumer else \
            "ended when trayjobs next starts"
        return f"its worker was gone at {at}: {then}"
    from .engine.lease import on_this_machine
    where = "" if on_this_machine(worker) else f" on {worker['host']}"
    return f"its worker{where} (pid {worker['pid']}) has not answered since {at}"


def _process_gone(worker: dict[str, Any]) -> bool:
    from .engine.lease import on_this_machine, pid_alive
    return worker["state"] in ("stopped", "lost") and not worker.get("expired") \
        or (on_this_machine(worker) and not pid_alive(worker["pid"]))


def _last_heard(run: dict[str, Any], worker: dict[str, Any]) -> float | None:
    """Its last sign of life: its worker's heartbeat, or the run's own last change."""
    signs = [t for t in (run.get("started_at"), run.get("updated_at"),
                         worker.get("heartbeat_at")) if t]
    return max(signs) if signs else None
