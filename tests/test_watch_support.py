"""Helpers shared by the watched-folder tests: a real engine, and waiting on its events."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from trayjobs.engine.events import RunChanged, WatchChanged
from trayjobs.store import FINAL_STATES


class Events:
    """Keeps the engine's run and watch events; ``wait`` re-checks a condition on each one."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.cond = threading.Condition()
        self.runs: dict[int, dict[str, Any]] = {}
        self.watch: list[WatchChanged] = []
        self.most_in_queue = 0  # the most runs handed to the queue (or running) at one time
        engine.bus.subscribe(self._on)

    def _on(self, ev) -> None:
        if isinstance(ev, RunChanged):
            n = self.engine.store._query(
                "SELECT count(*) AS n FROM runs WHERE state = 'running' OR"
                " (state = 'queued' AND dispatched = 1)")[0]["n"]
            with self.cond:
                self.runs[ev.run["id"]] = ev.run
                self.most_in_queue = max(self.most_in_queue, n)
                self.cond.notify_all()
        elif isinstance(ev, WatchChanged):
            with self.cond:
                self.watch.append(ev)
                self.cond.notify_all()

    def wait(self, pred: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = pred()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"not within {timeout} s: {what or pred}; watch status "
                                         f"{self.engine.watch_status()}, runs {self.summary()}")
                self.cond.wait(min(left, 0.5))

    def summary(self) -> list[tuple]:
        return [(r["id"], r["job"], r["state"], files_of(r)[:5])
                for r in self.engine.store.list_runs(limit=10)]

    # -- common waits ------------------------------------------------------------------

    def state(self, job: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        return self.wait(lambda: (s := self.engine.watch_status().get(job)) and
                         s["state"] == state and s, timeout, f"{job} {state}")

    def finished(self, job: str, n: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until ``job`` has ``n`` ended runs; returns them, oldest first."""
        def ended():
            runs = [r for r in self.engine.store.list_runs(job=job, limit=10_000)
                    if r["state"] in FINAL_STATES]
            return sorted(runs, key=lambda r: r["id"]) if len(runs) >= n else None
        return self.wait(ended, timeout, f"{n} ended runs of {job}")

    def settled(self, job: str, timeout: float = 10.0) -> None:
        """Wait until the watch has nothing pending and no run of the job is active."""
        self.wait(lambda: self.engine.watch_status()[job]["pending"] == 0
                  and not self.engine.store.active_runs(job), timeout, f"{job} settled")


def start(make_engine, config: str, **kw) -> tuple[Any, Events]:
    """A started engine whose events are recorded from the very start."""
    eng = make_engine(config, start=False, **kw)
    ev = Events(eng)
    eng.start()
    return eng, ev


def runs_of(eng, job: str) -> list[dict[str, Any]]:
    return sorted(eng.store.list_runs(job=job, limit=100_000), key=lambda r: r["id"])


def files_of(run: dict[str, Any]) -> list[str]:
    return [Path(f).name for f in (run.get("inputs") or {}).get("files") or []]


def csv(path: Path, rows: int = 2, tag: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = tag or path.stem
    path.write_text("id,name\n" + "".join(f"{i},{tag}-{i}\n" for i in range(rows)),
                    encoding="utf-8")
    return path


def import_job(name: str, folder: Path, *, settle: str = "0.3s", extra: str = "",
               patterns: str = '["*.csv"]', watch_extra: str = "") -> str:
    """An import job watching ``folder``; ``extra`` is one more line of its table."""
    return f"""
        [jobs.{name}]
        kind = "import"
        table = "{name}"
        retry = {{ attempts = 1 }}
        watch = {{ folder = '{folder}', patterns = {patterns}, settle = "{settle}"{watch_extra} }}
        {extra}
    """
