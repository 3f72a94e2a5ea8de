"""Undo a finished run (cleanup, import): the kind's ``undo`` in a job process."""

from __future__ import annotations

import time
from typing import Any, Callable

from ..errors import UserError
from ..kinds.registry import get_kind
from .control import Control
from .events import RunChanged
from .executor import Executor, RunHandle

__all__ = ["undo_run"]


def undo_run(ctl: Control, run_id: int, *,
             on_log: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    run = ctl.store.get_run(run_id)
    if run is None:
        raise UserError(f"there is no run {run_id}")
    kind = get_kind(run["kind"])
    if not kind.supports_undo:
        raise UserError(f"{run['kind']} runs cannot be undone")
    if run["state"] not in ("succeeded", "failed", "cancelled", "interrupted"):
        raise UserError(f"run {run_id} is {run['state']}; only ended runs can be undone")
    result = run.get("result") if isinstance(run.get("result"), dict) else {}
    if result.get("undo"):
        raise UserError(f"run {run_id} was already undone: {result['undo'].get('summary', '')}")
    run_params = (run.get("inputs") or {}).get("params") or {}
    job = ctl.config.jobs.get(run["job"])
    if job is not None and job.kind == run["kind"]:
        params = job.params_json(run_params)
    elif not kind.undo_needs_params:
        params = None  # removed or changed since: what the run recorded is enough
    elif job is None:
        ctl.config.job(run["job"])  # says why it is not there
        raise UserError(f"there is no job called {run['job']!r} any more")
    else:
        raise UserError(f"job {run['job']!r} is a {job.kind} job now; a {run['kind']} run of it cannot "
                        f"be undone without its settings")
    request = {"op": "undo", "run_id": run_id, "job": run["job"], "kind": run["kind"],
               "params": params, "run_params": run_params,
               "attempt": run["attempt"],
               "max_attempts": run["max_attempts"], "trigger": "undo",
               "files": (run.get("inputs") or {}).get("files") or [], "home": ctl.home.to_dict(),
               "run": {k: run[k] for k in ("id", "job", "kind", "state", "result", "inputs")}}
    lines: list[tuple[float, str, str]] = []

    def on_message(msg: dict[str, Any]) -> None:
        if msg.get("t") == "log":
            lines.append((msg.get("ts") or time.time(), msg.get("level", "info"), msg["message"]))
            if on_log:
                on_log(msg)

    executor = Executor(ctl.home)
    try:
        outcome = executor.run(request, handle=RunHandle(), on_message=on_message,
                               on_tick=lambda: None)
    finally:
        executor.close()
    if outcome.state != "succeeded":
        raise UserError(f"undo of run {run_id} failed: {outcome.message}")
    undo = dict(outcome.result or {}, at=time.time())
    ctl.store.add_logs(run_id, lines + [(time.time(), "info", f"undone: {undo.get('summary', '')}")])
    ctl.store.update_run(run_id, result={**result, "undo": undo})
    # Not the run's end again: whoever tells of ended runs (notifications) must not retell it.
    ctl.bus.emit(RunChanged(ctl.store.get_run(run_id)))
    # The window of the app (or of the cluster's other machines) shows it undone now.
    ctl.tell_changed(run_id)
    return undo
