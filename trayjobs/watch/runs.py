"""Handing a watch's ready files to runs of its job.

A kind that takes input files gets them in batches of up to ``BATCH`` per run ("37 files
arrived in ~/Inbox"); a kind without input files gets one run for any number of changes,
and no second one while that run is going: the changes it made itself start nothing. Each file version handed over is
recorded in the run store, so it never reaches a run again. A job with ``overlap =
"skip"`` gets one run at a time: the rest waits for it to end instead of being skipped.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from ..config import JobConfig
from ..errors import UserError
from ..textfmt import path_text
from .match import placed
from .state import Version, Watch

__all__ = ["submit_ready", "BATCH", "RETRY_SUBMIT"]

log = logging.getLogger(__name__)

BATCH = 100          # files handed to one run at most
RETRY_SUBMIT = 2.0   # after the run store failed to take a run, try again this much later


def submit_ready(engine: Any, w: Watch, *, whole: bool) -> bool:
    """Hand ``w``'s ready files to runs; unless ``whole``, a last part-filled batch stays to
    be filled by files about to be ready. False if the store failed (the files stay)."""
    store = engine.store
    job = engine.config.jobs.get(w.job)
    if job is None or not job.enabled or w.paused:
        w.ready.clear()
        return True
    # A kind without input files looks at the whole folder each run: while one is going,
    # what changes waits for its end, when the files the run wrote itself (ctx.produced)
    # are known and start nothing (a rename rule would otherwise chase its own renames).
    skip = job.overlap == "skip" or not w.accepts_files
    if skip and store.active_runs(job.name):
        w.held = True  # handed on when the running one ends
        return True
    take = len(w.ready) - (0 if whole or not w.accepts_files else len(w.ready) % BATCH)
    # A file gone or changed since it was ready (while a run held it back, say, a run that
    # renamed it) starts nothing: a change of it is an event of its own.
    versions = store.unseen_versions(job.name, [v for v in w.ready[:take] if _as_it_was(v)])
    del w.ready[:take]
    ok = True
    try:
        left = _hand_over(engine, w, job, versions, one_run=skip)
    except Exception:  # a busy or broken store: keep the files and try again in a while
        log.exception("watch of %s: could not start a run; trying again", job.name)
        left, ok = versions, False
        w.not_before = time.monotonic() + RETRY_SUBMIT
    if left:
        w.ready[:0] = left
        w.ready_since = time.monotonic()
    return ok


def _as_it_was(version: Version) -> bool:
    path, size, mtime_ns = version
    try:
        st = os.lstat(path)  # a file replaced by a link since is not as it was
    except (OSError, ValueError):
        return False
    return st.st_size == size and st.st_mtime_ns == mtime_ns and placed(path)


def _hand_over(engine: Any, w: Watch, job: JobConfig, versions: list[Version], *,
               one_run: bool) -> list[Version]:
    """Start runs for ``versions`` and record them; returns the versions left over."""
    store = engine.store
    folder = w.spec.folder
    while versions:
        if w.accepts_files:
            chunk = versions[:BATCH]
            files = [p for p, _, _ in chunk]
            note = (f"{path_text(os.path.basename(files[0]))} arrived in {folder}"
                    if len(files) == 1
                    else f"{len(files)} files arrived in {folder}")
            run_id = None
        else:  # a kind without input files: one waiting run covers every change
            chunk, files = versions, None
            note = f"files changed in {folder}"
            run_id = store.waiting_run(job.name, trigger="watch")
        if run_id is None:
            try:
                run_id = engine.submit(job.name, trigger="watch", files=files, note=note)
            except UserError as exc:  # removed or changed meanwhile
                log.warning("watch of %s: %s", job.name, exc)
                return []
            if store.get_run(run_id)["state"] == "skipped":
                w.held = True  # a run started meanwhile: wait for it to end
                return versions
        store.record_versions(job.name, run_id, chunk)
        versions = versions[len(chunk):]
        if one_run and versions:
            w.held = True
            return versions
    return []
