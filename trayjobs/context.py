"""The narrow protocol between job code and the engine.

Job code gets a :class:`JobContext`. It reports through ``progress()`` and
``log()`` and asks ``check_cancelled()`` between units of work. The context
turns each call into a small dict handed to a *sink*: in the job's child
process the sink writes to a pipe read by the engine; in tests and previews it
may be any callable (``list.append`` records everything).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import Cancelled
from .paths import Home

__all__ = ["JobContext", "Sink"]

Sink = Callable[[dict[str, Any]], None]


@dataclass
class JobContext:
    """What every job kind receives, besides its validated params."""

    run_id: int
    job: str
    home: Home
    sink: Sink
    attempt: int = 1
    max_attempts: int = 1
    trigger: str = "manual"
    files: list[Path] = field(default_factory=list)
    dry_run: bool = False
    #: The run's parameters: the job's ``params`` with this run's ``--param`` overrides.
    params: dict[str, Any] = field(default_factory=dict)
    #: The interrupted run this one resumes (trigger "recovered"): its effects may be
    #: partly or wholly done already, so look them up by this id too.
    resumes: int | None = None
    #: The run that started this one through a hook (``then``, ``on_failure``, ``always``),
    #: else ``None``: ``{"id", "job", "state", "hook", "outputs", "summary", "error"}``,
    #: e.g. ``{"id": 41, "job": "import", "state": "failed", "hook": "on_failure",
    #: "outputs": [], "summary": None, "error": "..."}``.
    parent: dict[str, Any] | None = None
    #: When the run was due (a schedule's slot, a missed slot run late, a one-off's time), as
    #: a Unix time; ``None`` for runs started by hand, a file or a hook.
    scheduled_for: float | None = None
    #: A preview's plan this run carries out, and nothing else ("Apply this preview"):
    #: ``{"from_run": 12, "items": [{"path": ..., "size": ..., "mtime_ns": ...}]}``; an item
    #: changed since (another size or modification time) is skipped. ``None``: a normal run.
    plan: dict[str, Any] | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: float, total: float | None = None, message: str | None = None,
                 unit: str | None = None) -> None:
        """Report ``done`` of ``total`` (``None`` when unknown), in ``unit`` ("rows", "bytes", ...)."""
        self.sink({"t": "progress", "done": done, "total": total, "message": message,
                   "unit": unit, "ts": time.time()})

    def log(self, message: str, level: str = "info") -> None:
        """Add a line to the run's log (shown in the run details and ``trayjobs show``)."""
        self.sink({"t": "log", "message": str(message), "level": level, "ts": time.time()})

    def produced(self, paths: list[str | Path]) -> None:
        """Say which files this run wrote. Those in the job's own watched folder do not start
        the job again (a rename rule would otherwise chase its own renames)."""
        if paths:
            self.sink({"t": "produced", "paths": [os.fsdecode(p) for p in paths]})

    def secret(self, name: str) -> str:
        """The value of the stored secret ``name`` (``trayjobs secret set NAME``). Wherever
        the run then logs, prints or returns it, it shows as ``***``."""
        from .errors import JobFailed, UserError
        from .secrets import resolve_secret
        try:
            return resolve_secret(name)
        except UserError as exc:
            raise JobFailed(f"job {self.job!r}, secret {name!r}: {exc}", retry=False) from None

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`~trayjobs.errors.Cancelled` if the run was cancelled or timed out."""
        if self.cancel_event.is_set():
            raise Cancelled()
