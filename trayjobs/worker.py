"""``trayjobs worker``: the engine without a window (and without Qt)."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from .config import Config
from .engine.confwatch import ConfigFileWatch
from .engine.engine import Engine
from .engine.events import JobsChanged, Notice, RunChanged
from .firstrun import ensure_first_run
from .errors import UserError
from .instance import LOST_HOME, AlreadyRunning
from .paths import Home

__all__ = ["run_worker", "HOME_CHECK_INTERVAL"]

#: Seconds between looks at whether the worker's lock file (in the data folder) is still
#: there: a stat, next to nothing, and a deleted data folder is told within a second.
HOME_CHECK_INTERVAL = 1.0


def run_worker(home: Home, *, workers: int | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    # Two lines a run: what the format does not show is not gathered for each record (the
    # calling function's file and line, the thread's and process's names), the logging
    # HOWTO's "Optimization". A quarter of the worker's CPU per run went to its log lines.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.getLogger("huey").setLevel(logging.WARNING)
    # The pool's own line per failed connection, every second while a server is away:
    # the engine says it once, and again when it answers.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    log = logging.getLogger("trayjobs.worker")
    ensure_first_run(home)  # no jobs file yet: the example set-up (Inbox, Scratch, reports)
    engine = Engine(home, workers=workers, mode="worker")
    _log_config(log, engine.config, "read")

    def on_event(ev) -> None:
        if isinstance(ev, JobsChanged) and ev.reason == "config":
            _log_config(log, engine.config, "reloaded")
        elif isinstance(ev, RunChanged) and ev.run["state"] not in ("queued",) \
                and not ev.remote:
            r = ev.run
            log.info("run %s %s: %s%s", r["id"], r["job"], r["state"],
                     f" ({r['error']})" if r.get("error") and r["state"] != "succeeded" else "")
        elif isinstance(ev, Notice) and not ev.details.get("logged"):  # else logged there
            log.log(logging.ERROR if ev.level == "error" else logging.INFO, "%s", ev.message)

    engine.bus.subscribe(on_event)
    stop = threading.Event()

    def on_stop(*_) -> None:
        stop.set()
        engine.halt()  # a start still waiting for the history's server gives up

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_stop)
    try:
        engine.start()
    except AlreadyRunning as exc:
        log.error("%s", exc)
        return 1
    except UserError as exc:  # stopped while waiting for the store, say
        log.error("%s", exc)
        return 0 if stop.is_set() else 1
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: engine.reload_config())
    # The README promises that an edited jobs file is reloaded, as the app does.
    watch = ConfigFileWatch(home.config_file, engine.reload_config)
    watch.start()
    log.info("worker started for %s with %d worker(s); %d job(s)", home.data_dir,
             engine.workers, len(engine.config.jobs))
    code = 0
    while not stop.wait(HOME_CHECK_INTERVAL):
        # With the data folder deleted the worker would go on unseen: `trayjobs run` and
        # the app look for its lock there (a second worker could start), and its runs
        # would be written to files no one can open again. It says so and stops, rather than run on or
        # quietly start a history afresh under runs another process may now start.
        why = engine.lock.lost_why()
        if why:
            log.error("%s while this worker ran: %s Stopping; start `trayjobs worker` again to "
                      "go on (with a new, empty history if it was kept there)", why, LOST_HOME)
            code = 1
            break
        gone = engine.history_lost_why()
        if gone:
            log.error("%s Stopping; start `trayjobs worker` again to go on with the history "
                      "that is there now", gone)
            code = 1
            break
    log.info("stopping: running jobs get %.0f s to finish", engine.executor.grace)
    watch.stop()
    try:
        engine.stop()
    except Exception as exc:  # its files gone, the last writes may fail: stop all the same
        if not code:
            raise
        log.error("stopping: %s", exc)
    return code


def _log_config(log: logging.Logger, cfg: Config, done: str) -> None:
    jobs = f"{len(cfg.jobs)} job{'s' if len(cfg.jobs) != 1 else ''}"
    if cfg.kept_from is not None:
        log.error("config %s: %s", done, cfg.kept_note())
    elif cfg.unreadable:
        log.error("config %s: %s cannot be used, and there is no earlier good version; "
                  "no jobs until it is fixed", done, cfg.path)
    else:
        log.info("config %s: %s, %d problem(s)", done, jobs, len(cfg.errors))
    for err in cfg.errors:
        log.error("config: %s", err)
