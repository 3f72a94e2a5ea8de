"""Watched folders: files that arrive, once complete, become runs of the job watching them.

A file is a *candidate* when it is created, moved in (the destination path), written or
closed after writing; it is *ready* once it has been quiet for the watch's ``settle`` time
with its size and mtime unchanged (and, where the system reports closes, no longer open
for writing). A file found by a scan (there before watching began) or whose events the
kernel dropped has no close to wait for: it waits while a process has it open for writing
(:mod:`.writers`), so a download stalled across a restart is not taken half-written.
Ready files of a job are handed to runs in batches of up to ``BATCH``, in the order they
became ready; the run store remembers each file version (path, size, mtime)
handed to a run, so a repeated event, a rescan or a restart never runs it twice.

All of this state belongs to one thread, the *watch thread*: watchdog's threads, the bus
and the engine only post messages to it, and it sleeps until a message comes or the
earliest check is due (a heap of due times; no per-file timers, no polling). ``status()``
reads a snapshot the thread replaces, so the window never waits on a folder.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import StoreBusy
from ..engine.events import RunChanged, WatchChanged
from ..engine.lease import this_host
from ..store import FINAL_STATES
from ..textfmt import path_text
from .match import Matcher, placed
from .runs import BATCH, RETRY_SUBMIT, submit_ready
from .state import Candidate, Watch
from .writers import open_for_writing

if TYPE_CHECKING:  # watchdog is imported when a folder is first watched
    from .folder import Folder

__all__ = ["WatchManager"]

log = logging.getLogger(__name__)

LINGER = 0.05         # a ready file waits this long for others about to be ready with it ...
MAX_LINGER = 0.5      # ... but never longer than this in all
RETRY_EVERY = 30.0    # unavailable folders are tried again (and watched ones checked) this often
#: A changed count of files waiting is told at most this often (an unzip of thousands
#: would otherwise tell, and write to the store, once per file).
COUNT_EVERY = 1.0
MAX_OPEN_WAIT = 300.0  # a file still open for writing, unchanged this long, counts as complete
#: A browser keeps a download's final name with an empty file while it writes NAME.part
#: (Firefox) or NAME.crdownload (Chrome), then renames that over it; aria2 (uGet, Motrix)
#: writes into NAME itself and keeps NAME.aria2 beside it until the download is complete,
#: paused and stopped ones too: NAME is not complete while one of these is beside it.
DOWNLOADING = (".part", ".crdownload", ".partial", ".download", ".aria2")
_EPS = 0.001


def _readable(path: str) -> bool:
    try:
        with os.scandir(path):
            return True
    except OSError:
        return False


class WatchManager:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._cond = threading.Condition()
        self._inbox: list[tuple[Any, ...]] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._unsubscribe = None
        # Owned by the watch thread:
        self._watches: dict[str, Watch] = {}
        self._folders: dict[str, Folder] = {}
        self._checks: list[tuple[float, int, str, str]] = []  # (due, seq, job, path)
        self._timers: list[tuple[float, int, str, str]] = []  # (due, seq, what, folder key)
        self._seq = itertools.count()
        self._published: dict[str, tuple[Any, ...]] = {}
        self._count_told: dict[str, float] = {}  # job -> when its count was last told
        self._count_due: set[str] = set()          # jobs with a "publish" timer set
        #: Of the files asked about in this pass: (asked, those open for writing, or None
        #: where the system cannot tell); None until asked.
        self._writers: tuple[set[str], set[str] | None] | None = None
        # Replaced whole by the watch thread; read by anyone.
        self._status: dict[str, dict[str, Any]] = {}

    # -- any thread ----------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._status = {j.name: {"state": "starting", "folder": j.common.watch.folder,
                                 "reason": None, "pending": 0}
                        for j in self.engine.config.jobs.values()
                        if j.enabled and j.common.watch is not None and self._here(j)}
        self._unsubscribe = self.engine.bus.subscribe(self._on_bus)
        self._post(("reconfigure",))
        self._thread = threading.Thread(target=self._loop, name="trayjobs-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching. Files not yet handed to a run are found again by the next start."""
        if self._thread is None:
            return  # never started here (the status rows may be another process's)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the watch thread did not stop within %.0f s", timeout)
        self._thread = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for folder in self._folders.values():
            folder.close("idle")
        # Only the rows of its own watches: in a cluster the store is shared, and a job
        # pinned to another host has that host's row.
        mine = set(self._watches) | set(self._published)
        self._folders.clear()
        self._watches.clear()
        self._checks.clear()
        self._timers.clear()
        self._inbox.clear()
        self._status = {}
        self._published.clear()
        self._count_told.clear()
        self._count_due.clear()
        try:
            for job in sorted(mine):
                self.engine.store.clear_watch_status(job)
        except StoreBusy as exc:  # locked, away or full: said already, as the engine's
            log.warning("could not clear the watch status: %s", exc)
        except Exception:
            log.exception("could not clear the watch status")

    def reconfigure(self) -> None:
        """Add, replace and remove watches after the config changed."""
        if self._thread is not None:
            self._post(("reconfigure",))

    def on_paused_changed(self) -> None:
        """A job (or everything) was paused or resumed; resuming looks for files that came."""
        if self._thread is not None:
            self._post(("paused",))

    def status(self) -> dict[str, dict[str, Any]]:
        """Per watching job: ``state`` (starting, watching, paused, unavailable), ``folder`` (as
        configured), ``reason`` (why it is unavailable) and ``pending`` (files settling)."""
        return {job: dict(s) for job, s in self._status.items()}

    def _post(self, msg: tuple[Any, ...]) -> None:
        with self._cond:
            self._inbox.append(msg)
            self._cond.notify()

    def _on_bus(self, ev: Any) -> None:
        # Any run of the job that ended, wherever: one cancelled by `trayjobs cancel` while
        # it waited for its next attempt comes from another process (remote, and not final
        # for this engine when it was its own), and files held back for it would otherwise
        # wait for ever. A hold let go too soon is taken again (the store says what runs).
        if (isinstance(ev, RunChanged) and (ev.final or ev.run.get("state") in FINAL_STATES)
                and ev.run.get("job") in self._status):
            self._post(("ended", ev.run["job"], (ev.run.get("inputs") or {}).get("files") or []))

    # -- the watch thread ----------------------------------------------------------------

    def _loop(self) -> None:
        self._timer(RETRY_EVERY, "folders", "")
        while True:
            with self._cond:
                while not self._inbox and not self._stopping:
                    due = min(self._checks[0][0] if self._checks else float("inf"),
                              self._timers[0][0] if self._timers else float("inf"))
                    left = due - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(None if left == float("inf") else left)
                if self._stopping:
                    return
                inbox, self._inbox = self._inbox, []
            for msg in inbox:
                self._safely(self._handle, msg)
            self._safely(self._run_due)
            self._safely(self._sync_folders)
            self._safely(self._flush_ready)
            self._safely(self._publish)

    def _safely(self, fn, *args) -> None:
        try:
            fn(*args)
        except Exception:  # one bad folder or a busy store must not end watching
            log.exception("watching folders: %s failed", getattr(fn, "__name__", fn))

    def _handle(self, msg: tuple[Any, ...]) -> None:
        what = msg[0]
        if what == "fs":
            self._on_fs(*msg[1:])
        elif what == "parent":
            self._check_folder(msg[1])
        elif what == "reconfigure":
            self._reconfigure()
        elif what == "paused":
            self._apply_paused()
        elif what == "ended":
            w = self._watches.get(msg[1])
            if w is not None:
                w.held = False
                self._forget_gone(w, msg[2])

    def _forget_gone(self, w: Watch, files: list[str]) -> None:
        """The run's files it moved away (to processed/, failed/) are forgotten, as a scan
        would: the same file brought back, or another with its name, size and time, is a
        new arrival, not a version already handled."""
        gone = [p for p in files if isinstance(p, str) and not os.path.lexists(p)]
        if gone:
            self.engine.store.forget_paths(w.job, gone)

    def _timer(self, delay: float, what: str, key: str) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), what, key))

    def _schedule(self, w: Watch, path: str, c: Candidate, due: float) -> None:
        c.due = due
        heapq.heappush(self._checks, (due, next(self._seq), w.job, path))

    # -- configuration, pause, folders ------------------------------------------------------

    def _reconfigure(self) -> None:
        wanted = {j.name: j for j in self.engine.config.jobs.values()
                  if j.enabled and j.common.watch is not None and self._here(j)}
        for name, w in list(self._watches.items()):
            job = wanted.get(name)
            if job is None or Watch(job).identity != w.identity:
                self._remove(w)
        for name, job in wanted.items():
            if name not in self._watches:
                w = self._watches[name] = Watch(job)
                folder = self._folders.get(w.key)
                if folder is None:
                    from .folder import Folder
                    folder = self._folders[w.key] = Folder(w.key, self._post)
                folder.jobs.add(name)
                folder.allow_dangerous = all(self._watches[j].spec.allow_dangerous_location
                                             for j in folder.jobs)
                if folder.state == "watching":
                    w.matcher = Matcher(folder.real, w.spec, w.excluded, text_only=w.accepts_files)
        self._apply_paused()

    def _here(self, job: Any) -> bool:
        """In a cluster, a job pinned to a host (``host``) is watched on that host only: its
        files are there, and each machine watching a folder of that name would hand its
        own files to runs on the host (one shared folder: every file twice)."""
        return (job.host is None or not getattr(self.engine, "clustered", False)
                or job.host == this_host())

    def _remove(self, w: Watch) -> None:
        del self._watches[w.job]
        w.drop()
        folder = self._folders.get(w.key)
        if folder is not None:
            folder.jobs.discard(w.job)
            if not folder.jobs:
                folder.close("idle")
                del self._folders[w.key]
            else:
                folder.allow_dangerous = all(self._watches[j].spec.allow_dangerous_location
                                             for j in folder.jobs)
        self._published.pop(w.job, None)
        self.engine.store.clear_watch_status(w.job)

    def _apply_paused(self) -> None:
        all_paused = self.engine.paused()
        states = self.engine.store.job_states()
        for w in self._watches.values():
            paused = all_paused or bool(states.get(w.job, {}).get("paused"))
            if paused and not w.paused:
                w.drop()  # what arrives meanwhile is found by the scan on resume
            elif w.paused and not paused:
                w.needs_scan = True
            w.paused = paused
        for key, folder in self._folders.items():  # a resume or a new config: try again now
            if folder.state == "unavailable":
                self._check_folder(key)

    def _sync_folders(self) -> None:
        """Open folders some active watch needs, close those none does, scan where due."""
        for folder in self._folders.values():
            active = [self._watches[j] for j in sorted(folder.jobs) if not self._watches[j].paused]
            if not active:
                if folder.state != "idle":
                    folder.close("idle")
                continue
            recursive = any(w.spec.recursive for w in active)
            if folder.state in ("starting", "idle") or folder.recursive != recursive:
                folder.recursive = recursive
                self._open(folder)
            if folder.state != "watching":
                continue
            for w in active:
                if w.needs_scan:
                    w.needs_scan = False
                    self._scan(w, folder)

    def _open(self, folder: Folder) -> None:
        ok = folder.open()
        for job in folder.jobs:
            w = self._watches[job]
            if ok:
                w.matcher = Matcher(folder.real, w.spec, w.excluded, text_only=w.accepts_files)
                w.needs_scan = True
            else:
                w.matcher = None
                w.cands.clear()

    def _check_folder(self, key: str) -> None:
        folder = self._folders.get(key)
        if folder is None or folder.state == "idle":
            return
        if folder.state == "unavailable" or not folder.healthy():
            self._open(folder)

    def _look_again_below(self, key: str) -> None:
        """A sub-folder that could not be read and now can: watch the folder anew, so that
        its files are taken and it is watched too (it gives no event when it opens up)."""
        folder = self._folders.get(key)
        if folder is None or folder.state != "watching":
            return
        for job in folder.jobs:
            m = self._watches[job].matcher
            if m is not None and any(_readable(p) for p in m.unreadable):
                self._open(folder)
                return

    def _scan(self, w: Watch, folder: Folder) -> None:
        """Every matching file not handed to a run yet becomes a candidate (settle still
        applies); versions of files no longer there are forgotten."""
        found = []
        before = w.matcher.unreadable
        try:
            for path, st in w.matcher.scan():
                found.append((path, st.st_size, st.st_mtime_ns))
        except OSError:
            self._check_folder(folder.key)
            return
        for path, why in sorted(w.matcher.unreadable.items()):
            if path not in before:
                log.warning("watch of %s: the sub-folder %s cannot be read (%s); files in it are "
                            "taken once it can be", w.job, path_text(path), why.lower())
        store = self.engine.store
        if found and not w.matcher.unreadable:
            # A folder found empty forgets nothing: it may be the mount point of a drive or
            # share not mounted (yet), whose files, handled already, come back with it. Nor
            # does a look that could not read a sub-folder: its files are not gone.
            store.forget_versions(w.job, folder.real, {p for p, _, _ in found})
        now = time.monotonic()
        for path, size, mtime in store.unseen_versions(w.job, found):
            if path not in w.cands:
                c = w.cands[path] = Candidate(last=now, snap=(size, mtime),
                                              unknown=True)
                self._schedule(w, path, c, now + w.spec.settle)

    # -- file events and settle checks ------------------------------------------------------

    def _on_fs(self, key: str, kind: str, is_dir: bool, src: str, dest: str, t: float) -> None:
        folder = self._folders.get(key)
        if folder is None or folder.state != "watching":
            return
        if kind == "overflow":  # the kernel dropped events: whatever came is found by a scan
            log.warning("watched folder %s: more changed at once than the system could report; "
                        "looking at the whole folder again", folder.key)
            for job in folder.jobs:
                w = self._watches[job]
                w.needs_scan = True
                for c in w.cands.values():  # their closes may be among what was dropped
                    c.writing, c.unknown = False, True
            return
        if kind == "limit":  # a new sub-folder could not be watched: say why, and keep trying
            self._open(folder)
            return
        if is_dir:
            if kind in ("deleted", "moved") and src == folder.real:
                self._check_folder(key)
            return
        watches = [self._watches[j] for j in folder.jobs
                   if not self._watches[j].paused and self._watches[j].matcher is not None]
        if kind in ("deleted", "moved"):
            for w in watches:
                w.cands.pop(src, None)
            if kind == "deleted":
                return
        path = dest if kind == "moved" else src
        st: os.stat_result | None = None
        for w in watches:
            if not w.matcher.wants(path):
                continue
            if st is None:
                try:
                    st = os.lstat(path)
                except OSError:
                    st = None
                if st is None:  # gone meanwhile
                    for other in watches:
                        other.cands.pop(path, None)
                    return
            if not w.matcher.takes(path, st):  # a pipe, a folder; a link, for some kinds
                w.cands.pop(path, None)
                continue
            c = w.cands.get(path)
            if c is None:
                c = w.cands[path] = Candidate(last=t)
            c.last = max(c.last, t)
            c.snap = (st.st_size, st.st_mtime_ns)
            # Written, or made empty: a downloader makes the file when the server answers,
            # and the data may be a stall away. (An empty file renamed in gives no close:
            # it waits MAX_OPEN_WAIT, which only empty ones do.)
            if folder.reports_close and (kind == "modified"
                                         or (kind == "created" and st.st_size == 0)):
                c.writing = True
            elif kind == "closed":
                c.writing = False
            due = c.last + w.spec.settle
            if c.due is None or c.due > due + _EPS:
                self._schedule(w, path, c, due)

    def _run_due(self) -> None:
        now = time.monotonic()
        self._writers = None  # asked afresh in each pass
        while self._checks and self._checks[0][0] <= now:
            due, _, job, path = heapq.heappop(self._checks)
            w = self._watches.get(job)
            c = w.cands.get(path) if w is not None else None
            if c is not None and c.due == due:
                c.due = None
                self._check(w, path, c, now)
        while self._timers and self._timers[0][0] <= now:
            _, _, what, key = heapq.heappop(self._timers)
            if what == "folders":
                for k in list(self._folders):
                    self._check_folder(k)
                    self._look_again_below(k)
                for w in self._watches.values():
                    # Held for a run whose end may never be told here (the word from the
                    # process that ended it was lost): the hand-over asks the store again.
                    if w.held and w.ready:
                        w.held = False
                self._timer(RETRY_EVERY, "folders", "")
            elif what == "publish":
                self._count_due.discard(key)  # _publish tells the count next
            elif what == "flush" and key in self._watches:
                self._watches[key].flush_due = False  # _flush_ready looks at it next

    def _check(self, w: Watch, path: str, c: Candidate, now: float) -> None:
        settle = w.spec.settle
        if now + _EPS < c.last + settle:
            self._schedule(w, path, c, c.last + settle)
            return
        try:
            st = os.lstat(path)
        except OSError:
            st = None
        if st is None or not w.matcher.takes(path, st) or not placed(path):
            del w.cands[path]
            return
        snap = (st.st_size, st.st_mtime_ns)
        if snap != c.snap:  # changed without an event we saw: quiet from now on
            c.snap, c.last = snap, now
            self._schedule(w, path, c, now + settle)
            return
        # The wait for a file open for writing counts from its last change, not its first:
        # a long copy that stalls past five minutes in is still being written.
        if c.writing and now - c.last < MAX_OPEN_WAIT:
            # Still open for writing (a download that stalled): its close comes as an event.
            self._schedule(w, path, c, min(now + max(settle, 1.0), c.last + MAX_OPEN_WAIT))
            return
        if any(os.path.lexists(path + suffix) for suffix in DOWNLOADING):
            self._schedule(w, path, c, now + max(settle, 1.0))  # its rename comes as an event
            return
        if c.unknown and now - c.last < MAX_OPEN_WAIT and self._open_for_writing(path):
            # No close to wait for (see the module): ask again in a while.
            self._schedule(w, path, c, min(now + max(settle, 1.0), c.last + MAX_OPEN_WAIT))
            return
        del w.cands[path]
        if not w.ready:
            w.ready_since = now
        w.ready.append((path, *snap))

    def _open_for_writing(self, path: str) -> bool:
        """Does a process have the file at ``path`` open for writing? Asked once per pass
        for every file whose closes are unknown."""
        if self._writers is None or path not in self._writers[0]:
            asked = {p for w in self._watches.values() for p, c in w.cands.items()
                     if c.unknown} | {path}
            self._writers = (asked, open_for_writing(asked))
        found = self._writers[1]
        return found is not None and path in found

    # -- handing ready files to runs --------------------------------------------------------

    def _flush_ready(self) -> None:
        now = time.monotonic()
        while self._checks:  # forget checks of files that are gone or were rescheduled
            due, _, job, path = self._checks[0]
            c = self._watches[job].cands.get(path) if job in self._watches else None
            if c is not None and c.due == due:
                break
            heapq.heappop(self._checks)
        soon = bool(self._checks) and self._checks[0][0] <= now + LINGER
        for w in self._watches.values():
            if not w.ready or w.held or now < w.not_before:
                continue
            if not soon or now - w.ready_since >= MAX_LINGER:
                self._submit(w, whole=True)
            elif len(w.ready) >= BATCH:
                self._submit(w, whole=False)
            elif not w.flush_due:  # more files are about to be ready: let them join this run
                w.flush_due = True
                self._timer(min(LINGER, w.ready_since + MAX_LINGER - now), "flush", w.job)

    def _submit(self, w: Watch, *, whole: bool) -> None:
        if not submit_ready(self.engine, w, whole=whole):
            self._timer(RETRY_SUBMIT, "flush", w.job)

    # -- status ------------------------------------------------------------------------

    def _publish(self) -> None:
        snapshot = {}
        for w in self._watches.values():
            folder = self._folders.get(w.key)
            state = "paused" if w.paused else (folder.state if folder else "starting")
            reason = folder.reason if folder is not None and state == "unavailable" else None
            pending = len(w.cands) + len(w.ready)
            snapshot[w.job] = {"state": state, "folder": w.spec.folder, "reason": reason,
                               "pending": pending}
            shown = (state, reason, w.spec.folder)
            before = self._published.get(w.job)
            if before is not None and before[:3] == shown and bool(before[3]) == bool(pending):
                if before[3] == pending:
                    continue
                # Only the count changed: told too, so that "1 file waiting" does not stay
                # while a copy brings the rest, but not more often than COUNT_EVERY.
                wait = self._count_told.get(w.job, 0.0) + COUNT_EVERY - time.monotonic()
                if wait > 0:
                    if w.job not in self._count_due:
                        self._count_due.add(w.job)
                        self._timer(wait, "publish", w.job)
                    continue
            self._count_told[w.job] = time.monotonic()
            self._published[w.job] = (*shown, pending)
            self.engine.store.set_watch_status(w.job, state=state, folder=w.spec.folder,
                                               reason=reason, pending=pending, pid=os.getpid())
            self._status = {**self._status, w.job: snapshot[w.job]}
            self.engine.bus.emit(WatchChanged(w.job, state, w.spec.folder, reason, pending))
            if before is None or before[:3] != shown:
                log.log(logging.WARNING if reason else logging.INFO, "watch of %s: %s %s%s",
                        w.job, state, w.spec.folder, f" ({reason})" if reason else "")
        self._status = snapshot
