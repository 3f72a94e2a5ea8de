"""Hooks: the runs that a run's end starts (``then``, ``on_failure``, ``always``).

Most runs end in the engine that ran their last attempt; a run cancelled while it waits
for its next attempt ends in whichever process cancels it (the window, ``trayjobs
cancel``). Both start the hooks here, through :class:`~trayjobs.engine.control.Control`.
"""

from __future__ import annotations

import logging
from typing import Any

from ..config import HOOK_OUTCOMES, MAX_CHAIN, JobConfig
from ..errors import UserError
from ..store import run_warnings
from .events import Notice

__all__ = ["Hooks", "MAX_PARENT_OUTPUTS"]

log = logging.getLogger(__name__)

#: A parent's outputs passed to the runs its hooks start, at most.
MAX_PARENT_OUTPUTS = 1000


class Hooks:
    """Starting a run's hooks; mixed into :class:`~trayjobs.engine.control.Control`."""

    def _start_hooks(self, run: dict[str, Any], job: JobConfig) -> None:
        """Start the jobs that ``job``'s hooks name for how ``run`` ended: ``then`` after
        success, ``on_failure`` after a final failure, ``always`` after either or a cancel.
        An interrupted run starts none: it has not ended yet (its resumed run will), or,
        when it is not resumed, it did not end by itself."""
        rid, state = run["id"], run["state"]
        hooks: dict[str, str] = {}  # a job named by two hooks (then and always) starts once
        for key, name in job.common.hooks():
            if state in HOOK_OUTCOMES[key]:
                hooks.setdefault(name, key)
        hooks = [(key, name) for name, key in hooks.items()]
        if not hooks:
            return
        depth = self.store.chain_depth(rid, limit=MAX_CHAIN)
        if depth >= MAX_CHAIN:
            names = ", ".join(sorted({name for _, name in hooks}))
            # ``check`` and loading refuse loops of hooks and say where a chain is too long,
            # but a config edited between the two must still end: it is stopped here.
            msg = (f"not starting {names}: run {rid} is already the {depth}th run started by "
                   f"hooks one after another, and at most {MAX_CHAIN} are; the hooks of "
                   f"{job.name!r} make a loop or too long a chain (trayjobs check says which)")
            log.warning("%s", msg)
            self.store.add_log(rid, msg, "error")
            self.bus.emit(Notice("error", msg))
            return
        parent = parent_info(run)
        for key, name in hooks:
            target = self.config.jobs.get(name)
            if target is not None and not target.enabled:
                # enabled = false: the job never runs by itself, and a hook is not a person
                # asking for it (`trayjobs check` notes such hooks).
                self.store.add_log(rid, f"{key}: {name!r} was not started: it is disabled "
                                        f"(enabled = false in its job)", "warning")
                continue
            try:
                self.submit(name, trigger="chain", parent_run=rid, parent=dict(parent, hook=key),
                            note=f"{key} of run {rid} of {job.name} ({state})")
            except (UserError, ValueError) as exc:
                self.store.add_log(rid, f"could not start {name!r} ({key}): {exc}", "error")


def parent_info(run: dict[str, Any]) -> dict[str, Any]:
    """What a run started by a hook learns of the run that started it (``ctx.parent``)."""
    result = run.get("result") if isinstance(run.get("result"), dict) else {}
    outputs = result.get("outputs")
    outputs = [str(o) for o in outputs[:MAX_PARENT_OUTPUTS]] if isinstance(outputs, list) else []
    summary = result.get("summary")
    return {"id": run["id"], "job": run["job"], "state": run["state"], "outputs": outputs,
            "summary": summary if isinstance(summary, str) else None,
            "error": run.get("error"), "warnings": run_warnings(result)}
