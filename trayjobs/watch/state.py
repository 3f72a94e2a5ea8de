"""What the watch thread knows about one job's watch and the files it is waiting on."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import JobConfig
from ..kinds.registry import get_kind
from .match import Matcher, own_folders, watch_root

__all__ = ["Candidate", "Watch", "Version"]

#: A file version: (path, size, mtime_ns).
Version = tuple[str, int, int]


@dataclass
class Candidate:
    """A file that may be complete: its latest event, and what it looked like then."""
    last: float                          # monotonic time of its latest event (or scan)
    snap: tuple[int, int] | None = None  # (size, mtime_ns) at that time
    writing: bool = False                # written since it was last closed
    #: Whether it is open for writing is not known from events: it was found by a scan
    #: (already there when watching began), or the kernel dropped events since.
    unknown: bool = False
    due: float | None = None             # when its check is scheduled


class Watch:
    """One job's watch."""

    def __init__(self, job: JobConfig) -> None:
        self.job = job.name
        self.spec = job.common.watch
        self.key = str(watch_root(self.spec))
        self.excluded = own_folders(job)
        try:
            self.accepts_files = get_kind(job.kind).accepts_files
        except (KeyError, ImportError):
            self.accepts_files = False
        #: A config change that alters this replaces the watch (and looks at the folder anew).
        self.identity = (self.spec, tuple(self.excluded), job.kind)
        self.paused = False
        self.needs_scan = True
        self.matcher: Matcher | None = None
        self.cands: dict[str, Candidate] = {}
        self.ready: list[Version] = []  # complete, in the order they became so
        self.ready_since = 0.0
        self.held = False        # ready files wait for the job's run to end (overlap = "skip")
        self.flush_due = False   # a timer will look at the ready files again
        self.not_before = 0.0    # after a failed hand-over: when to try again

    def drop(self) -> None:
        """Forget every file: paused, removed, or its folder went away."""
        self.cands.clear()
        self.ready.clear()
        self.held = False
