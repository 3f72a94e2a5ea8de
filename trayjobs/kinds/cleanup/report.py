"""Counting what a run did and saying it in one line.

"trashed 1,204 files (3.2 GB), skipped 3 (in use), 0 errors" is what the
window and the CLI show; the lists behind it are capped so that a result
stays small enough to store with every run.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...durations import format_size

__all__ = ["Tally", "PLANNED_CAP", "plural"]

PLANNED_CAP = 10_000   # preview listing kept in the result (the job editor shows it)
DONE_CAP = 1_000       # listing of a real run
PROBLEM_CAP = 200      # errors listed by path, and as many skips


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


@dataclass
class Tally:
    noun: str = "file"
    scanned: int = 0
    acted: int = 0
    bytes: int = 0
    errors: int = 0
    folders_removed: int = 0
    archives: int = 0
    skipped: Counter = field(default_factory=Counter)
    listing: list[dict[str, Any]] = field(default_factory=list)
    listed_more: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    _listed: Counter = field(default_factory=Counter, repr=False)  # problems listed, by kind

    def add(self, path: str, action: str, dest: str | None, size: int, mtime: float, *, cap: int,
            count: bool = True, replaces: str | None = None,
            replaces_link: bool = False) -> dict[str, Any] | None:
        if count:
            self.acted += 1
            self.bytes += size
        if len(self.listing) >= cap:
            self.listed_more += 1
            return None
        entry = {"path": path, "action": action, "dest": dest, "size": size, "mtime": mtime}
        if replaces:
            entry["replaces"] = replaces
            if replaces_link:
                entry["replaces_link"] = True
        self.listing.append(entry)
        return entry

    def problem(self, path: str, kind: str, reason: str) -> None:
        if kind == "error":
            self.errors += 1
        else:
            self.skipped[reason] += 1
        # each kind has its own room: a thousand files skipped for being in use must not
        # crowd out the one error the person has to act on
        if self._listed[kind] < PROBLEM_CAP:
            self._listed[kind] += 1
            self.problems.append({"path": path, "kind": kind, "reason": reason})

    def line(self, entry: dict[str, Any]) -> str:
        """One preview line: ``trash  /path/file  (1.2 MB, 2024-01-01 10:00) -> dest``."""
        dest = f" -> {entry['dest']}" if entry.get("dest") else ""
        if entry.get("replaces_link"):
            dest += (" (replacing the symbolic link there, which goes to the trash; what it "
                     "points to is not touched)")
        elif entry.get("replaces"):
            dest += " (replacing what is there, which goes to the trash)"
        return f"{entry['action']}  {entry['path']}  ({format_size(entry['size'])}, {_when(entry['mtime'])}){dest}"

    def summary(self, *, done_verb: str, plan_verb: str, dry: bool) -> str:
        n_skipped = sum(self.skipped.values())
        if n_skipped:
            why = ", ".join(f"{n:,} {reason}" if len(self.skipped) > 1 else reason
                            for reason, n in self.skipped.most_common())
            skipped = f", {'would skip' if dry else 'skipped'} {n_skipped:,} ({why})"
        else:
            skipped = ""
        errors = plural(self.errors, "error")
        if self.acted == 0 and not n_skipped and not self.errors:
            return (f"{'preview: ' if dry else ''}nothing to do: no match among "
                    f"{plural(self.scanned, self.noun)} scanned, {errors}")
        if self.acted == 0 and not n_skipped:  # every match failed: never "nothing to do"
            return (f"{'preview: could not ' if dry else 'could not '}{plan_verb} anything: {errors} "
                    f"(see the log); {plural(self.scanned, self.noun)} scanned")
        what = f"{plural(self.acted, self.noun)} ({format_size(self.bytes)})"
        extra = ""
        if self.archives:
            extra += f" into {plural(self.archives, 'archive')}"
        if self.folders_removed:
            extra += f", {'would remove' if dry else 'removed'} {plural(self.folders_removed, 'emptied folder')}"
        if dry:
            return f"preview: would {plan_verb} {what}{extra}{skipped}, {errors}; nothing was touched"
        return f"{done_verb} {what}{extra}{skipped}, {errors}"
